//! Whether stdin can serve as Telegraf's control channel (MQTT mode).
//!
//! cadline takes the end of stdin as Telegraf's stop signal. Started by
//! something else with stdin on /dev/null (nohup, a systemd unit of its
//! own, a container without `-i`) it used to connect and exit 0 a few
//! milliseconds later, which looks like a crash with no message (and
//! printed "Stdin closed" before "Connected"). This check names the cause,
//! and cadline exits 0 without connecting.

use std::path::Path;

/// A warning when stdin will be at its end at once: /dev/null, a regular
/// file, or closed. `None` for a pipe, a terminal or a socket.
pub fn warning() -> Option<String> {
    const REMEDY: &str = "cadline stops at the end of stdin (Telegraf's stop signal), so it \
        exits now without connecting; run it under Telegraf's execd, or keep stdin open: \
        `sleep infinity | cadline ...`";
    let fd = Path::new("/proc/self/fd/0");
    let Ok(target) = std::fs::read_link(fd) else {
        // No /proc (not Linux), or stdin closed: only the latter is ours to
        // report, and reading stdin will say so.
        return None;
    };
    if target == Path::new("/dev/null") {
        return Some(format!("stdin is /dev/null: {REMEDY}"));
    }
    if std::fs::metadata(fd).is_ok_and(|m| m.is_file()) {
        return Some(format!("stdin is the file {}: {REMEDY}", target.display()));
    }
    None
}
