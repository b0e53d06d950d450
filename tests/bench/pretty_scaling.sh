#!/usr/bin/env bash
# Pipe mode must take time linear in its input whatever the input's shape
# (issue 11 point 2). One pretty-printed STATE payload of N short lines,
# N doubling, timed beside `cat` of the same file in the same run; for a
# linear reader each doubling of N about doubles the time (ratio ~2), for
# the old per-line rescan it quadrupled it.
#
#   tests/bench/pretty_scaling.sh                      # release build
#   CADLINE_BIN=target/debug/cadline tests/bench/pretty_scaling.sh
#
# Knobs: SIZES="250000 500000 1000000 2000000" (lines per payload; the
# code before the fix needed minutes for 20000, so try it with
# SIZES="5000 10000 20000"), RUNS=3 (best of).
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZES=${SIZES:-"250000 500000 1000000 2000000"}
RUNS=${RUNS:-3}
if [ -z "${CADLINE_BIN:-}" ]; then
  cargo build --release --quiet
  CADLINE_BIN=target/release/cadline
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

best_ms() { # best wall time of RUNS runs of "$@" < input, in ms
  local best=
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" < "$dir/in" > /dev/null 2>&1
    t1=$(date +%s%N)
    local ms=$(((t1 - t0) / 1000000))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "$best"
}

echo "| lines in the payload | bytes | cat (ms) | cadline --stdin (ms) | ratio to the previous size |"
echo "|---:|---:|---:|---:|---:|"
prev=
for n in $SIZES; do
  python3 - "$n" > "$dir/in" <<'PY'
import sys
n = int(sys.argv[1])
lines = ['glow/AB12/STATE {', '  "software": "v3.1.4",']
lines += ['  "x%d": [%d],' % (i, i) for i in range(n)]
lines += ['  "hardware": "GLOW-T"', '}']
print("\n".join(lines))
PY
  bytes=$(stat -c %s "$dir/in")
  cat_ms=$(best_ms cat)
  ms=$(best_ms "$CADLINE_BIN" --stdin --max-message-size 100000000)
  ratio=-
  if [ -n "$prev" ] && [ "$prev" -gt 0 ]; then
    ratio=$(awk -v a="$ms" -v b="$prev" 'BEGIN { printf "%.2f", a / b }')
  fi
  echo "| $n | $bytes | $cat_ms | $ms | $ratio |"
  prev=$ms
done
