#!/usr/bin/env bash
# On-demand mutation testing (not part of CI: each mutant is a rebuild,
# far too slow for two cores). cargo-mutants changes one thing at a time
# (an operator, a constant, a function body) and runs the tests; a mutant
# no test notices ("missed") is a gap to close with a test, or a change
# that cannot alter behaviour (explained in the README's "Mutation testing").
#
#   tests/mutants.sh                           # the pure core, the default files below
#   tests/mutants.sh src/flatten/meter.rs ...  # some files only
#   tests/mutants.sh edges [FILE...]           # the I/O at the edges (all of them, or some)
#   EDGE_TESTS=mqtt MUTANTS_RE=' in run$' tests/mutants.sh edges src/edges/mqtt_source.rs
#                                              # the MQTT loop, with a real Mosquitto
#
# The core runs every unit test and the golden and fuzz suites. The edges
# run, for each file, the unit tests of that file and of the edges that
# use it (EDGE_FILTERS=edges:: runs every edge's unit tests instead), plus
# (EDGE_TESTS=integration) the integration tests that drive the edges
# narrowly through the real binary: pipe mode and the boundaries suite
# (exact size limits, a resumed session with a changed --topic, against a
# real Mosquitto); EDGE_TESTS=mqtt adds the MQTT tests listed below, and
# MUTANTS_RE limits the run to mutants whose names match (cargo mutants
# --re). The whole integration suite per mutant (Telegraf,
# InfluxDB, soak) is out of reach on two cores.
#
# Mutants are built with Cargo.toml's [profile.mutants] (dev, no debug
# information): a mutated file rebuilds and links in seconds, where the
# release profile's LTO takes minutes. TIMEOUT (seconds, default 120)
# bounds each build and test run; JOBS (default 2) is how many mutants
# build at once.
#
# IN_PLACE=1 mutates this checkout instead of a copy, reusing its target/
# (a copy starts with no build): only in a worktree nobody else uses, and
# touch nothing under src/ while it runs.
#
# Needs cargo-mutants (cargo install cargo-mutants --locked). Results in
# mutants.out/ (ignored): missed.txt, caught.txt, unviable.txt, timeout.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || {
  echo "cargo-mutants is missing: cargo install cargo-mutants --locked" >&2
  exit 1
}
export PROPTEST_CASES=${PROPTEST_CASES:-64}
place=(--jobs "${JOBS:-2}")
[ "${IN_PLACE:-0}" = 1 ] && place=(--in-place)
common=(--profile mutants --timeout "${TIMEOUT:-120}" "${place[@]}")
if [ "${1:-}" = edges ]; then
  shift
  files=("$@")
  [ ${#files[@]} -gt 0 ] || files=(src/edges/writer.rs src/edges/mqtt_source.rs
    src/edges/session_state.rs src/edges/reconnect_log.rs
    src/edges/stdin_source.rs src/edges/capture.rs src/edges/shutdown.rs
    src/edges/silence.rs)
  filters=()
  if [ -n "${EDGE_FILTERS:-}" ]; then
    read -r -a filters <<<"$EDGE_FILTERS"
  else
    # Each file's own unit tests, and those of the edges built on it.
    for f in "${files[@]}"; do
      case "$f" in
        */writer.rs) filters+=(edges::writer edges::stdin_source) ;;
        */mqtt_source.rs | */session_state.rs | */reconnect_log.rs)
          filters+=(edges::mqtt_source edges::session_state edges::reconnect_log) ;;
        */stdin_source.rs) filters+=(edges::stdin_source) ;;
        */capture.rs) filters+=(edges::capture) ;;
        */shutdown.rs) filters+=(edges::shutdown) ;;
        # The silence watch is fed by the MQTT loop, whose tests drive it.
        */silence.rs) filters+=(edges::silence edges::mqtt_source) ;;
        *) filters+=(edges::) ;;
      esac
    done
  fi
  # --cargo-arg: the build of each mutant, not only its test run, is
  # limited to these targets (cargo-mutants builds every test target else).
  tests=(--cargo-arg=--lib)
  case "${EDGE_TESTS:-unit}" in
    integration)
      tests+=(--cargo-arg=--test=integration)
      filters+=(pipe:: boundaries::) ;;
    mqtt)
      # The MQTT loop's rules that only a broker shows (about 16 s a
      # mutant): flow, passwords, a refused subscription, a copied client
      # id, Server Keep Alive 0, silence, stopping, a broker restart.
      tests+=(--cargo-arg=--test=integration)
      filters+=(mqtt::every_kind_flows_end_to_end
        mqtt::passwords_work_the_obvious_way_or_say_what_happened
        sessions::a_refused_subscription_is_named_and_asked_for_again_alone_on_time
        sessions::two_instances_with_one_client_id_do_not_storm_and_say_why
        broker_faults::server_keep_alive_0_means_no_keep_alive_and_readings_flow
        mqtt::silence_is_not_counted_while_the_broker_is_down
        mqtt::silence_is_said_with_the_fix_and_again_less_often
        mqtt::sigterm_and_sigint_exit_zero_within_a_second
        mqtt::stdin_eof_exits_zero_within_a_second
        broker_faults::a_broker_restart_is_named_as_such_not_as_a_copied_client_id) ;;
  esac
  args=()
  for f in "${files[@]}"; do args+=(--file "$f"); done
  [ -n "${MUTANTS_RE:-}" ] && args+=(--re "$MUTANTS_RE")
  exec cargo mutants "${args[@]}" "${common[@]}" "${tests[@]}" -- -- "${filters[@]}"
fi
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(src/flatten/*.rs src/config/topic_filter.rs src/edges/writer.rs)
args=()
for f in "${files[@]}"; do args+=(--file "$f"); done
# Every unit test (all of them live under flatten::, edges:: or config::),
# and the golden and fuzz suites that check the flattener's output against
# the README's schema; not the suites that start Mosquitto, InfluxDB or
# Telegraf. PROPTEST_CASES keeps each fuzz property short; it still runs.
exec cargo mutants "${args[@]}" "${common[@]}" -- \
  --lib --test integration -- \
  flatten:: edges:: config:: golden:: fuzz::
