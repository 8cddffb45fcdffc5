#!/usr/bin/env bash
# `npm test`: unit tests (Node), end-to-end tests (built app in headless Chromium), and the
# training recipe's Python tests where Debian's torch is installed.
# The vitest projects report through vitest's JSON reporter; all counts are summed and the last line
# is exactly "N passed, N failed". Exits non-zero if any test failed or a suite crashed before reporting.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh --browser || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

reports="$(mktemp -d)"
trap 'rm -rf "$reports"' EXIT
status=0

run_project() {
  local project="$1"
  echo "==> vitest project: $project"
  npx vitest run --project "$project" --passWithNoTests \
    --reporter=default --reporter=json --outputFile="$reports/$project.json"
  local rc=$?
  if [[ $rc != 0 ]]; then status=1; fi
}

# Static checks count as tests of their own: lint + format (Biome, with the folder boundary rules
# in biome.json) and the type check. Each is one passed or one failed test in the closing line.
static_passed=0
static_failed=0
run_static() {
  local name="$1"; shift
  echo "==> $name"
  if "$@"; then static_passed=$((static_passed + 1)); else static_failed=$((static_failed + 1)); status=1; fi
}
run_static "lint and format (biome ci)" npx biome ci --reporter=summary .
run_static "type check (tsc)" npx tsc --noEmit -p .

run_project unit
run_project e2e

# The training recipe's own tests (Python unittest, training/tests), with Debian's torch only; without
# it they are skipped with the reason and count nothing. unittest's summary gives the counts:
# "Ran N tests" then "OK (skipped=S)" or "FAILED (failures=F, errors=E, skipped=S)".
python_passed=0
python_failed=0
# "passed failed" from a unittest log on stdin; no summary (a crash before it) or no test found is one failure.
unittest_counts() {
  local log ran result bad=0 n
  log="$(cat)"
  ran="$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' <<<"$log" | tail -1)"
  result="$(grep -E '^(OK|FAILED)( \(|$)' <<<"$log" | tail -1)"
  if [[ -z "$ran" || -z "$result" || $ran == 0 ]]; then echo "0 1"; return; fi
  for kind in failures errors unexpected\ successes; do
    n="$(grep -o "$kind=[0-9]*" <<<"$result" | cut -d= -f2)"
    bad=$((bad + ${n:-0}))
  done
  if [[ $result == FAILED* && $bad == 0 ]]; then bad=1; fi
  n="$(grep -o 'skipped=[0-9]*' <<<"$result" | cut -d= -f2)"
  echo "$((ran - bad - ${n:-0})) $bad"
}
run_python_tests() {
  echo "==> training recipe tests (python unittest)"
  if ! /usr/bin/python3 -c 'import torch, onnx, numpy' 2>/dev/null; then
    echo "skipped: Debian's python3-torch and python3-onnx are not installed (apt-get install python3-torch python3-onnx)"
    return
  fi
  local log
  log="$(cd training && /usr/bin/python3 -m unittest discover -s tests 2>&1)"
  echo "$log"
  read -r python_passed python_failed < <(unittest_counts <<<"$log")
  if [[ $python_failed != 0 ]]; then status=1; fi
}
run_python_tests

# Sum over both reports. A file that failed without a failed test (import error, a crashed
# beforeAll: its tests show as skipped) counts its unrun tests, or 1, as failed; so does a missing
# report. The last line never hides a crash.
summary="$(node - "$reports" <<'JS'
const fs = require('node:fs');
const path = require('node:path');
const dir = process.argv[2];
let passed = 0, failed = 0, crashed = 0;
for (const project of ['unit', 'e2e']) {
  const file = path.join(dir, `${project}.json`);
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8'));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    for (const suite of r.testResults ?? []) {
      const tests = suite.assertionResults ?? [];
      if (suite.status === 'failed' && !tests.some((t) => t.status === 'failed')) {
        crashed += Math.max(1, tests.filter((t) => t.status !== 'passed').length);
        console.error(`crashed: ${path.relative(process.cwd(), suite.name)}: ${(suite.message ?? '').split('\n')[0]}`);
      }
    }
  } catch (e) {
    crashed++;
    console.error(`crashed: ${project}: no report (${e.message})`);
  }
}
console.log(`${passed} ${failed + crashed}`);
JS
)" || { summary="0 1"; }

read -r passed failed <<<"$summary"
passed=$((passed + static_passed + python_passed))
failed=$((failed + static_failed + python_failed))
if [[ "$failed" != 0 ]]; then status=1; fi
echo "${passed} passed, ${failed} failed"
exit $status
