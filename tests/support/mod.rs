//! The integration-test harness: real Mosquitto, InfluxDB, `openssl` and
//! cadline processes, never mocks, so the tests see what a user's machine
//! sees (Mosquitto's queue limits, InfluxDB's line-protocol parser, real
//! TLS handshakes, real pipes and signals).
//!
//! Every test gets its own processes on free loopback ports and its own
//! temporary directories, so tests run in parallel threads of one binary
//! without sharing anything. Everything is killed, reaped and removed on
//! drop, including when a test panics. A missing tool fails the test with
//! the command that installs it: tests never skip silently.

// Re-exports too: not every test uses every helper.
#![allow(dead_code, unused_imports)]

pub mod influx;
pub mod mosquitto;
pub mod ports;
pub mod process;
pub mod tempdir;
pub mod tls;
pub mod tools;

pub use influx::{http_request, url_encode, HttpResponse, Influx};
pub use mosquitto::{ClientOptions, Mosquitto, MosquittoConfig, MosquittoTls};
pub use ports::{free_port, wait_for_port};
pub use process::{CadlineProcess, ProcessUnderTest};
pub use tempdir::TempDir;
pub use tls::{make_tls, TlsFiles};
pub use tools::find_tool;
