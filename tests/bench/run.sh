#!/usr/bin/env bash
# cadline's benchmarks, end to end, each figure beside a baseline measured in
# the same run (the machines are shared and noisy: read the ratios). Prints
# markdown; tests/bench/RESULTS.md is one run's output:
#
#   tests/bench/run.sh | tee tests/bench/RESULTS.md
#
# Knobs (environment variables):
#   PIPE_MESSAGES=1000000   messages in the capture for pipe mode and peak RSS
#   SMALL_MESSAGES=100000   the smaller capture for peak RSS (flat = good)
#   RUNS=5                  hyperfine runs per command (/usr/bin/time: 1 run)
#   MQTT_MESSAGES=200000    messages published per throughput measurement
#   IDLE_SECONDS=60         how long idle CPU is measured
#   LATENCY_RATE=1000       latency: messages/s, steady
#   LATENCY_SECONDS=10      latency: how long
#   PROFILE_COMPARE=1       0 skips the build without cadline's release profile
#                           (the first run builds every dependency again)
#   CADLINE_BENCH_RUNS=11, CADLINE_BENCH_MESSAGES=100000: the flatten bench
# Needs: cargo, python3, mosquitto, mosquitto-clients, and hyperfine and
# GNU time (installed with apt-get when missing and running as root;
# without hyperfine each command is timed once with /usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/../.."
PIPE_MESSAGES=${PIPE_MESSAGES:-1000000}
SMALL_MESSAGES=${SMALL_MESSAGES:-100000}
RUNS=${RUNS:-5}
PROFILE_COMPARE=${PROFILE_COMPARE:-1}
export MQTT_MESSAGES=${MQTT_MESSAGES:-200000} IDLE_SECONDS=${IDLE_SECONDS:-60}
export LATENCY_RATE=${LATENCY_RATE:-1000} LATENCY_SECONDS=${LATENCY_SECONDS:-10}

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" -eq 0 ]; then
  echo "installing: ${need[*]}" >&2
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null; } || true
fi

echo "# cadline benchmark results"
echo
echo "- date: $(date -u '+%F %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "- machine: $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), $(free -g | awk '/^Mem:/ {print $2}') GiB, kernel $(uname -sr), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- $(rustc --version)"
echo "- produced by \`tests/bench/run.sh\` (knobs: PIPE_MESSAGES=$PIPE_MESSAGES RUNS=$RUNS MQTT_MESSAGES=$MQTT_MESSAGES IDLE_SECONDS=$IDLE_SECONDS LATENCY_RATE=$LATENCY_RATE LATENCY_SECONDS=$LATENCY_SECONDS)"
echo

cargo build --release -q
bin=target/release/cadline
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "## Flattener"
echo
cargo bench -q --bench flatten 2>/dev/null
echo
if command -v valgrind >/dev/null; then
  echo "Instructions per message, which machine noise cannot change (\`tests/bench/instructions.sh\`, callgrind):"
  echo
  echo '```'
  bash tests/bench/instructions.sh
  echo '```'
  echo
fi

python3 tests/bench/gen_capture.py "$PIPE_MESSAGES" >"$work/capture"
python3 tests/bench/gen_capture.py "$SMALL_MESSAGES" >"$work/capture-small"
size=$(stat -c %s "$work/capture")

