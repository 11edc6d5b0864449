#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance, every client
# scenario it lists, one at a time) against examples/conformance.rs and fails on any result that
# conformance/expected-failures.yml does not predict. Installs its pinned tools (the suite and
# the Node 22 it needs) under conformance/node_modules/ with `npm ci`; results go to
# conformance/results/ (one directory per scenario: checks.json, stdout.txt, stderr.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
dir="$root/conformance"
out="$dir/results"
expected="$dir/expected-failures.yml"

started=$SECONDS
npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
node="$dir/node_modules/.bin/node"
cli="$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
# The suite needs Node >= 22 (on Node 20 it dies importing `globSync`); put the pinned one first.
export PATH="$dir/node_modules/.bin:$PATH"
case "$("$node" --version)" in
v2[2-9].* | v[3-9][0-9].*) ;;
*)
    echo "conformance: $node is $("$node" --version), need Node >= 22" >&2
    exit 1
    ;;
esac
echo "conformance: installed suite $("$node" "$cli" --version) and Node $("$node" --version) in $((SECONDS - started)) s"

# A debug build reuses what `cargo test` built; the scenarios have no tight timings.
cargo build --example conformance
client="$(cargo metadata --format-version 1 --no-deps | "$node" -e \
    'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))')/debug/examples/conformance"
[ -x "$client" ] || {
    echo "conformance: no client binary at $client" >&2
    exit 1
}

rm -rf "$out"
mkdir -p "$out"
started=$SECONDS
status=0
# Every client scenario the pinned suite lists, one at a time: run together (`--suite all`),
# 26 clients on a 2-core machine make the timing checks (sse-retry's reconnect delay) fail.
mapfile -t scenarios < <("$node" "$cli" list --client | sed -n 's/^  - \([^ ]*\).*/\1/p')
echo "Running all suite (${#scenarios[@]} scenarios), one at a time" >"$out/suite.log"
for scenario in "${scenarios[@]}"; do
    # The tool splits --command on spaces and hands it to a shell, so a quoted path survives.
    "$node" "$cli" client --command "$(printf '%q' "$client")" --scenario "$scenario" \
        --expected-failures "$expected" -o "$out" >>"$out/suite.log" 2>&1 || status=$?
done
echo "conformance: ${#scenarios[@]} scenarios ran in $((SECONDS - started)) s, exit $status (full log: $out/suite.log)"

checked=0
"$node" "$dir/check.mjs" "$out" "$expected" "$out/suite.log" || checked=$?
if [ "$status" -ne 0 ] || [ "$checked" -ne 0 ]; then
    echo "conformance: FAILED (suite exit $status, result check exit $checked)" >&2
    exit 1
fi
