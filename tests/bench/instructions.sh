#!/usr/bin/env bash
# Instructions per message, flattener beside the parse-only floor, counted
# by callgrind: unlike seconds, the count is the same on a busy machine, so
# it shows what a change to the hot path did. Each figure is the count for
# RUNS passes over the mix minus the count for none (building the mix).
#
#   bash tests/bench/instructions.sh     # knobs: MESSAGES (20000), RUNS (2)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${MESSAGES:-20000}
runs=${RUNS:-2}
command -v valgrind >/dev/null || { echo "needs valgrind: apt-get install valgrind" >&2; exit 1; }
bin=$(cargo bench --bench flatten --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="flatten" and m.get("executable"): print(m["executable"])')
count() {
    CADLINE_BENCH_ONLY=$1 CADLINE_BENCH_MESSAGES=$n CADLINE_BENCH_RUNS=$2 \
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 >/dev/null \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
base=$(count flatten 0)
flatten=$(( ($(count flatten "$runs") - base) / (n * runs) ))
floor=$(( ($(count floor "$runs") - base) / (n * runs) ))
echo "instructions per message (callgrind, $n messages x $runs passes):"
echo "  parse-only floor: $floor"
echo "  flattener:        $flatten"
python3 -c "print('  ratio:            %.2fx' % ($flatten / $floor))"
