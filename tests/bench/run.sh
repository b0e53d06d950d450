#!/usr/bin/env bash
# cadline's end-to-end benchmarks, each beside its baseline from the same run.
# Prints markdown tables (copy them into the README's performance section).
#
#   tests/bench/run.sh
#
# Knobs: PIPE_MESSAGES (1000000), MQTT_MESSAGES (200000), LATENCY_SECONDS (10),
# LATENCY_RATE (1000), IDLE_SECONDS (60), RUNS (5).
# Needs: cargo, python3, mosquitto + mosquitto-clients, hyperfine (installed
# with apt-get when missing and running as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
PIPE_MESSAGES=${PIPE_MESSAGES:-1000000}
RUNS=${RUNS:-5}

if ! command -v hyperfine >/dev/null && [ "$(id -u)" -eq 0 ]; then
  apt-get install -y -qq hyperfine >/dev/null
fi

echo "Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(uname -sr), $(date -u +%F)"
echo

cargo build --release -q
bin=target/release/cadline
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "## Flattener (cargo bench --bench flatten)"
echo
cargo bench -q --bench flatten 2>/dev/null | tail -n +2
echo

python3 tests/bench/gen_capture.py "$PIPE_MESSAGES" > "$work/capture.txt"
python3 tests/bench/gen_capture.py 100000 > "$work/capture-100k.txt"
size=$(stat -c %s "$work/capture.txt")
echo "## Pipe mode: $PIPE_MESSAGES messages, $((size / 1000000)) MB"
echo
hyperfine -N --warmup 1 --runs "$RUNS" --style none --export-markdown "$work/pipe.md" \
  -n "cat capture > /dev/null (baseline)" "sh -c 'cat $work/capture.txt > /dev/null'" \
  -n "cadline --stdin < capture > /dev/null" "sh -c '$bin --stdin < $work/capture.txt > /dev/null 2>&1'" >/dev/null
cat "$work/pipe.md"
echo

peak_rss() { # KiB: the largest resident set of cadline reading capture $1
  python3 -c 'import resource, subprocess, sys
with open(sys.argv[1], "rb") as f:
    subprocess.run([sys.argv[2], "--stdin"], stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$1" "$bin"
}
echo "| footprint | value |"
echo "|---|---:|"
echo "| peak RSS, pipe mode, 100 000 messages | $(peak_rss "$work/capture-100k.txt") KiB |"
echo "| peak RSS, pipe mode, $PIPE_MESSAGES messages | $(peak_rss "$work/capture.txt") KiB |"
echo "| release binary (stripped) | $(stat -c %s "$bin") bytes |"

# The release profile's effect: the same build without LTO, with 16 codegen
# units, unwinding and symbols.
cargo build --release -q --target-dir target/bench-default-profile \
  --config 'profile.release.lto=false' --config 'profile.release.codegen-units=16' \
  --config 'profile.release.panic="unwind"' --config 'profile.release.strip=false'
plain=target/bench-default-profile/release/cadline
echo "| binary with Cargo's default release profile | $(stat -c %s "$plain") bytes |"
echo
hyperfine -N --warmup 1 --runs "$RUNS" --style none --export-markdown "$work/profile.md" \
  -n "default release profile" "sh -c '$plain --stdin < $work/capture.txt > /dev/null 2>&1'" \
  -n "cadline's profile (LTO, 1 codegen unit, abort, strip)" "sh -c '$bin --stdin < $work/capture.txt > /dev/null 2>&1'" >/dev/null
cat "$work/profile.md"
echo

echo "## Through Mosquitto"
echo
python3 tests/bench/mqtt_bench.py "$bin"
echo
cargo bench -q --bench latency 2>/dev/null
