#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance) against
# examples/conformance.rs, in two legs, and fails on any result that the leg's expected-failures
# file does not predict:
#
# - 2025-11-25: suite 0.1.16, every client scenario it lists, with expected-failures.yml;
# - 2026-07-28: suite 0.2.0-alpha.12, every client scenario it lists for
#   `--spec-version 2026-07-28`, with expected-failures-2026.yml.
#
# Each scenario runs on its own. Installs the pinned tools (both suites and the Node 22 they
# need) under conformance/node_modules/ with `npm ci`; results go to conformance/results/LEG/
# (one directory per scenario: checks.json, stdout.txt, stderr.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
dir="$root/conformance"

started=$SECONDS
npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
node="$dir/node_modules/.bin/node"
# The suite needs Node >= 22 (on Node 20 it dies importing `globSync`); put the pinned one first.
export PATH="$dir/node_modules/.bin:$PATH"
case "$("$node" --version)" in
v2[2-9].* | v[3-9][0-9].*) ;;
*)
    echo "conformance: $node is $("$node" --version), need Node >= 22" >&2
    exit 1
    ;;
esac
echo "conformance: installed Node $("$node" --version) in $((SECONDS - started)) s"

# A debug build reuses what `cargo test` built; the scenarios have no tight timings.
cargo build --example conformance
client="$(cargo metadata --format-version 1 --no-deps | "$node" -e \
    'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))')/debug/examples/conformance"
[ -x "$client" ] || {
    echo "conformance: no client binary at $client" >&2
    exit 1
}

rm -rf "$dir/results"
failed=0

# leg NAME CLI EXPECTED REQUIRED [SUITE OPTIONS...]: every client scenario the suite at CLI
# lists (with the options), one at a time: run together (`--suite all`), 26 clients on a
# 2-core machine make the timing checks (sse-retry's reconnect delay) fail.
leg() {
    local name="$1" cli="$2" expected="$3" required="$4"
    shift 4
    local out="$dir/results/$name"
    mkdir -p "$out"
    local scenarios
    mapfile -t scenarios < <("$node" "$cli" list --client "$@" | sed -n 's/^  - \([^ ]*\).*/\1/p')
    echo "conformance $name: suite $("$node" "$cli" --version), ${#scenarios[@]} scenarios"
    echo "Running all suite (${#scenarios[@]} scenarios), one at a time" >"$out/suite.log"
    local started=$SECONDS status=0 scenario
    for scenario in "${scenarios[@]}"; do
        # The tool splits --command on spaces and hands it to a shell, so a quoted path survives.
        "$node" "$cli" client --command "$(printf '%q' "$client")" --scenario "$scenario" "$@" \
            --expected-failures "$expected" -o "$out" >>"$out/suite.log" 2>&1 || status=$?
    done
    echo "conformance $name: ${#scenarios[@]} scenarios ran in $((SECONDS - started)) s, exit $status (full log: $out/suite.log)"
    local checked=0
    "$node" "$dir/check.mjs" "$out" "$expected" "$out/suite.log" "$required" || checked=$?
    if [ "$status" -ne 0 ] || [ "$checked" -ne 0 ]; then
        echo "conformance $name: FAILED (suite exit $status, result check exit $checked)" >&2
        failed=1
    fi
}

leg 2025-11-25 "$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js" \
    "$dir/expected-failures.yml" "initialize,tools_call,elicitation-sep1034-client-defaults,sse-retry"
leg 2026-07-28 "$dir/node_modules/conformance-2026/dist/index.js" \
    "$dir/expected-failures-2026.yml" \
    "tools_call,sep-2322-client-request-state,json-schema-2020-12-preservation,http-custom-headers,http-invalid-tool-headers" \
    --spec-version 2026-07-28

exit "$failed"
