//! Real processes for the MQTT tests: a private Mosquitto on a free
//! loopback port, and cadline spawned the way Telegraf's execd spawns it
//! (stdin kept open, stdout read line by line). Everything is stopped and
//! removed on drop. A missing tool fails the test with the install command.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

// Waiting on child processes. No test waits on a child without a deadline:
// a test that hangs stalls CI until someone kills it by hand, and says
// nothing about what it waited for. Every wait goes through what follows
// (`Watched`, `run_with_timeout`, `signal`, `join_within`, `line_reader`),
// which fails naming what it waited for and kills the child first.

/// How long a short-lived tool (kill, openssl, mosquitto_passwd,
/// `cadline --help`, nix-instantiate) may take before the test fails: far
/// beyond what any of them takes, even on a loaded two-core machine.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// A child's pipe read to its end on a thread, so that a full pipe never
/// stalls the child and the test can look at what came so far.
struct PipeReader {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: Receiver<()>,
}

impl PipeReader {
    fn start(mut pipe: impl Read + Send + 'static) -> PipeReader {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = bytes.clone();
        let (tx, done) = crossbeam_channel::bounded(1);
        thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().expect("pipe lock").extend_from_slice(&buf[..n]),
                }
            }
            let _ = tx.send(());
        });
        PipeReader { bytes, done }
    }

    fn so_far(&self) -> Vec<u8> {
        self.bytes.lock().expect("pipe lock").clone()
    }

    /// Everything, once the pipe reached its end by `deadline`.
    fn until_eof(&self, deadline: Instant) -> Option<Vec<u8>> {
        match self.done.recv_deadline(deadline) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => Some(self.so_far()),
            Err(RecvTimeoutError::Timeout) => None,
        }
    }
}

/// A child process the test waits on only with a deadline. Its piped
/// stdout and stderr (unless handed to the test) are read on threads from
/// the start. Killed on drop, so that a failing assertion leaves nothing
/// running.
pub struct Watched {
    child: Child,
    what: String,
    stdout: Option<PipeReader>,
    stderr: Option<PipeReader>,
    feeder: Option<thread::JoinHandle<()>>,
}

impl Watched {
    /// Spawns `cmd` (its Stdio as the caller set them); `what` names the
    /// process in failures ("cadline --stdin", "mosquitto_pub").
    pub fn spawn(cmd: &mut Command, what: &str) -> Watched {
        let mut w = Watched::spawn_keeping_stdout(cmd, what);
        w.stdout = w.child.stdout.take().map(PipeReader::start);
        w
    }

