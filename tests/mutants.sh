#!/usr/bin/env bash
# On-demand mutation testing of cadline's pure core (not part of CI: each
# mutant is a rebuild, far too slow for two cores). cargo-mutants changes
# one thing at a time (an operator, a constant, a function body) and runs
# the tests that cover the core; a mutant no test notices ("missed") is a
# gap to close with a test, or a change that cannot alter behaviour
# (explained in the README's Tests section).
#
#   tests/mutants.sh                      # the default files below
#   tests/mutants.sh src/flatten/meter.rs ...  # some files only
#
# Needs cargo-mutants (cargo install cargo-mutants --locked). Results in
# mutants.out/ (ignored): missed.txt, caught.txt, unviable.txt, timeout.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || {
  echo "cargo-mutants is missing: cargo install cargo-mutants --locked" >&2
  exit 1
}
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(src/flatten/*.rs src/config/topic_filter.rs src/edges/writer.rs)
args=()
for f in "${files[@]}"; do args+=(--file "$f"); done
# Every unit test (all of them live under flatten::, edges:: or config::),
# and the golden and fuzz suites that check the flattener's output against
# the README's schema; not the suites that start Mosquitto, InfluxDB or
# Telegraf. PROPTEST_CASES keeps each fuzz property short; it still runs.
export PROPTEST_CASES=${PROPTEST_CASES:-64}
exec cargo mutants "${args[@]}" --jobs "${JOBS:-2}" --timeout 120 -- \
  --lib --test integration -- \
  flatten:: edges:: config:: golden:: fuzz::
