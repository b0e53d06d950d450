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
// The edges' boundaries: exact size limits, a resumed session with a changed --topic.
mod boundaries;
// Hostile ids and strings into a real InfluxDB: every line accepted.
mod hostile;
// Soak and chaos: broker and cadline killed mid-stream, a slow reader.
mod chaos;
// Telegraf at its defaults with only cadline.conf: backlog replays and the fault test.
mod telegraf_defaults;
// The fault schedule both at-least-once tests under Telegraf run.
mod fault_schedule;
// Secrets stay out of sight, TLS always verifies, no unsafe code.
mod security;
// Nix files, the NixOS module's command line, Telegraf configs.
mod nix;
// The Grafana dashboard: costs, UK days and glitches on a real InfluxDB; import and provisioning.
mod dashboard;
// The stated minimum Rust is what the locked dependencies need.
mod msrv;
// The README's flag table against --help.
mod flag_table;
// The Debian package: built, installed with dpkg, run under Telegraf, removed.
mod deb;
// nix/flake.nix's outputs, evaluated with a stub nixpkgs.
mod flake;
// Property-based fuzzing of the flattener and the capture reader (PROPTEST_CASES scales it).
mod fuzz;
// Resource limits and panics: one `E!` line, never a backtrace.
mod limits;
// TLS errors with real certificates: one line naming the cause and the fix, and the fix works.
mod tls_errors;
// Operators beside a running service: telegraf --test/--once, copied configs, cadline check.
mod operator;
// A scripted MQTT server, only for packets Mosquitto cannot send.
mod scripted_server;
// What a broker does that costs readings or ends connections, and its words.
mod broker_faults;
// Start-up as a new user meets it: an unreadable password file, stdin on /dev/null.
mod start_up;
