//! A panic on any thread, ours or a library's, ends cadline with one `E!`
//! line and exit status 101.
//!
//! Rust's default is a multi-line message and backtrace on stderr, then
//! (the release profile has `panic = "abort"`) SIGABRT. Telegraf's execd
//! logs every stderr line without a prefix as an error of its own, so one
//! panic became a dozen unrelated-looking errors; and a panic on a thread
//! other than main would, with unwinding, leave the process running with a
//! dead part. This hook runs before any unwinding or abort: it prints one
//! line, ends stdio the way every exit does (`stdio_end`), and exits, so
//! Telegraf restarts cadline after its `restart_delay`. Messages not yet
//! acknowledged are redelivered by the broker then.

use std::any::Any;
use std::panic::Location;

use crate::edges::messages::{self, LogLevel};

/// The exit status after a panic: Rust's own for a panicking `main`.
pub const STATUS: i32 = 101;

/// Installs the hook. Call it first thing in `main`.
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        messages::emit(LogLevel::Error, &line(info.payload(), info.location()));
        crate::edges::stdio_end::end_stdout_and_stderr();
        std::process::exit(STATUS);
    }));
}

/// `cadline crashed: ...`, one line (messages::format_line makes any
/// newline in the panic's text a space). Takes the hook's parts rather
/// than its argument, whose type was renamed after our MSRV.
fn line(payload: &(dyn Any + Send), location: Option<&Location<'_>>) -> String {
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    let at = location
        .map(|l| format!(" at {}:{}", short_path(l.file()), l.line()))
        .unwrap_or_default();
    format!(
        "cadline {} crashed (panic in thread '{thread}'{at}: {what}); exiting with status \
         {STATUS} so that Telegraf restarts it. This is a bug: please report this line",
        env!("CARGO_PKG_VERSION")
    )
}

/// A library's source path without the build machine's registry prefix:
/// `rumqttc-0.25.1/src/client.rs`, not `/root/.cargo/registry/src/...`.
fn short_path(file: &str) -> &str {
    match file.find("/registry/src/") {
        Some(i) => file[i + "/registry/src/".len()..]
            .split_once('/')
            .map_or(file, |(_, rest)| rest),
        None => file,
    }
}

/// A deliberate panic for the tests, which have no other way to reach this
/// hook on the real binary: `CADLINE_TEST_PANIC=<thread name>` panics on
/// that thread when it starts its work (`main`, `mqtt connection`,
/// `writer`, `pipe`). Not a flag, not in `--help`: an environment that can
/// set it can as well kill the process.
#[track_caller]
pub fn test_trigger(thread: &str) {
    if std::env::var("CADLINE_TEST_PANIC").is_ok_and(|v| v == thread) {
        panic!("CADLINE_TEST_PANIC={thread}\nsecond line of the message");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_paths_are_shortened_and_ours_kept() {
        assert_eq!(
            short_path(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/rumqttc-0.25.1/src/client.rs"
            ),
            "rumqttc-0.25.1/src/client.rs"
        );
        assert_eq!(short_path("src/main.rs"), "src/main.rs");
    }
}
