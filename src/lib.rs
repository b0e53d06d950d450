//! cadline: Hildebrand Glow CAD messages (MQTT) to InfluxDB line protocol.
//!
//! The library holds the pure parts (topic routing, payload flattening, unit
//! normalisation, line protocol) and the I/O edges (MQTT source, stdin
//! source, stdout writer) that meet at one channel; `main.rs` wires them.

#![forbid(unsafe_code)]

pub mod flatten;
pub mod legacy_hex;
pub mod line_protocol;
pub mod meter;
pub mod meter_time;
pub mod reading;
pub mod sensor;
pub mod state;
pub mod tolerant;
pub mod topic;
pub mod topic_filter;
pub mod units;

pub use flatten::{FlattenOptions, Flattener, Level, Note};

#[macro_use]
pub mod messages;
pub mod backoff;
pub mod capture;
pub mod cli;
pub mod connection_error;
pub mod control_stdin;
pub mod message;
pub mod mqtt_source;
pub mod password;
pub mod shutdown;
pub mod silence;
pub mod stdin_source;
pub mod tls_files;
pub mod writer;
