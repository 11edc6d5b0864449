// Reads the result files of one `conformance client --suite ... -o DIR` run and fails unless
// they tell the same story as the expected-failures file. The tool's own exit code already
// covers unexpected failures and listed scenarios that now pass; this also catches what it
// does not: a scenario whose results are missing, a scenario that ran no check at all (the
// `initialize` scenario "passes" with zero checks when the client never connects), a listed
// entry that is no scenario of the run, a required scenario that is listed or did not pass,
// and a required scenario whose client did not finish its own steps.
//
// Usage: node check.mjs RESULTS_DIR EXPECTED_FAILURES_YML SUITE_LOG [REQUIRED]
//
// REQUIRED is a comma-separated list of scenarios that must run, pass, and never be listed as
// expected failures (none when empty or missing).

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import YAML from 'yaml';

const [resultsDir, expectedFile, suiteLog, required = ''] = process.argv.slice(2);
const REQUIRED = required.split(',').filter((scenario) => scenario !== '');
const problems = [];

const expected = YAML.parse(readFileSync(expectedFile, 'utf8'))?.client ?? [];
const expectedSet = new Set(expected.map(String));
if (expectedSet.size !== expected.length) problems.push(`${expectedFile} lists a scenario twice`);

function checksFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return checksFiles(path);
    return name === 'checks.json' ? [path] : [];
  });
}

// RESULTS_DIR/<scenario>-<timestamp>/checks.json; auth scenarios sit under RESULTS_DIR/auth/.
const results = new Map();
for (const file of checksFiles(resultsDir)) {
  const dir = relative(resultsDir, join(file, '..'));
  const scenario = dir.replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
  if (results.has(scenario)) problems.push(`two result directories for \`${scenario}\``);
  const checks = JSON.parse(readFileSync(file, 'utf8'));
  const count = (status) => checks.filter((check) => check.status === status).length;
  const stderr = readFileSync(join(file, '..', 'stderr.txt'), 'utf8');
  results.set(scenario, {
    passed: count('SUCCESS'),
    failed: count('FAILURE'),
    warnings: count('WARNING'),
    checks,
    stderr,
  });
}

// run.sh announces "Running all suite (N scenarios)": every one must have left results.
const announced = readFileSync(suiteLog, 'utf8').match(/Running \S+ suite \((\d+) scenarios\)/);
if (!announced) problems.push(`${suiteLog} does not say how many scenarios the suite ran`);
else if (Number(announced[1]) !== results.size) {
  problems.push(`the suite ran ${announced[1]} scenarios but ${results.size} left results`);
}

const rows = [];
for (const [scenario, r] of [...results].sort(([a], [b]) => a.localeCompare(b))) {
  const ok = r.failed === 0 && r.warnings === 0;
  const listed = expectedSet.has(scenario);
  let verdict = ok ? 'pass' : 'FAIL';
  if (r.passed + r.failed === 0) {
    verdict = 'FAIL (no checks ran)';
    problems.push(`\`${scenario}\` ran no pass/fail check: did the client connect?`);
  } else if (!ok && listed) verdict = 'expected failure';
  else if (!ok) problems.push(`\`${scenario}\` failed and is not listed in ${expectedFile}`);
  else if (listed) problems.push(`\`${scenario}\` passes: remove it from ${expectedFile}`);
  rows.push(`  ${verdict.padEnd(22)} ${scenario}  (${r.passed} passed, ${r.failed} failed, ${r.warnings} warnings)`);
}

for (const scenario of expectedSet) {
  if (!results.has(scenario)) problems.push(`${expectedFile} lists \`${scenario}\`, which did not run: remove it`);
}

for (const scenario of REQUIRED) {
  const r = results.get(scenario);
  if (expectedSet.has(scenario)) problems.push(`\`${scenario}\` must pass: it may not be listed in ${expectedFile}`);
  if (!r) {
    problems.push(`required scenario \`${scenario}\` did not run`);
    continue;
  }
  // The example prints this line only when its own steps (connect, call, check the answer) succeeded.
  if (!r.stderr.includes(`scenario \`${scenario}\`: done`)) {
    problems.push(`the client did not finish \`${scenario}\`; its stderr:\n${r.stderr.trim()}`);
  }
}
const initialize = results.get('initialize');
if (initialize && !initialize.checks.some((check) => check.id === 'mcp-client-initialization' && check.status === 'SUCCESS')) {
  const check = initialize.checks.find((check) => check.id === 'mcp-client-initialization');
  problems.push(`\`initialize\`: no successful mcp-client-initialization check (${check?.errorMessage ?? 'the check never ran'})`);
}

console.log(`\nScenarios (${results.size}):\n${rows.join('\n')}`);
if (problems.length > 0) {
  console.log(`\nconformance: FAILED\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  process.exit(1);
}
console.log('\nconformance: all results as expected');
