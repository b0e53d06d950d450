//! cadline: Hildebrand Glow CAD messages (MQTT) to InfluxDB line protocol.
//!
//! Three parts, one folder each, and the direction they may use each other:
//!
//! - [`flatten`]: the pure core. A topic, a payload and an arrival time in;
//!   line-protocol bytes and notes (as data) out. No I/O, no threads, no
//!   clock, and it knows no source: MQTT and pipe mode feed it the same way.
//! - [`config`]: the command line and what is checked before anything runs
//!   (flags, topic filters, the password, TLS files).
//! - [`edges`]: the I/O. The MQTT source and its stdout writer (meeting at
//!   one channel), pipe mode's stdin source (reading, flattening and
//!   writing on one thread), stderr, signals and Telegraf's stdin.
//!
//! `edges` uses `flatten` and `config`; `config` uses `flatten` for topic
//! rules; `flatten` uses neither. `main.rs` wires them together.

#![forbid(unsafe_code)]

pub mod flatten;

pub mod config;

#[macro_use]
pub mod edges;

pub use flatten::{FlattenOptions, Flattener, Level, Note};