    /// Like `spawn`, but a piped stdout is left for `take_stdout`: for
    /// tests that read it themselves (line by line, or not at all).
    pub fn spawn_keeping_stdout(cmd: &mut Command, what: &str) -> Watched {
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
        let stderr = child.stderr.take().map(PipeReader::start);
        Watched {
            child,
            what: what.to_owned(),
            stdout: None,
            stderr,
            feeder: None,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn take_stdin(&mut self) -> ChildStdin {
        self.child.stdin.take().expect("stdin is piped")
    }

    pub fn take_stdout(&mut self) -> ChildStdout {
        self.child
            .stdout
            .take()
            .expect("stdout is piped and kept (spawn_keeping_stdout)")
    }

    /// Writes `input` to stdin on a thread, then closes stdin (a child
    /// that reads slowly never blocks the test).
    pub fn feed(&mut self, input: Vec<u8>) {
        let mut stdin = self.take_stdin();
        self.feeder = Some(thread::spawn(move || {
            let _ = stdin.write_all(&input);
        }));
    }

    /// The exit status if the child has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// The exit status if the child exits within `timeout`; `None` if it
    /// still runs then (the caller asserts with its own message).
    pub fn exit_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stderr read so far (empty when it is not piped).
    pub fn stderr_so_far(&self) -> String {
        let bytes = self.stderr.as_ref().map(PipeReader::so_far);
        String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()
    }

    /// Kills the child and fails, naming what the test waited for.
    fn give_up(&mut self, waiting_for: &str, timeout: Duration) -> ! {
        self.kill();
        panic!(
            "{}: {waiting_for}: not within {timeout:?}, so it was killed; its stderr so far:\n{}",
            self.what,
            self.stderr_so_far()
        );
    }

    /// Waits up to `timeout` for the child to exit and its pipes to close
    /// (and the stdin feeder to end); the `Output`. Past the deadline it
    /// kills the child and fails saying it waited for `waiting_for`.
    pub fn finish(&mut self, timeout: Duration, waiting_for: &str) -> Output {
        let deadline = Instant::now() + timeout;
        let Some(status) = self.exit_within(timeout) else {
            self.give_up(waiting_for, timeout)
        };
        // A pipe still open after the exit is held by a process the child
        // left behind; that fails too rather than wait for it.
        let mut pipes = [Vec::new(), Vec::new()];
        for (i, (pipe, name)) in [(&self.stdout, "stdout"), (&self.stderr, "stderr")]
            .into_iter()
            .enumerate()
        {
            if let Some(p) = pipe {
                match p.until_eof(deadline) {
                    Some(bytes) => pipes[i] = bytes,
                    None => panic!(
                        "{}: its {name} to close after it exited ({status:?}): still open after \
                         {timeout:?} (a process it started holds it)",
                        self.what
                    ),
                }
            }
        }
        let [stdout, stderr] = pipes;
        if let Some(feeder) = self.feeder.take() {
            let left = deadline.saturating_duration_since(Instant::now());
            join_within(feeder, left, "the stdin feeder to end after the exit");
        }
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// SIGKILL, and reaps it (a killed process is reaped at once).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait(); // after SIGKILL: reaps at once, cannot block
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` to completion with `input` on its stdin (`None`: stdin on
/// /dev/null) and stdout and stderr captured, as `Command::output` does,
/// but fails (killing it) if it has not finished within `timeout`,
/// saying `what` it was.
pub fn run_with_timeout(
    cmd: &mut Command,
    input: Option<&[u8]>,
    timeout: Duration,
    what: &str,
) -> Output {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = Watched::spawn(cmd, what);
    if let Some(input) = input {
        child.feed(input.to_vec());
    }
    child.finish(timeout, "to finish")
}

/// Sends `sig` ("TERM", "KILL", …) to `pid` with kill(1), bounded like
/// every other child; whether kill succeeded.
pub fn signal(pid: u32, sig: &str) -> bool {
    run_with_timeout(
        Command::new("kill").args(["-s", sig, &pid.to_string()]),
        None,
        TOOL_TIMEOUT,
        &format!("kill -s {sig} {pid}"),
    )
    .status
    .success()
}

/// Joins a thread that waits on a child (a pipe reader, a feeder, a
/// publisher), failing if it has not ended within `timeout`.
pub fn join_within<T>(handle: thread::JoinHandle<T>, timeout: Duration, what: &str) -> T {
    let deadline = Instant::now() + timeout;
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        thread::sleep(Duration::from_millis(5));
    }
    // Finished: the join returns at once.
    handle
        .join()
        .unwrap_or_else(|_| panic!("{what}: the thread panicked"))
}

/// The lines of a child's pipe as they come, read on a thread; take them
/// with `recv_timeout`/`recv_deadline`, never `recv`. The thread ends
/// (closing the pipe) at the pipe's end or once the receiver is dropped
/// and another line comes.
pub fn line_reader(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = crossbeam_channel::unbounded();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first line of a child's pipe, read on a thread that then closes
/// the pipe (a reader like `| head -1`); fails if no line comes within
/// `timeout`, saying `waiting_for`.
pub fn first_line_then_close(
    pipe: impl Read + Send + 'static,
    timeout: Duration,
    waiting_for: &str,
) -> String {
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        let mut line = String::new();
        // Blocks this thread only; the test waits with recv_timeout below.
        let got = BufReader::new(pipe).read_line(&mut line).map(|_| line);
        let _ = tx.send(got);
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => panic!("{waiting_for}: the pipe failed: {e}"),
        Err(_) => panic!("{waiting_for}: not within {timeout:?}"),
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "cadline-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Finds a tool or fails naming the command that installs it.
pub fn tool(name: &str, package: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain([
        "/usr/sbin",
        "/usr/local/sbin",
        "/sbin",
    ]) {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} not found: install it with `apt-get install -y {package}` (or run tests/run.sh, which does)");
}

fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

/// TLS files for a broker listener.
#[derive(Clone)]
pub struct BrokerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub require_client_cert: bool,
    /// Client certificate and key for the test's own publisher when the
    /// broker requires one.
    pub publisher_cert: Option<(PathBuf, PathBuf)>,
}

/// How to configure a test broker.
#[derive(Clone, Default)]
pub struct BrokerConfig {
    /// (user, password): anonymous access is then refused.
    pub login: Option<(String, String)>,
    pub tls: Option<BrokerTls>,
    /// Seconds between persistence saves; `None` turns persistence off
    /// (a burst of queued messages is then not rewritten to disk every
    /// second).
    pub autosave: Option<u32>,
    /// Extra mosquitto.conf lines.
    pub extra: Vec<String>,
}

impl BrokerConfig {
    /// Persistence saved every second, so a SIGKILL loses little.
    pub fn persistent() -> BrokerConfig {
        BrokerConfig {
            autosave: Some(1),
            ..BrokerConfig::default()
        }
    }
}

/// A private Mosquitto.
pub struct Mosquitto {
    pub port: u16,
    config: BrokerConfig,
    dir: TempDir,
    child: Option<Watched>,
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Mosquitto::with(BrokerConfig::persistent())
    }

    pub fn with(config: BrokerConfig) -> Mosquitto {
        let dir = TempDir::new("mosquitto");
        let mut broker = Mosquitto {
            port: free_port(),
            config,
            dir,
            child: None,
        };
        broker.write_config();
        broker.launch();
        broker
    }

    fn write_config(&self) {
        let d = self.dir.path();
        let mut conf = vec![
            format!("listener {} 127.0.0.1", self.port),
            "user root".into(),
            "max_queued_messages 0".into(),
            "max_inflight_messages 20".into(),
            format!("log_dest file {}/mosquitto.log", d.display()),
            "log_type all".into(),
        ];
        if let Some(seconds) = self.config.autosave {
            conf.push("persistence true".into());
            conf.push(format!("persistence_location {}/", d.display()));
            conf.push(format!("autosave_interval {seconds}"));
        }
        match &self.config.login {
            Some((user, pass)) => {
                let file = d.join("passwd");
                // The password is on this command line, but only for a test
                // broker's throwaway login.
                let out = run_with_timeout(
                    Command::new(tool("mosquitto_passwd", "mosquitto"))
                        .args(["-b", "-c"])
                        .arg(&file)
                        .args([user, pass]),
                    None,
                    TOOL_TIMEOUT,
                    "mosquitto_passwd",
                );
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                conf.push("allow_anonymous false".into());
                conf.push(format!("password_file {}", file.display()));
            }
            None => conf.push("allow_anonymous true".into()),
        }
        if let Some(tls) = &self.config.tls {
            conf.push(format!("cafile {}", tls.ca.display()));
            conf.push(format!("certfile {}", tls.cert.display()));
            conf.push(format!("keyfile {}", tls.key.display()));
            if tls.require_client_cert {
                conf.push("require_certificate true".into());
            }
        }
        conf.extend(self.config.extra.iter().cloned());
        std::fs::write(d.join("mosquitto.conf"), conf.join("\n") + "\n").expect("config");
    }

    fn launch(&mut self) {
        let child = Watched::spawn(
            Command::new(tool("mosquitto", "mosquitto mosquitto-clients"))
                .arg("-c")
                .arg(self.dir.path().join("mosquitto.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "mosquitto",
        );
        self.child = Some(child);
        assert!(
            wait_for_port(self.port, Duration::from_secs(10)),
            "mosquitto did not listen:\n{}",
            self.log()
        );
    }

    pub fn url(&self) -> String {
        match self.config.tls {
            Some(_) => format!("mqtts://localhost:{}", self.port),
            None => format!("mqtt://127.0.0.1:{}", self.port),
        }
    }

    /// The broker's process id (for SIGSTOP and SIGCONT).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal to the broker (SIGHUP re-reads its ACL file).
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id();
        assert!(signal(pid, sig), "kill -s {sig} mosquitto");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// SIGKILL: no goodbye, no final persistence save.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// SIGTERM and wait (at most 30 s): persistence is written.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "TERM");
            c.finish(Duration::from_secs(30), "to exit after SIGTERM");
        }
    }

    /// Starts again on the same port with the same persistence directory.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    fn client_args(&self, cmd: &mut Command) {
        cmd.args(["-h", "localhost", "-p", &self.port.to_string()]);
        if let Some((user, pass)) = &self.config.login {
            cmd.args(["-u", user, "-P", pass]);
        }
        if let Some(tls) = &self.config.tls {
            cmd.arg("--cafile").arg(&tls.ca);
            if let Some((cert, key)) = &tls.publisher_cert {
                cmd.arg("--cert").arg(cert).arg("--key").arg(key);
            }
        }
    }

    /// Publishes one message with `mosquitto_pub`.
    pub fn publish(&self, topic: &str, payload: &str, qos: u8) {
        let mut cmd = Command::new(tool("mosquitto_pub", "mosquitto-clients"));
        self.client_args(&mut cmd);
        cmd.args(["-t", topic, "-q", &qos.to_string(), "-s"]);
        publish_with(cmd, payload.as_bytes());
    }

    /// Publishes every line as one message, fast (`mosquitto_pub -l`).
    ///
    /// In chunks: one `mosquitto_pub -l` fed far more QoS 1 messages than
    /// it can get acknowledged queues them in its own memory, and Mosquitto
    /// 2.0.11 then drops it "due to out of memory" around 35 000 messages
    /// (seen with `mosquitto_sub` as the subscriber too).
    pub fn publish_lines(&self, topic: &str, lines: &[String], qos: u8) {
        for chunk in lines.chunks(10_000) {
            let mut cmd = Command::new(tool("mosquitto_pub", "mosquitto-clients"));
            self.client_args(&mut cmd);
            cmd.args(["-t", topic, "-q", &qos.to_string(), "-l"]);
            let mut input = chunk.join("\n");
            input.push('\n');
            publish_with(cmd, input.as_bytes());
        }
    }
}

/// Runs a `mosquitto_pub` to completion: 10 000 QoS 1 messages take a few
/// seconds, so 120 s is only reached by a client that is stuck.
fn publish_with(mut cmd: Command, input: &[u8]) {
    let out = run_with_timeout(
        &mut cmd,
        Some(input),
        Duration::from_secs(120),
        "mosquitto_pub",
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The longest `Cadline::until_quiet` waits for its pause: far beyond the
/// largest burst a test reads that way (20 000 lines in a few seconds).
pub const UNTIL_QUIET_LIMIT: Duration = Duration::from_secs(300);

/// cadline as Telegraf runs it.
pub struct Cadline {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every stderr line with the moment it arrived, for timelines.
    stderr: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Cadline {
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Cadline {
        Cadline::spawn_reading(args, envs, None)
    }

    /// Like `spawn`, but stdout is read only as fast as the test takes
    /// lines, with at most `buffered` lines read ahead: a slow reader the
    /// way a stalled Telegraf is one, pushing back through the pipe.
    pub fn spawn_slow_reader(args: &[&str], buffered: usize) -> Cadline {
        Cadline::spawn_reading(args, &[], Some(buffered))
    }

    fn spawn_reading(args: &[&str], envs: &[(&str, &str)], buffered: Option<usize>) -> Cadline {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cadline"))
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cadline starts");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = match buffered {
            Some(n) => crossbeam_channel::bounded(n),
            None => crossbeam_channel::unbounded(),
        };
        thread::spawn(move || {
            // A small buffer too, so that "read ahead" means lines, not
            // the 8 KiB a default BufReader would swallow.
            let capacity = if buffered.is_some() { 256 } else { 64 * 1024 };
            for line in BufReader::with_capacity(capacity, stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let collected = Arc::new(Mutex::new(Vec::new()));
        let sink = collected.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock()
                    .expect("stderr lock")
                    .push((Instant::now(), line));
            }
        });
        Cadline {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: collected,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Lines until `n` arrived or `timeout` passed.
    pub fn collect(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < n {
            match self.lines.recv_deadline(deadline) {
                Ok(l) => out.push(l),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        out
    }

    /// Every line that arrives until none has for `quiet`. Fails if lines
    /// keep coming for `UNTIL_QUIET_LIMIT` (a cadline writing without end
    /// would otherwise keep the test waiting for ever).
    pub fn until_quiet(&self, quiet: Duration) -> Vec<String> {
        let deadline = Instant::now() + UNTIL_QUIET_LIMIT;
        let mut out = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(quiet) {
            out.push(l);
            assert!(
                Instant::now() < deadline,
                "cadline: a pause of {quiet:?} in its output: none within {UNTIL_QUIET_LIMIT:?} \
                 ({} lines); stderr: {:?}",
                out.len(),
                self.stderr()
            );
        }
        out
    }

    pub fn stderr(&self) -> Vec<String> {
        let lines = self.stderr.lock().expect("stderr lock");
        lines.iter().map(|(_, l)| l.clone()).collect()
    }

    /// Stderr lines prefixed with the seconds since `t0` they arrived at.
    pub fn stderr_since(&self, t0: Instant) -> Vec<String> {
        let lines = self.stderr.lock().expect("stderr lock");
        lines
            .iter()
            .map(|(t, l)| format!("{:.2}s {l}", t.duration_since(t0).as_secs_f64()))
            .collect()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn wait_for_stderr(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.stderr().iter().any(|l| l.contains(needle)) {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits until cadline says it is connected and subscribed.
    pub fn wait_connected(&self) {
        assert!(
            self.wait_for_stderr("onnected to", Duration::from_secs(15)),
            "cadline did not connect: {:?}",
            self.stderr()
        );
        // The SUBACK follows the CONNACK at once; give it a moment.
        thread::sleep(Duration::from_millis(200));
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    pub fn write_stdin(&mut self, bytes: &[u8]) {
        if let Some(s) = self.stdin.as_mut() {
            s.write_all(bytes).expect("write stdin");
            s.flush().expect("flush stdin");
        }
    }

    pub fn signal(&self, sig: &str) {
        assert!(signal(self.child.id(), sig), "kill -s {sig} cadline");
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(5));
        }
        None
    }

    /// Stops reading stdout (like Telegraf going away).
    pub fn close_stdout(&mut self) -> Receiver<String> {
        let (_tx, rx) = crossbeam_channel::unbounded();
        std::mem::replace(&mut self.lines, rx)
    }

    /// SIGKILL, and reaps it (a killed process is reaped at once; the
    /// reader threads end with its pipes and are never joined).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait(); // after SIGKILL: reaps at once, cannot block
    }
}

impl Drop for Cadline {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An electricitymeter payload whose `cumulative` is `seq` (so lines can be
/// matched to messages) and whose timestamp is fixed.
pub fn electricity(seq: u64) -> String {
    format!(
        r#"{{"electricitymeter":{{"timestamp":"2026-03-01T11:59:50Z","energy":{{"import":{{"cumulative":{seq},"units":"kWh"}}}},"power":{{"value":0.5,"units":"kW"}}}}}}"#
    )
}

/// The `cumulative` value of an electricitymeter line.
pub fn seq_of(line: &str) -> Option<u64> {
    let rest = line.split(" cumulative=").nth(1)?;
    rest.split([',', ' ']).next()?.parse().ok()
}

/// Certificates made for one test with the `openssl` command.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed none of the above.
    pub other_ca: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = run_with_timeout(
        Command::new(tool("openssl", "openssl"))
            .current_dir(dir)
            .args(args),
        None,
        TOOL_TIMEOUT,
        "openssl",
    );
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for localhost/127.0.0.1 and a client
/// certificate signed by it, and an unrelated CA.
pub fn make_tls(dir: &Path) -> TlsFiles {
    for ca in ["ca", "other-ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN=cadline test {ca}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }
    for (name, ext) in [
        ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"),
        ("client", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).expect("ext file");
        openssl(dir, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &format!("{name}.key")]);
        openssl(dir, &["req", "-new", "-key", &format!("{name}.key"), "-out", &format!("{name}.csr"), "-subj", &format!("/CN={}", if name == "server" { "localhost" } else { "cadline" })]);
        openssl(dir, &["x509", "-req", "-in", &format!("{name}.csr"), "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", &format!("{name}.pem"), "-days", "2", "-extfile", &format!("{name}.ext")]);
    }
    TlsFiles {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        other_ca: dir.join("other-ca.pem"),
    }
}

/// A private InfluxDB 1.x (`influxd` from Debian's `influxdb`).
pub struct Influx {
    pub port: u16,
    dir: TempDir,
    child: Watched,
}

impl Influx {
    pub fn start() -> Influx {
        let influxd = tool("influxd", "influxdb");
        let dir = TempDir::new("influx");
        let (port, rpc) = (free_port(), free_port());
        let d = dir.path().display();
        let conf = format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [monitor]\n  store-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
             [continuous_queries]\n  enabled = false\n"
        );
        std::fs::write(dir.path().join("influxdb.conf"), conf).expect("config");
        let log = std::fs::File::create(dir.path().join("influxd.log")).expect("log");
        let child = Watched::spawn(
            Command::new(influxd)
                .arg("-config")
                .arg(dir.path().join("influxdb.conf"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log),
            "influxd",
        );
        let influx = Influx { port, dir, child };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if influx
                .request("GET", "/ping", "")
                .map(|(s, _)| s == 204)
                .unwrap_or(false)
            {
                return influx;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "influxd did not answer /ping:\n{}",
            std::fs::read_to_string(influx.dir.path().join("influxd.log")).unwrap_or_default()
        );
    }

    /// One HTTP/1.1 request; (status, body).
    pub fn request(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        // Bounded both ways: a server that stops reading or answering
        // fails the request instead of holding the test.
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.set_write_timeout(Some(Duration::from_secs(30)))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(rest)
        } else {
            rest.to_owned()
        };
        Ok((status, body))
    }

    pub fn create_db(&self, db: &str) {
        let (status, body) = self
            .request(
                "POST",
                &format!("/query?q={}", encode(&format!("CREATE DATABASE \"{db}\""))),
                "",
            )
            .expect("query");
        assert_eq!(status, 200, "{body}");
    }

    /// Writes line protocol; Err carries InfluxDB's reason.
    pub fn write(&self, db: &str, lines: &str) -> Result<(), String> {
        match self.request("POST", &format!("/write?db={db}&precision=ns"), lines) {
            Ok((204, _)) => Ok(()),
            Ok((status, body)) => Err(format!("{status}: {body}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Runs InfluxQL; the JSON answer.
    pub fn query(&self, db: &str, q: &str) -> serde_json::Value {
        let (status, body) = self
            .request(
                "GET",
                &format!("/query?db={db}&epoch=ns&q={}", encode(q)),
                "",
            )
            .expect("query");
        assert_eq!(status, 200, "{q}: {body}");
        serde_json::from_str(&body).expect("JSON answer")
    }

    /// The rows of a single-series answer, or an empty list.
    pub fn rows(&self, db: &str, q: &str) -> Vec<Vec<serde_json::Value>> {
        let answer = self.query(db, q);
        let result = &answer["results"][0];
        assert!(result.get("error").is_none(), "{q}: {result}");
        result["series"]
            .as_array()
            .map(|series| {
                series
                    .iter()
                    .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
                    .map(|v| v.as_array().cloned().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Percent-encodes a query string value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Influx {
    /// SIGKILL, as a crashed or stopped server looks to a client; the data
    /// directory stays for `start_again`.
    pub fn stop(&mut self) {
        self.child.kill();
    }

    /// Starts again on the same port with the same data, and waits for
    /// `/ping`.
    pub fn start_again(&mut self) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("influxd.log"))
            .expect("log");
        self.child = Watched::spawn(
            Command::new(tool("influxd", "influxdb"))
                .arg("-config")
                .arg(self.dir.path().join("influxdb.conf"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log),
            "influxd",
        );
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if self
                .request("GET", "/ping", "")
                .map(|(s, _)| s == 204)
                .unwrap_or(false)
            {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("influxd did not answer /ping after a restart");
    }

    /// The URL Telegraf's `outputs.influxdb` writes to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `SELECT count(field) FROM measurement`, 0 when there is none.
    pub fn count(&self, db: &str, measurement: &str, field: &str) -> u64 {
        self.rows(
            db,
            &format!("SELECT count(\"{field}\") FROM \"{measurement}\""),
        )
        .first()
        .and_then(|r| r.get(1))
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
    }
}

/// The repository's root (tests read the shipped files from it).
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The Telegraf the tests run: `$CADLINE_TELEGRAF`, or the pinned build
/// `tests/run.sh` puts in the ignored `.tools/bin/`.
pub fn telegraf_bin() -> PathBuf {
    let path = std::env::var_os("CADLINE_TELEGRAF")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path(".tools/bin/telegraf"));
    assert!(
        path.is_file(),
        "Telegraf not found at {}: run tests/run.sh, which builds the pinned Telegraf there \
         (or point CADLINE_TELEGRAF at a Telegraf 1.39.3)",
        path.display()
    );
    path
}

/// The shipped `telegraf/cadline.conf` with only the cadline binary, the
/// broker URL and the prefix changed, in every command line (active or
/// commented). `variant` picks which command runs: `None` keeps the active
/// one; `Some(flag)` uncomments the commented alternative that contains
/// `flag` instead (e.g. "--persistent-session"). A test built on this
/// breaks when the shipped file does.
pub fn shipped_cadline_conf(broker: &str, prefix: &str, variant: Option<&str>) -> String {
    let text = std::fs::read_to_string(repo_path("telegraf/cadline.conf")).expect("cadline.conf");
    rewrite_execd(&text, broker, prefix, variant)
}

/// The rewrite behind `shipped_cadline_conf`, for any file with an execd
/// block in the shipped style (telegraf.conf too).
pub fn rewrite_execd(text: &str, broker: &str, prefix: &str, variant: Option<&str>) -> String {
    let bin = env!("CARGO_BIN_EXE_cadline");
    let mut out = Vec::new();
    let mut swapped = 0;
    for line in text.lines() {
        let bare = line.trim_start().trim_start_matches('#').trim_start();
        if !bare.starts_with("command = [") {
            out.push(line.to_owned());
            continue;
        }
        assert!(
            bare.contains("\"/usr/local/bin/cadline\""),
            "the shipped command no longer runs /usr/local/bin/cadline: {line}"
        );
        let mut cmd = bare.replace("\"/usr/local/bin/cadline\"", &format!("\"{bin}\""));
        for url in ["mqtt://localhost:1883", "mqtts://broker.lan:8883"] {
            cmd = cmd.replace(&format!("\"{url}\""), &format!("\"{broker}\""));
        }
        for p in ["glow", "energy"] {
            cmd = cmd.replace(
                &format!("\"--prefix\", \"{p}\""),
                &format!("\"--prefix\", \"{prefix}\""),
            );
        }
        let active = !line.trim_start().starts_with('#');
        let run = match variant {
            None => active,
            Some(flag) => !active && bare.contains(flag),
        };
        if run {
            swapped += 1;
        }
        let indent = &line[..line.len() - line.trim_start().len()];
        out.push(if run {
            format!("{indent}{cmd}")
        } else {
            format!("{indent}# {cmd}")
        });
    }
    assert_eq!(
        swapped, 1,
        "exactly one command runs ({variant:?}):\n{text}"
    );
    out.join("\n") + "\n"
}

/// A real Telegraf running a configuration written by the test, its log
/// (stderr, with its own timestamps) in a file. Stopped on drop; started
/// again on the same configuration with `start_again`.
pub struct Telegraf {
    dir: TempDir,
    child: Option<Watched>,
}

impl Telegraf {
    pub fn start(config: &str) -> Telegraf {
        let dir = TempDir::new("telegraf");
        std::fs::write(dir.path().join("telegraf.conf"), config).expect("config");
        let mut t = Telegraf { dir, child: None };
        t.start_again();
        t
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("telegraf.conf")
    }

    /// Starts Telegraf (again) on the same configuration; the log goes on.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "Telegraf is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("telegraf.log"))
            .expect("log");
        // --strict-env-handling is v1.38's default; saying so silences the
        // banner that warns about the change, which is not about our files.
        let child = Watched::spawn(
            Command::new(telegraf_bin())
                .arg("--strict-env-handling")
                .arg("--config")
                .arg(self.config_path())
                .current_dir(self.dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log),
            "telegraf",
        );
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Watched::id).expect("Telegraf runs")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("telegraf.log")).unwrap_or_default()
    }

    /// Waits until the log holds `needle` `times` times.
    pub fn wait_for_log(&self, needle: &str, times: usize, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().matches(needle).count() >= times {
                return true;
            }
            thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn signal(&self, sig: &str) {
        assert!(signal(self.pid(), sig), "kill -s {sig} telegraf");
    }

    /// SIGKILL: Telegraf's buffers die with it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// SIGTERM, then waits up to `timeout` for Telegraf to exit.
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        signal(c.id(), "TERM");
        // Dropping `c` kills it if it is still running.
        c.exit_within(timeout)
    }
}

impl Drop for Telegraf {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Processes of the test's cadline binary whose command line contains
/// `marker` (e.g. a client id), wherever their parent is.
pub fn cadline_pids(marker: &str) -> Vec<u32> {
    let bin = std::fs::canonicalize(env!("CARGO_BIN_EXE_cadline")).expect("cadline binary");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        if exe != bin {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // A zombie has an empty command line and is gone for the test.
        if cmdline.contains(marker) {
            pids.push(pid);
        }
    }
    pids
}

/// Waits until `cadline_pids(marker)` has `n` entries.
pub fn wait_for_cadlines(marker: &str, n: usize, timeout: Duration) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let pids = cadline_pids(marker);
        if pids.len() == n || start.elapsed() > timeout {
            return pids;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

// The waiting mechanism itself: a wait that never ends fails promptly,
// names what it waited for and leaves nothing running.

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .expect_err("the wait should have failed");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn a_child_that_never_exits_fails_the_wait_naming_what_it_waited_for() {
    let mut child = Watched::spawn(
        Command::new("sh")
            .args(["-c", "echo about to hang >&2; exec sleep 30"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "a hanging sh",
    );
    let start = Instant::now();
    let message = panic_message(|| {
        child.finish(Duration::from_millis(500), "to exit");
    });
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(
        message.starts_with("a hanging sh: to exit: not within 500ms, so it was killed")
            && message.contains("about to hang"),
        "{message}"
    );
    assert!(
        child.exited().is_some(),
        "still running after the failed wait"
    );
}

#[test]
fn a_pipe_a_grandchild_keeps_open_fails_the_wait_instead_of_hanging() {
    // sh exits at once; the sleep it left behind holds stdout open.
    let mut child = Watched::spawn(
        Command::new("sh")
            .args(["-c", "sleep 3 & echo started"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "sh leaving a sleep behind",
    );
    let start = Instant::now();
    let message = panic_message(|| {
        child.finish(Duration::from_millis(500), "to exit");
    });
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(
        message.contains("its stdout to close after it exited"),
        "{message}"
    );
}

#[test]
fn run_with_timeout_and_first_line_fail_instead_of_hanging() {
    let start = Instant::now();
    let message = panic_message(|| {
        run_with_timeout(
            Command::new("sleep").arg("30"),
            None,
            Duration::from_millis(300),
            "sleep 30",
        );
    });
    assert!(
        message.starts_with("sleep 30: to finish: not within 300ms"),
        "{message}"
    );
    let mut silent = Watched::spawn_keeping_stdout(
        Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "sleep 30",
    );
    let stdout = silent.take_stdout();
    let message = panic_message(|| {
        first_line_then_close(stdout, Duration::from_millis(300), "a line from sleep");
    });
    assert_eq!(message, "a line from sleep: not within 300ms");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
