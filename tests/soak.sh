#!/usr/bin/env bash
# The long run of the robustness tests: the chaos test (QoS 1 through a
# broker SIGKILLed five times and cadline twice, every message accounted for),
# the slow reader, the security tests and the fuzz properties, over and over
# with fresh seeds, until SOAK_SECONDS have passed. Stops at the first
# failure and keeps its whole output.
#
#   bash tests/soak.sh                      # an hour
#   SOAK_SECONDS=600 bash tests/soak.sh     # ten minutes
#
# Knobs: SOAK_SECONDS (3600), CADLINE_SOAK_MESSAGES per chaos round (100000),
# PROPTEST_CASES per fuzz property and pass (20000), SOAK_LOG (soak.log in a
# temporary directory). Run tests/run.sh once first: it installs Mosquitto.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${SOAK_SECONDS:-3600}
messages=${CADLINE_SOAK_MESSAGES:-100000}
cases=${PROPTEST_CASES:-20000}
log=${SOAK_LOG:-$(mktemp -d)/soak.log}

cargo test --release --test integration --no-run 2>&1 | tail -n 1
start=$(date +%s)
pass=0
chaos_messages=0
echo "soak: ${seconds}s, ${messages} messages per chaos round, ${cases} fuzz cases per property; log: $log"
while (( $(date +%s) - start < seconds )); do
    pass=$((pass + 1))
    seed=$(( (start + pass) * 7919 % 1000003 ))
    for what in chaos security fuzz; do
        t=$(date +%s)
        if ! CADLINE_SOAK_SEED=$seed CADLINE_SOAK_MESSAGES=$messages PROPTEST_CASES=$cases \
            cargo test --release --test integration -q -- "$what" >"$log.last" 2>&1; then
            cat "$log.last" >>"$log"
            echo "soak: FAILED in pass $pass ($what, seed $seed) after $(( $(date +%s) - start ))s; output in $log"
            tail -n 60 "$log.last"
            exit 1
        fi
        echo "$(date -u +%FT%TZ) pass $pass $what seed $seed ok in $(( $(date +%s) - t ))s" >>"$log"
    done
    chaos_messages=$((chaos_messages + messages))
done
echo "soak: $pass passes in $(( $(date +%s) - start ))s without a failure;" \
    "$chaos_messages QoS 1 messages through $((pass * 5)) broker and $((pass * 2)) cadline SIGKILLs"
