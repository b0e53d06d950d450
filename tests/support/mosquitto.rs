//! A private Mosquitto broker per test, and the real `mosquitto_pub` /
//! `mosquitto_sub` clients to talk to it.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::ports::free_port;
use super::process::ProcessUnderTest;
use super::tempdir::TempDir;
use super::tls::TlsFiles;
use super::tools::find_tool;

/// How long a broker gets to accept TCP after (re)start.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one `mosquitto_pub` run may take before it is killed.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// `mosquitto_pub -l` lines per client run. One run fed far more QoS 1
/// messages than it gets acknowledged queues them all in its own memory,
/// and Mosquitto 2.0.11 then drops it "due to out of memory" at around
/// 35 000 messages, so bursts go in chunks.
const LINES_PER_CLIENT: usize = 10_000;

/// A TLS listener. The files are read at every (re)start, so the directory
/// holding them must outlive the broker.
#[derive(Clone, Debug)]
pub struct MosquittoTls {
    pub cafile: PathBuf,
    pub certfile: PathBuf,
    pub keyfile: PathBuf,
    /// Clients must present a certificate signed by `cafile`.
    pub require_certificate: bool,
    /// Certificate and key the harness's own clients present (needed when
    /// `require_certificate` is set).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl MosquittoTls {
    /// A listener with the server certificate of `files`; clients need no
    /// certificate of their own.
    pub fn server_only(files: &TlsFiles) -> MosquittoTls {
        MosquittoTls {
            cafile: files.ca_cert.clone(),
            certfile: files.server_cert.clone(),
            keyfile: files.server_key.clone(),
            require_certificate: false,
            client_cert: None,
        }
    }

    /// A listener that requires client certificates; the harness's clients
    /// present the client certificate of `files`.
    pub fn mutual(files: &TlsFiles) -> MosquittoTls {
        MosquittoTls {
            require_certificate: true,
            client_cert: Some((files.client_cert.clone(), files.client_key.clone())),
            ..MosquittoTls::server_only(files)
        }
    }
}

/// Broker settings, built up with the methods below and ended with
/// [`start`](MosquittoConfig::start).
#[derive(Clone, Debug)]
pub struct MosquittoConfig {
    /// (user, password): anonymous clients are then refused.
    pub credentials: Option<(String, String)>,
    /// Seconds between persistence saves. Mosquitto's default is 1800, which
    /// makes a SIGKILLed broker forget every session and queued message; 1
    /// keeps "broker killed mid-stream" tests meaningful.
    pub autosave_interval: u32,
    /// Where `mosquitto.db` goes; None means a directory inside the broker's
    /// own temp dir. It is kept across `kill`/`stop` and `restart`.
    pub persistence_location: Option<PathBuf>,
    pub tls: Option<MosquittoTls>,
    /// `log_type all` (every packet) instead of connections and
    /// subscriptions only. Slow for bursts, handy when debugging.
    pub log_all: bool,
    /// Further mosquitto.conf lines, appended after the listener's own.
    pub extra_lines: Vec<String>,
}

impl Default for MosquittoConfig {
    fn default() -> Self {
        MosquittoConfig {
            credentials: None,
            autosave_interval: 1,
            persistence_location: None,
            tls: None,
            log_all: false,
            extra_lines: Vec::new(),
        }
    }
}

impl MosquittoConfig {
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.to_owned(), password.to_owned()));
        self
    }

    pub fn autosave_interval(mut self, seconds: u32) -> Self {
        self.autosave_interval = seconds;
        self
    }

    pub fn persistence_location(mut self, dir: impl Into<PathBuf>) -> Self {
        self.persistence_location = Some(dir.into());
        self
    }

    pub fn tls(mut self, tls: MosquittoTls) -> Self {
        self.tls = Some(tls);
        self
    }

    pub fn log_all(mut self) -> Self {
        self.log_all = true;
        self
    }

    pub fn extra_line(mut self, line: &str) -> Self {
        self.extra_lines.push(line.to_owned());
        self
    }

    pub fn start(self) -> Mosquitto {
        Mosquitto::start_with(self)
    }
}

