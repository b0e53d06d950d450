#!/usr/bin/env bash
# cadline beside the mqtt_consumer + json_v2 setup it replaces
# (tests/bench/mqtt_consumer_json_v2.conf), in the same Telegraf build at
# its default agent settings, each row with its own real Mosquitto and
# InfluxDB: a backlog replay, a paced live stream and a fault schedule per
# row, in one run (tests/bench/versus_json_v2.py says how each is measured).
# Prints markdown: the README's "Beside mqtt_consumer + json_v2" tables.
# Knobs: BACKLOG (30000), HOMES (20), PACED_RATE (500), PACED_SECONDS (20),
# ROWS (all; e.g. ROWS=json1,memory).
# What each stores is a test: `cargo test --release --test tests beside_mqtt_consumer`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/run.sh --tools-only >&2
cargo build --release -q
python3 tests/bench/versus_json_v2.py
