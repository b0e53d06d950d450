//! A child process driven the way Telegraf's execd input drives cadline:
//! stdin is a pipe kept open (EOF means "stop"), stdout is read line by line
//! as it comes, stderr is read line by line on its own so the child never
//! blocks on a full pipe.

use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::ops::{Deref, DerefMut};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

/// Any program under test with piped stdin, stdout and stderr. Dropping it
/// kills and reaps the process.
pub struct ProcessUnderTest {
    child: Child,
    program: String,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// Set when stdout ended with bytes after the last `\n` (delivered as a
    /// last line): Telegraf would never count such a fragment.
    unterminated: Arc<AtomicBool>,
    status: Option<ExitStatus>,
}

impl ProcessUnderTest {
    /// Starts `program` with `args` and extra environment variables (added
    /// to the test's own environment, as Telegraf's `environment` does).
    pub fn spawn(program: impl AsRef<OsStr>, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(program);
        cmd.args(args).envs(env.iter().copied());
        ProcessUnderTest::spawn_command(cmd)
    }

    /// Starts a prepared command (for `current_dir`, `env_clear`, ...); its
    /// stdio is replaced by pipes.
    pub fn spawn_command(mut cmd: Command) -> Self {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");

        let (tx, lines) = crossbeam_channel::unbounded();
        let unterminated = Arc::new(AtomicBool::new(false));
        let flag = unterminated.clone();
        thread::spawn(move || {
            for_each_line(stdout, |line, terminated| {
                if !terminated {
                    flag.store(true, Ordering::SeqCst);
                }
                tx.send(line).is_ok()
            })
        });

        let collected = Arc::new(Mutex::new(Vec::new()));
        let sink = collected.clone();
        thread::spawn(move || {
            for_each_line(stderr, |line, _| {
                sink.lock().map(|mut v| v.push(line)).is_ok()
            })
        });

        ProcessUnderTest {
            stdin: child.stdin.take(),
            child,
            program,
            lines,
            stderr: collected,
            unterminated,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line (without its `\n`; a `\r` is kept so tests can
    /// see CRLF), or None after `timeout` or once stdout is closed and drained.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Stdout lines until `n` have come, `timeout` has passed, or stdout
    /// closed, whichever is first.
    pub fn collect_lines(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < n {
            match self.lines.recv_deadline(deadline) {
                Ok(line) => out.push(line),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        out
    }

    /// Every stdout line until none has come for `quiet`, or `max` has passed
    /// in all, or stdout closed. For "and nothing else arrives" checks.
    pub fn lines_until_quiet(&self, quiet: Duration, max: Duration) -> Vec<String> {
        let deadline = Instant::now() + max;
        let mut out = Vec::new();
        loop {
            let wait = quiet.min(deadline.saturating_duration_since(Instant::now()));
            match self.lines.recv_timeout(wait) {
                Ok(line) => out.push(line),
                Err(_) => break,
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        out
    }

    /// True if stdout ended with bytes after its last newline. That last
    /// fragment is delivered as a line, but Telegraf would drop it.
    pub fn stdout_ended_unterminated(&self) -> bool {
        self.unterminated.load(Ordering::SeqCst)
    }

    /// The stderr lines so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Waits until a stderr line contains `needle`; false after `timeout`.
    pub fn wait_for_stderr(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stderr().iter().any(|l| l.contains(needle)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Writes and flushes `bytes` to stdin; panics if that fails or stdin
    /// was closed. Use [`try_write_stdin`](Self::try_write_stdin) to see EPIPE.
    pub fn write_stdin(&mut self, bytes: &[u8]) {
        let program = self.program.clone();
        self.try_write_stdin(bytes)
            .unwrap_or_else(|e| panic!("writing to {program}'s stdin: {e}"));
    }

    pub fn try_write_stdin(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "stdin already closed"))?;
        stdin.write_all(bytes)?;
        stdin.flush()
    }

    /// Closes stdin: what Telegraf does first when it stops the input.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Sends a signal by name ("TERM", "SIGINT", "HUP", ...) with the `kill`
    /// command, which keeps the tests free of `unsafe` libc calls.
    pub fn signal(&self, sig: &str) {
        let sig = sig.trim_start_matches("SIG");
        let status = Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("running kill -s {sig}: {e}"));
        assert!(status.success(), "kill -s {sig} {} failed", self.pid());
    }

    /// The exit status once the process has exited (polling every 10 ms), or
    /// None if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The exit status if it has exited, without waiting.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// SIGKILL and reap (no-op if it already exited).
    pub fn kill(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

impl Drop for ProcessUnderTest {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Calls `f(line, ended_with_newline)` for each `\n`-terminated line of
/// `r`, decoding lossily (a bad byte must not end the reader, which would
/// hide every later line), until EOF or `f` returns false.
fn for_each_line(r: impl Read, mut f: impl FnMut(String, bool) -> bool) {
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let terminated = buf.last() == Some(&b'\n');
                if terminated {
                    buf.pop();
                }
                if !f(String::from_utf8_lossy(&buf).into_owned(), terminated) {
                    return;
                }
            }
        }
    }
}

/// The cadline binary under test, spawned like Telegraf's execd spawns it.
/// Every [`ProcessUnderTest`] method is available through `Deref`.
pub struct CadlineProcess(ProcessUnderTest);

impl CadlineProcess {
    /// Starts `cadline` (the binary Cargo built for this test run).
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> CadlineProcess {
        CadlineProcess(ProcessUnderTest::spawn(
            env!("CARGO_BIN_EXE_cadline"),
            args,
            env,
        ))
    }

    /// The path of the binary under test.
    pub fn path() -> &'static str {
        env!("CARGO_BIN_EXE_cadline")
    }
}

impl Deref for CadlineProcess {
    type Target = ProcessUnderTest;
    fn deref(&self) -> &ProcessUnderTest {
        &self.0
    }
}

impl DerefMut for CadlineProcess {
    fn deref_mut(&mut self) -> &mut ProcessUnderTest {
        &mut self.0
    }
}
