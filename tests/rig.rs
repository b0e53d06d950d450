//! Real processes for the MQTT tests: a private Mosquitto on a free
//! loopback port, and cadline spawned the way Telegraf's execd spawns it
//! (stdin kept open, stdout read line by line). Everything is stopped and
//! removed on drop. A missing tool fails the test with the install command.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

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
    child: Option<Child>,
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
                let ok = Command::new(tool("mosquitto_passwd", "mosquitto"))
                    .args(["-b", "-c"])
                    .arg(&file)
                    .args([user, pass])
                    .status()
                    .expect("mosquitto_passwd runs");
                assert!(ok.success());
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
        let child = Command::new(tool("mosquitto", "mosquitto mosquitto-clients"))
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
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

    /// Sends a signal to the broker (SIGHUP re-reads its ACL file).
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill")
            .args(["-s", sig, &pid])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// SIGKILL: no goodbye, no final persistence save.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait: persistence is written.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-s", "TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
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
        run_with_stdin(cmd, payload.as_bytes());
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
            run_with_stdin(cmd, input.as_bytes());
        }
    }
}

fn run_with_stdin(mut cmd: Command, input: &[u8]) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write");
    let out = child.wait_with_output().expect("client runs");
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

    /// Every line that arrives until none has for `quiet`.
    pub fn until_quiet(&self, quiet: Duration) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(quiet) {
            out.push(l);
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
        let ok = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
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

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Cadline {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads what a process wrote to a pipe, for tests that need raw bytes.
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
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
    let out = Command::new(tool("openssl", "openssl"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
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
    child: Child,
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
        let child = Command::new(influxd)
            .arg("-config")
            .arg(dir.path().join("influxdb.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("influxd starts");
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
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
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

impl Drop for Influx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts again on the same port with the same data, and waits for
    /// `/ping`.
    pub fn start_again(&mut self) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("influxd.log"))
            .expect("log");
        self.child = Command::new(tool("influxd", "influxdb"))
            .arg("-config")
            .arg(self.dir.path().join("influxdb.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("influxd starts");
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
    child: Option<Child>,
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
        let child = Command::new(telegraf_bin())
            .arg("--strict-env-handling")
            .arg("--config")
            .arg(self.config_path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("telegraf starts");
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("Telegraf runs")
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
        let ok = Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    /// SIGKILL: Telegraf's buffers die with it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits up to `timeout` for Telegraf to exit.
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-s", "TERM", &c.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
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
