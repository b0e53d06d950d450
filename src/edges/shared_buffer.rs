//! Two Telegrafs on one disk buffer: a `telegraf --once` beside the
//! service, or a second Telegraf on a copied configuration.
//!
//! Telegraf 1.39.3 has no lock on `buffer_directory`: `models/buffer_disk.go`
//! opens `<buffer_directory>/<output id>` with `tidwall/wal` as it is, and
//! the output id is a hash of the output's configuration, so the same
//! configuration opens the same files. influxdata/telegraf#31 ("nothing
//! prevents launching multiple instances of telegraf") was closed as
//! intended. A `--once` run on the service's configuration flushes what it
//! finds there (the service's pending metrics too) and trims the files
//! under the running service, whose buffer then breaks (`panic: log
//! corrupt`, `remove …: no such file or directory`).
//!
//! cadline is started by that `--once` run before its outputs flush
//! (`agent.runOnce` opens the outputs' buffers when it loads the
//! configuration, starts the inputs, and flushes at the end, or on the
//! first `flush_interval` tick), so it can tell and stop it: when another
//! Telegraf holds a segment of one of the same buffers open, cadline says
//! so in one `E!` line and SIGKILLs its own `--once` parent, which then
//! neither writes nor trims. Under the service it only says so: stopping a
//! service is not cadline's to decide. `telegraf --test` uses no buffer
//! (Telegraf's test mode discards), so it is left alone.
//!
//! Why open files, not configurations: the buffer shared is one output's
//! subdirectory, named by a hash of that output's settings that cadline
//! cannot recompute, and a `buffer_directory` shared by two Telegrafs with
//! different outputs is harmless. Each Telegraf keeps the tail segment of
//! each disk buffer open (a file named by 20 digits), so two processes
//! with a segment open in the same directory share that buffer. Reading
//! another process's descriptors needs its user or root; a `--once` run
//! by any other user cannot open the service's buffer directory either
//! (Telegraf stops at start: `creating buffer failed`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::telegraf_parent::{is_telegraf, RunMode, TelegrafParent};

/// How long the `E!` line is given to reach Telegraf's log before the
/// `--once` parent that reads it is killed. Far below the shipped 10 s
/// `flush_interval`, before which a `--once` run writes nothing.
const LOG_GRACE: Duration = Duration::from_millis(200);

/// Another Telegraf that has one of the parent's disk buffers open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharer {
    pub pid: u32,
    /// Its command line, for a person to recognise it.
    pub command: String,
    /// The buffer directory (`<buffer_directory>/<output id>`) both use.
    pub buffer: PathBuf,
}

/// Whether `name` is a `tidwall/wal` segment file: the index as 20 digits.
pub fn is_segment(name: &str) -> bool {
    name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit())
}

/// The disk buffers (`<buffer_directory>/<output id>`) process `pid` has a
/// segment of open; empty when its descriptors cannot be read.
fn open_buffers(pid: u32) -> BTreeSet<PathBuf> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| {
            target
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_segment)
        })
        .filter_map(|target| target.parent().map(Path::to_owned))
        .collect()
}

/// Every other running Telegraf that has one of `buffers` open.
fn sharers(parent: u32, buffers: &BTreeSet<PathBuf>) -> Vec<Sharer> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == parent || pid == std::process::id() {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv: Vec<String> = cmdline
            .split(|&b| b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !is_telegraf(argv.first().map_or("", String::as_str), &comm) {
            continue;
        }
        if let Some(buffer) = open_buffers(pid).intersection(buffers).next() {
            found.push(Sharer {
                pid,
                command: argv.join(" "),
                buffer: buffer.clone(),
            });
        }
    }
    found
}

/// A command line cut to a length that fits a log line.
fn short(command: &str) -> String {
    const MAX: usize = 160;
    match command.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &command[..i]),
        None => command.to_owned(),
    }
}

/// The line for a `--once` run that was stopped.
pub fn once_message(other: &Sharer, once_pid: u32) -> String {
    format!(
        "Run by telegraf --once while another Telegraf (pid {}: {}) uses the same disk buffer \
         {}: Telegraf has no lock on buffer_directory, and this run's flush would write and trim \
         the other's buffer under it (it then panics: log corrupt). Stopped this telegraf --once \
         (pid {once_pid}) before it wrote anything. Beside a running service, run `cadline check` \
         with the service's flags instead (or telegraf --test, which uses no buffer)",
        other.pid,
        short(&other.command),
        other.buffer.display()
    )
}

/// The line for a service that shares its buffer with another Telegraf.
pub fn service_message(other: &Sharer) -> String {
    format!(
        "Another Telegraf (pid {}: {}) uses this Telegraf's disk buffer {}: Telegraf has no \
         lock on buffer_directory, so each trims the other's buffer (Telegraf then panics: log \
         corrupt) and readings are lost or written twice. Stop one, or give each its own \
         buffer_directory",
        other.pid,
        short(&other.command),
        other.buffer.display()
    )
}

/// Looks for another Telegraf on the parent's disk buffer and says so; a
/// `--once` parent is stopped. `true` when it was: cadline then exits.
pub fn guard() -> bool {
    let Some(parent) = TelegrafParent::detect() else {
        return false;
    };
    if parent.mode == RunMode::Test {
        return false;
    }
    let buffers = open_buffers(parent.pid);
    if buffers.is_empty() {
        return false;
    }
    let Some(other) = sharers(parent.pid, &buffers).into_iter().next() else {
        return false;
    };
    if parent.mode != RunMode::Once {
        crate::error!("{}", service_message(&other));
        return false;
    }
    crate::error!("{}", once_message(&other, parent.pid));
    std::thread::sleep(LOG_GRACE);
    let stopped = i32::try_from(parent.pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|pid| {
            rustix::process::kill_process(pid, rustix::process::Signal::KILL).is_ok()
        });
    if !stopped {
        crate::error!(
            "Could not stop telegraf --once (pid {}): stop it now (kill -9 {}) before it flushes",
            parent.pid,
            parent.pid
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_20_digit_name_is_a_wal_segment() {
        assert!(is_segment("00000000000000000001"));
        assert!(!is_segment("00000000000000000001.START"));
        assert!(!is_segment("0000000000000000001"));
        assert!(!is_segment("telegraf.conf"));
        assert!(!is_segment("0000000000000000000a"));
    }

    fn other() -> Sharer {
        Sharer {
            pid: 41,
            command: "/usr/bin/telegraf -config /etc/telegraf/telegraf.conf".into(),
            buffer: "/var/lib/telegraf/buffer/9f2c".into(),
        }
    }

    #[test]
    fn the_once_line_names_the_other_the_buffer_and_the_safe_command() {
        let text = once_message(&other(), 77);
        for needle in [
            "Run by telegraf --once",
            "pid 41: /usr/bin/telegraf -config /etc/telegraf/telegraf.conf",
            "/var/lib/telegraf/buffer/9f2c",
            "no lock on buffer_directory",
            "log corrupt",
            "Stopped this telegraf --once (pid 77)",
            "`cadline check`",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }

    #[test]
    fn the_service_line_names_the_other_and_the_fix() {
        let text = service_message(&other());
        for needle in [
            "pid 41",
            "/var/lib/telegraf/buffer/9f2c",
            "its own buffer_directory",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        let long = Sharer {
            command: "x".repeat(500),
            ..other()
        };
        assert!(service_message(&long).len() < 500);
    }

    #[test]
    fn a_test_process_shares_no_buffer() {
        // cargo runs the tests: no Telegraf above, nothing to stop.
        assert!(!guard());
    }
}
