//! The I/O at the edges: where messages come from (the MQTT source, the
//! stdin source reading `mosquitto_sub -v` captures), where lines go (one
//! thread owns stdout: the writer in MQTT mode, the pipe thread in pipe
//! mode), where diagnostics go (stderr, in
//! Telegraf's prefixes), and how cadline is told to stop (signals, the end
//! of Telegraf's stdin). In MQTT mode the source and the writer meet at one
//! channel of `message::Message`s; pipe mode reads, flattens and writes on
//! one thread. Everything between a payload and its lines is the pure core
//! in `crate::flatten`.

#[macro_use]
pub mod messages;

pub mod backoff;
pub mod broker_probe;
pub mod capture;
pub mod check;
pub mod connection_error;
pub mod connection_loss;
pub mod control_stdin;
pub mod fd_limit;
pub mod file_access;
pub mod message;
pub mod mqtt_source;
pub mod pacing;
pub mod panic_exit;
pub mod qos_watch;
pub mod reconnect_log;
pub mod session_state;
pub mod shared_buffer;
pub mod shutdown;
pub mod silence;
pub mod stdin_source;
pub mod stdio_end;
pub mod takeover;
pub mod tls_error;
pub mod writer;
