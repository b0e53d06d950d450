//! The last thing cadline does: end its stdout and stderr a moment before
//! the process itself ends.
//!
//! Telegraf's execd (its `internal/process`, read at v1.39.3) reads our
//! stdout and stderr in two goroutines and calls Go's `Cmd.Wait` as soon as
//! the process exits; `Wait` closes both pipes, and a reader that had not
//! yet read the end of its pipe then logs
//! `E! [inputs.execd] ... read |0: file already closed` in the operator's
//! log, at about one stop in seven. Pointing fds 1 and 2 at /dev/null ends
//! both pipes while the process still runs (our duplicate of stdout is
//! closed by then with the writer), so each reader reaches its end of file
//! and finishes in the pause before the exit, and `Wait` closes pipes
//! nobody reads.

use std::io::Write;
use std::time::Duration;

/// How long the readers get between the end of the pipes and the exit.
const READERS_FINISH: Duration = Duration::from_millis(100);

/// Ends stdout and stderr, then pauses: call it once, after the last line
/// and the last message were written. Nothing can be reported if it fails
/// (stderr may be gone), and nothing is lost: the process is exiting.
pub fn end_stdout_and_stderr() {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    let ended = rustix::stdio::dup2_stdout(&null).is_ok();
    let ended = rustix::stdio::dup2_stderr(&null).is_ok() || ended;
    if ended {
        std::thread::sleep(READERS_FINISH);
    }
}