/// What a `mosquitto_pub`/`mosquitto_sub` run connects with. Start from
/// [`Mosquitto::client_options`] (what the broker accepts) and change a
/// field to test a refusal.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// `-h`: "127.0.0.1", or "localhost" for TLS, where the name is checked
    /// against the server certificate.
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
    /// `--cafile`: set means the client speaks TLS.
    pub cafile: Option<PathBuf>,
    /// `--cert`, `--key`.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl ClientOptions {
    fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec![
            "-h".into(),
            self.host.clone().into(),
            "-p".into(),
            self.port.to_string().into(),
        ];
        if let Some((user, password)) = &self.credentials {
            a.extend(["-u".into(), user.into(), "-P".into(), password.into()]);
        }
        if let Some(ca) = &self.cafile {
            a.extend(["--cafile".into(), ca.into()]);
        }
        if let Some((cert, key)) = &self.client_cert {
            a.extend(["--cert".into(), cert.into(), "--key".into(), key.into()]);
        }
        a
    }
}

/// A Mosquitto process of this test's own, on a free loopback port, with
/// its config, password file, persistence and log in a temp dir. Dropping
/// it kills the process.
pub struct Mosquitto {
    port: u16,
    config: MosquittoConfig,
    dir: TempDir,
    child: Option<Child>,
    next_client: AtomicU64,
}

impl Mosquitto {
    /// A broker with the default settings: anonymous, plain TCP,
    /// persistence saved every second.
    pub fn start() -> Mosquitto {
        Mosquitto::start_with(MosquittoConfig::default())
    }

    /// Settings to change before [`MosquittoConfig::start`].
    pub fn builder() -> MosquittoConfig {
        MosquittoConfig::default()
    }

