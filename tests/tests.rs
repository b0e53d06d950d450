//! One integration-test binary (see `autotests = false` in Cargo.toml).
// Golden cases in tests/cases/<name>/: one message in, exact line protocol out.
mod golden;
// Pipe mode on the real binary: captures, bad input, signals, exit codes.
mod pipe;
// Real Mosquitto and cadline processes for the MQTT tests (see rig.rs).
mod rig;
// cadline against a real Mosquitto: flow, faults, TLS, shared groups, execd contract.
mod mqtt;
// A day of traffic through Mosquitto, cadline and a real InfluxDB.
mod end_to_end;
// cadline under the real Telegraf: shipped configs, the execd contract, faults.
mod telegraf;
// Every way cadline stops: whole lines only, acks only for what was written.
mod exits;
// Connections and sessions: copied client ids, refused subscriptions, huge messages.
mod sessions;
// Hostile ids and strings into a real InfluxDB: every line accepted.
mod hostile;
// Soak and chaos: broker and cadline killed mid-stream, a slow reader.
mod chaos;
// Telegraf at its defaults with only cadline.conf: backlog replays and the fault test.
mod telegraf_defaults;
// Secrets stay out of sight, TLS always verifies, no unsafe code.
mod security;
// Nix files, the NixOS module's command line, Telegraf configs, the dashboard.
mod nix;
// Property-based fuzzing of the flattener and the capture reader (PROPTEST_CASES scales it).
mod fuzz;
// Resource limits and panics: one `E!` line, never a backtrace.
mod limits;
// Operators beside a running service: telegraf --test/--once, copied configs, cadline check.
mod operator;
