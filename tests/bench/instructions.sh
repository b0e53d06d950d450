#!/usr/bin/env bash
# Instructions per message, flattener beside the parse-only floor, counted
# by callgrind: unlike seconds, the count is the same on a busy machine, so
# it shows what a change to the hot path did. Each figure is the count for
# RUNS passes over the mix minus the count for none (building the mix).
#
#   bash tests/bench/instructions.sh     # knobs: MESSAGES (20000), RUNS (2)
#
# Then the same for pipe mode: `cadline --stdin` on a capture beside the
# flattener alone over the same messages in memory.
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

# Pipe mode beside the flattener alone, on one capture of the same mix: all
# of `cadline --stdin` (reading, framing, flattening, writing; start-up
# subtracted) against the flattener over the same messages in memory.
floor_bin=$(cargo bench --bench pipe_floor --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="pipe_floor" and m.get("executable"): print(m["executable"])')
cargo build --release -q
capture=$(mktemp)
trap 'rm -f "$capture"' EXIT
python3 "$(dirname "$0")/gen_capture.py" "$n" >"$capture"
collected() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
pipe=$(( ($(collected target/release/cadline --stdin <"$capture") - $(collected target/release/cadline --stdin </dev/null)) / n ))
alone=$(( ($(collected "$floor_bin" flatten "$capture" 1) - $(collected "$floor_bin" flatten "$capture" 0)) / n ))
echo "instructions per message, pipe mode (callgrind, a $n-message capture):"
echo "  flattener alone, in memory: $alone"
echo "  cadline --stdin:            $pipe"
python3 -c "print('  ratio:                      %.2fx' % ($pipe / $alone))"
