#!/usr/bin/env bash
# cadline beside the mqtt_consumer + json_v2 setup it replaces
# (tests/bench/mqtt_consumer_json_v2.conf), in the same Telegraf build, on
# the same published stream. Prints two markdown tables, each with the
# command behind it:
#   1. what it costs: CPU seconds and peak RSS per 100 000 messages, and the
#      rate each drains from one Mosquitto (tests/bench/versus_json_v2.py);
#   2. what survives the faults of the at-least-once test (Telegraf
#      SIGKILLed, InfluxDB down, Mosquitto and cadline SIGKILLed), each at
#      its best settings, from one run of that test.
# What each stores is a test: `cargo test --test integration beside_mqtt_consumer`.
# Knobs: MESSAGES (100000), HOMES (20), INFLIGHT_MESSAGES (400),
# CADLINE_SOAK_SEED (moves the faults).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/run.sh --tools-only >&2
cargo build --release -q

echo "## What it costs"
echo
python3 tests/bench/versus_json_v2.py
echo
echo "## What survives the faults"
echo
echo "Command: \`CADLINE_VERSUS_JSON_V2=1 cargo test --test integration at_least_once -- --nocapture\`"
echo
out=$(CADLINE_VERSUS_JSON_V2=1 cargo test -q --test integration at_least_once -- --nocapture 2>&1 | grep -v 'Buffer fullness' || true)
cadline=$(grep -m1 '^at-least-once:' <<<"$out" || echo "at-least-once: (no result)")
json=$(grep -m1 '^json_v2 beside it:' <<<"$out" || echo "json_v2 beside it: (no result)")
echo "| setup | result |"
echo "|---|---|"
echo "| Telegraf + cadline, shipped settings (disk buffer, \`--persistent-session\`, \`--ack-delay 1\`) | ${cadline#at-least-once: } |"
echo "| Telegraf + mqtt_consumer/json_v2 (\`persistent_session\`, QoS 1, memory buffer; its own Telegraf, killed with the first) | ${json#json_v2 beside it: } |"
echo
echo "Faults in that run:"
echo
echo '```'
grep -E '^[0-9.]+s ' <<<"$out" | awk '!seen[$0]++'
echo '```'