    pub fn start_with(config: MosquittoConfig) -> Mosquitto {
        let dir = TempDir::new("mosquitto");
        let mut broker = Mosquitto {
            port: 0,
            config,
            dir,
            child: None,
            next_client: AtomicU64::new(0),
        };
        std::fs::create_dir_all(broker.persistence_dir()).expect("persistence dir");
        if let Some((user, password)) = &broker.config.credentials {
            let out = Command::new(find_tool("mosquitto_passwd"))
                .args(["-b", "-c"])
                .arg(broker.dir.join("passwd"))
                .args([user, password])
                .output()
                .expect("running mosquitto_passwd");
            assert!(
                out.status.success(),
                "mosquitto_passwd: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // free_port() can race with another process; one retry on a new
        // port covers it.
        for attempt in 0..2 {
            broker.port = free_port();
            broker.write_config();
            match broker.launch() {
                Ok(()) => return broker,
                Err(Launch::BindFailed) if attempt == 0 => continue,
                Err(e) => broker.fail(&format!("{e:?}")),
            }
        }
        unreachable!("the second attempt returns or panics")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL cadline takes: `mqtt://127.0.0.1:PORT`, or for TLS
    /// `mqtts://localhost:PORT` (the name in the server certificate).
    pub fn url(&self) -> String {
        match self.config.tls {
            Some(_) => format!("mqtts://localhost:{}", self.port),
            None => format!("mqtt://127.0.0.1:{}", self.port),
        }
    }

    pub fn config(&self) -> &MosquittoConfig {
        &self.config
    }

    /// The broker's temp dir (config, password file, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn persistence_dir(&self) -> PathBuf {
        self.config
            .persistence_location
            .clone()
            .unwrap_or_else(|| self.dir.join("persistence"))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Mosquitto's log file (plus anything it wrote on stdout/stderr
    /// before the log file was open).
    pub fn log(&self) -> String {
        let mut s = std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default();
        s.push_str(&std::fs::read_to_string(self.dir.join("stdio.log")).unwrap_or_default());
        s
    }

    /// The last `n` lines of [`log`](Self::log), for panic messages.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits until a log line contains `needle`; false after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap: no goodbye to clients and no final persistence
    /// save, like a power cut.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait (SIGKILL after 10 s): Mosquitto writes its
    /// persistence file on the way out, like `systemctl stop`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-s", "TERM", &child.id().to_string()])
                .status();
            if wait_child(&mut child, Duration::from_secs(10)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Starts the broker again (killing it first if it still runs) on the
    /// same port with the same config and persistence, and waits until it
    /// accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(e) = self.launch() {
            self.fail(&format!("restart on the same port: {e:?}"));
        }
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn write_config(&self) {
        let d = self.dir.path();
        let mut conf = vec![
            format!("listener {} 127.0.0.1", self.port),
            // Started as root, Mosquitto would switch to the `mosquitto`
            // user and then fail to read our private temp dir.
            "user root".to_owned(),
            // The default (1000) silently drops QoS 1 messages queued for a
            // slow or absent client: burst tests need no limit.
            "max_queued_messages 0".to_owned(),
            "persistence true".to_owned(),
            // Mosquitto appends the file name without a separator.
            format!("persistence_location {}/", self.persistence_dir().display()),
            format!("autosave_interval {}", self.config.autosave_interval),
            format!("log_dest file {}", d.join("mosquitto.log").display()),
            "log_timestamp_format %H:%M:%S".to_owned(),
        ];
        if self.config.log_all {
            conf.push("log_type all".to_owned());
        } else {
            // `subscribe` lines let `subscribe()` know when a subscription
            // is in place; per-message lines would slow bursts down.
            for t in ["error", "warning", "notice", "information", "subscribe"] {
                conf.push(format!("log_type {t}"));
            }
        }
        match &self.config.credentials {
            Some(_) => {
                conf.push("allow_anonymous false".to_owned());
                conf.push(format!("password_file {}", d.join("passwd").display()));
            }
            None => conf.push("allow_anonymous true".to_owned()),
        }
        if let Some(tls) = &self.config.tls {
            conf.push(format!("cafile {}", tls.cafile.display()));
            conf.push(format!("certfile {}", tls.certfile.display()));
            conf.push(format!("keyfile {}", tls.keyfile.display()));
            if tls.require_certificate {
                conf.push("require_certificate true".to_owned());
            }
        }
        conf.extend(self.config.extra_lines.iter().cloned());
        std::fs::write(d.join("mosquitto.conf"), conf.join("\n") + "\n")
            .expect("writing mosquitto.conf");
    }

    fn launch(&mut self) -> Result<(), Launch> {
        let stdio = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("stdio.log"))
            .expect("mosquitto stdio log");
        let child = Command::new(find_tool("mosquitto"))
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(stdio.try_clone().expect("stdio log"))
            .stderr(stdio)
            .spawn()
            .expect("starting mosquitto");
        let child = self.child.insert(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                let log = self.log();
                return Err(if log.contains("Address already in use") {
                    Launch::BindFailed
                } else {
                    Launch::Exited(status)
                });
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Launch::Timeout);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn fail(&mut self, what: &str) -> ! {
        self.kill();
        panic!(
            "mosquitto on port {} did not accept connections within {START_TIMEOUT:?} ({what}); log tail:\n{}",
            self.port,
            self.log_tail(30)
        )
    }

    /// The options this broker accepts: its credentials, its CA and the
    /// client certificate if it requires one.
    pub fn client_options(&self) -> ClientOptions {
        let tls = self.config.tls.as_ref();
        ClientOptions {
            host: if tls.is_some() {
                "localhost"
            } else {
                "127.0.0.1"
            }
            .to_owned(),
            port: self.port,
            credentials: self.config.credentials.clone(),
            cafile: tls.map(|t| t.cafile.clone()),
            client_cert: tls.and_then(|t| t.client_cert.clone()),
        }
    }

    fn client(&self, tool: &str, options: &ClientOptions) -> Command {
        let mut cmd = Command::new(find_tool(tool));
        // mosquitto_pub/sub read default options from
        // $XDG_CONFIG_HOME/mosquitto_pub or ~/.config/...: keep a
        // developer's own file out of the tests.
        cmd.env("XDG_CONFIG_HOME", self.dir.path())
            .env("HOME", self.dir.path())
            .args(options.args());
        cmd
    }

    /// Publishes one message (`mosquitto_pub -m`); panics with the client's
    /// stderr if it fails.
    pub fn publish(&self, topic: &str, payload: &str, qos: u8) {
        self.try_publish(topic, payload, qos)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn try_publish(&self, topic: &str, payload: &str, qos: u8) -> Result<(), String> {
        self.try_publish_with(&self.client_options(), topic, payload, qos)
    }

    /// Publishes with other options, e.g. a wrong password or CA: Err holds
    /// the exit status and stderr.
    pub fn try_publish_with(
        &self,
        options: &ClientOptions,
        topic: &str,
        payload: &str,
        qos: u8,
    ) -> Result<(), String> {
        let mut cmd = self.client("mosquitto_pub", options);
        cmd.args(["-t", topic, "-q", &qos.to_string(), "-m", payload]);
        run_client(cmd, None, CLIENT_TIMEOUT).map(drop)
    }

    /// Publishes a file's content as one message (`mosquitto_pub -f`), for
    /// payloads too large for a command line.
    pub fn publish_file(&self, topic: &str, path: &Path, qos: u8) {
        let mut cmd = self.client("mosquitto_pub", &self.client_options());
        cmd.args(["-t", topic, "-q", &qos.to_string(), "-f"])
            .arg(path);
        run_client(cmd, None, CLIENT_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Publishes each line as one message, fast (`mosquitto_pub -l` fed on
    /// stdin), in chunks of 10 000 lines per client run.
    pub fn publish_lines(&self, topic: &str, lines: &[String], qos: u8) {
        for chunk in lines.chunks(LINES_PER_CLIENT) {
            let mut cmd = self.client("mosquitto_pub", &self.client_options());
            cmd.args(["-t", topic, "-q", &qos.to_string(), "-l"]);
            let mut input = chunk.join("\n");
            input.push('\n');
            run_client(cmd, Some(input.into_bytes()), CLIENT_TIMEOUT)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// A running `mosquitto_sub` printing each payload as one stdout line,
    /// returned once the broker has registered the subscription (so a
    /// publish right after is not missed). With `count` it exits after that
    /// many messages (`-C`).
    pub fn subscribe(&self, topic: &str, qos: u8, count: Option<usize>) -> ProcessUnderTest {
        let id = format!(
            "harness-sub-{}",
            self.next_client.fetch_add(1, Ordering::Relaxed)
        );
        let mut cmd = self.client("mosquitto_sub", &self.client_options());
        cmd.args(["-i", &id, "-t", topic, "-q", &qos.to_string()]);
        if let Some(n) = count {
            cmd.args(["-C", &n.to_string()]);
        }
        let mut sub = ProcessUnderTest::spawn_command(cmd);
        // Mosquitto logs "<client id> <qos> <topic>" while it handles the
        // SUBSCRIBE; it is single-threaded, so a later PUBLISH finds it.
        let marker = format!("{id} {qos} {topic}");
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.log().contains(&marker) {
            if sub.try_status().is_some() || Instant::now() >= deadline {
                panic!(
                    "mosquitto_sub did not subscribe to {topic}: {:?}\nbroker log:\n{}",
                    sub.stderr(),
                    self.log_tail(20)
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
        sub
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Debug)]
enum Launch {
    BindFailed,
    Exited(ExitStatus),
    Timeout,
}

fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs a client to completion: Ok(stdout) on exit status 0, Err with the
/// command, status and stderr otherwise. A client still running after
/// `timeout` (e.g. waiting for acknowledgements from a dead broker) is
/// killed and reported as an error rather than hanging the test.
pub fn run_client(
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{shown}: {e}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let read = |r: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = wait_child(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    match status {
        Some(s) if s.success() => Ok(out),
        Some(s) => Err(format!("{shown} failed ({s}): {err}")),
        None => Err(format!(
            "{shown} still running after {timeout:?}, killed: {err}"
        )),
    }
}