# time_rows NAME CMD [NAME CMD]...: one markdown row per command, the first
# being the baseline: mean, min, and ratio of means.
time_rows() {
  if command -v hyperfine >/dev/null; then
    local args=()
    while [ $# -gt 0 ]; do args+=(-n "$1" "$2"); shift 2; done
    hyperfine -N --warmup 1 --runs "$RUNS" --style none --export-json "$work/h.json" "${args[@]}" >/dev/null
    python3 - "$work/h.json" "$PIPE_MESSAGES" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
n = int(sys.argv[2])
base = r[0]["mean"]
for x in r:
    cpu = (x.get('user', 0) + x.get('system', 0)) / n * 1e9
    print(f"| {x['command']} | {x['mean']*1000:.0f} ± {x['stddev']*1000:.0f} ms | {x['min']*1000:.0f} ms | {n / x['min']:,.0f} | {x['mean'] / base:.2f} | {cpu:,.0f} ns |")
EOF
  else
    local base=""
    while [ $# -gt 0 ]; do
      /usr/bin/time -f %e -o "$work/t" sh -c "$2" >/dev/null 2>&1
      local s; s=$(cat "$work/t")
      base=${base:-$s}
      python3 -c "import sys; s, b, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[4]); print(f'| {sys.argv[3]} | {s*1000:.0f} ms (1 run, /usr/bin/time) | | {n / max(s, 1e-3):,.0f} | {s / max(b, 1e-3):.2f} |')" "$s" "$base" "$1" "$PIPE_MESSAGES"
      shift 2
    done
  fi
}

echo "## Pipe mode: \`mosquitto_sub -v\` capture of $PIPE_MESSAGES messages, $((size / 1000000)) MB"
echo
cargo bench -q --bench pipe_floor --no-run 2>/dev/null
floor=$(ls -t target/release/deps/pipe_floor-* | grep -v '\.d$' | head -1)
echo "Each command reads the capture on stdin into /dev/null, $RUNS runs interleaved after one warm-up (\`tests/bench/cpu.py\`), medians. CPU is the user + system time of the process and all its threads (wait4)."
echo
echo "| command | wall (median) | wall (range) | messages/s | wall ratio | CPU per message | CPU ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|"
python3 tests/bench/cpu.py "$PIPE_MESSAGES" "$work/capture" "$RUNS" "$work/cpu.json" \
  'parse-only floor reading the capture (`pipe_floor read`, baseline)' "$floor read" \
  '`cadline --stdin`' "$bin --stdin" \
  '`cat`' "cat"
echo
echo "The same capture in memory, no I/O, no threads (\`pipe_floor memory capture\`):"
echo
echo '```'
"$floor" memory "$work/capture" | tee "$work/memory.txt"
echo '```'
echo
python3 - "$work/cpu.json" "$work/memory.txt" <<'EOF'
import json, re, sys
r = json.load(open(sys.argv[1]))
alone = float(re.search(r"flattener alone (\d+) ns", open(sys.argv[2]).read()).group(1))
pipe = r["`cadline --stdin`"]
floor = r["parse-only floor reading the capture (`pipe_floor read`, baseline)"]
cpu_ratio = pipe["cpu_ns_per_message"] / alone
wall_ratio = pipe["wall_s"] / floor["wall_s"]
verdict = lambda ok: "met" if ok else "MISSED"
print(f"Targets: pipe-mode CPU per message {pipe['cpu_ns_per_message']:,.0f} ns is {cpu_ratio:.2f}x the flattener alone in memory ({alone:,.0f} ns), target 1.3x: {verdict(cpu_ratio <= 1.3)}; "
      f"its wall time is {wall_ratio:.2f}x the parse-only floor reading the capture, target 2.5x: {verdict(wall_ratio <= 2.5)}.")
EOF
echo

rss() { # peak RSS (KiB) of cadline --stdin reading capture $1
  /usr/bin/time -f %M -o "$work/rss" "$bin" --stdin <"$1" >/dev/null 2>&1
  cat "$work/rss"
}
echo "## Footprint"
echo
echo "| what | value | command |"
echo "|---|---:|---|"
echo "| peak RSS, pipe mode, $SMALL_MESSAGES messages | $(rss "$work/capture-small") KiB | \`/usr/bin/time -v cadline --stdin < capture-small > /dev/null\` (Maximum resident set size) |"
echo "| peak RSS, pipe mode, $PIPE_MESSAGES messages | $(rss "$work/capture") KiB | \`/usr/bin/time -v cadline --stdin < capture > /dev/null\` |"
echo "| release binary (LTO, 1 codegen unit, panic=abort, stripped) | $(stat -c %s "$bin") bytes | \`cargo build --release; stat -c %s target/release/cadline\` |"

if [ "$PROFILE_COMPARE" = 1 ]; then
  # The release profile's effect: the same code built with Cargo's default
  # release profile (no LTO, 16 codegen units, unwinding, symbols kept).
  plain_cfg=(--target-dir target/bench-default-profile
    --config 'profile.release.lto=false' --config 'profile.release.codegen-units=16'
    --config 'profile.release.panic="unwind"' --config 'profile.release.strip=false')
  cargo build --release -q "${plain_cfg[@]}"
  plain=target/bench-default-profile/release/cadline
  echo "| the same with Cargo's default release profile | $(stat -c %s "$plain") bytes | \`cargo build --release --target-dir target/bench-default-profile --config 'profile.release.lto=false' --config 'profile.release.codegen-units=16' --config 'profile.release.panic=\"unwind\"' --config 'profile.release.strip=false'\` |"
  echo
  echo "## Release profile: cadline's beside Cargo's default"
  echo
  echo "| command | mean | min | messages/s (at min) | ratio of means |"
  echo "|---|---:|---:|---:|---:|"
  time_rows \
    "\`cadline --stdin\`, Cargo's default release profile" "sh -c '$plain --stdin < $work/capture > /dev/null'" \
    "\`cadline --stdin\`, cadline's profile (LTO, 1 codegen unit, abort, strip)" "sh -c '$bin --stdin < $work/capture > /dev/null'"
  echo
  echo "Flattener with Cargo's default release profile (same bench, same flags as above):"
  echo
  cargo bench -q --bench flatten "${plain_cfg[@]}" 2>/dev/null | sed -n '/^| what/,/^$/p'
fi
echo

echo "## Through Mosquitto"
echo
python3 tests/bench/mqtt_bench.py "$bin"
echo
echo "Latency (\`cargo bench --bench latency\`, LATENCY_RATE=$LATENCY_RATE LATENCY_SECONDS=$LATENCY_SECONDS):"
echo
cargo bench -q --bench latency 2>/dev/null
