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
