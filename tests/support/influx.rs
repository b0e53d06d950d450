//! A private InfluxDB 1.x (`influxd` from Debian's `influxdb`) per test, and
//! a minimal HTTP/1.1 client on `TcpStream` to talk to it (no HTTP crate in
//! the dependency tree for the sake of tests).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::ports::free_port;
use super::tempdir::TempDir;
use super::tools::find_tool;

const START_TIMEOUT: Duration = Duration::from_secs(30);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An `influxd` of this test's own on free loopback ports, without auth,
/// usage reporting, its `_internal` monitor database or request logging.
/// Dropping it kills the process and removes its data.
pub struct Influx {
    port: u16,
    dir: TempDir,
    child: Child,
}

impl Influx {
    /// Starts `influxd -config FILE` and waits (up to 30 s) until
    /// `GET /ping` answers 204. Retries once on new ports if the ones
    /// [`free_port`] picked were taken meanwhile.
    pub fn start() -> Influx {
        let dir = TempDir::new("influx");
        let (port, child) = match launch(&dir, false) {
            Some(started) => started,
            None => launch(&dir, true).expect("the last attempt panics rather than retry"),
        };
        Influx { port, dir, child }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, as Telegraf's influxdb output takes it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What influxd wrote on stdout and stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("influxd.log")).unwrap_or_default()
    }

    /// One HTTP request to this server.
    pub fn request(&self, method: &str, target: &str, body: &[u8]) -> io::Result<HttpResponse> {
        http_request(self.port, method, target, body)
    }

    /// `CREATE DATABASE`; panics unless InfluxDB says yes.
    pub fn create_db(&self, name: &str) {
        let q = format!("CREATE DATABASE \"{}\"", name.replace('"', "\\\""));
        let response = self
            .request("POST", &format!("/query?q={}", url_encode(&q)), b"")
            .expect("POST /query");
        let text = response.text();
        assert!(
            response.status == 200 && !text.contains("\"error\""),
            "{q}: {} {text}",
            response.status
        );
    }

    /// Writes line protocol with nanosecond timestamps. Ok on 204 (every
    /// line written); Err("<status>: <body>") otherwise, the body carrying
    /// InfluxDB's reason (e.g. "unable to parse ...", "field type
    /// conflict ..."). With several lines, a 400 means the good ones were
    /// still written.
    pub fn write(&self, db: &str, body: &str) -> Result<(), String> {
        let target = format!("/write?db={}&precision=ns", url_encode(db));
        match self.request("POST", &target, body.as_bytes()) {
            Ok(r) if r.status == 204 => Ok(()),
            Ok(r) => Err(format!("{}: {}", r.status, r.text())),
            Err(e) => Err(format!("POST {target}: {e}")),
        }
    }

    /// Runs InfluxQL against `db` and returns InfluxDB's JSON answer as is
    /// (errors included, as `error` members), with times as integer
    /// nanoseconds (`epoch=ns`) so they compare with line-protocol times.
    pub fn query(&self, db: &str, q: &str) -> serde_json::Value {
        let target = format!("/query?db={}&epoch=ns&q={}", url_encode(db), url_encode(q));
        let r = self.request("GET", &target, b"").expect("GET /query");
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{q}: {} {} is not JSON: {e}", r.status, r.text()))
    }

    /// The rows (`values`) of every series of the first statement of a
    /// query; panics if the statement failed. Empty when nothing matched.
    pub fn rows(&self, db: &str, q: &str) -> Vec<Vec<serde_json::Value>> {
        let answer = self.query(db, q);
        let result = &answer["results"][0];
        assert!(
            answer.get("error").is_none() && result.get("error").is_none(),
            "{q}: {answer}"
        );
        result["series"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
            .map(|row| row.as_array().cloned().unwrap_or_default())
            .collect()
    }
}

impl Drop for Influx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts influxd once and waits for /ping; None if the bind failed and
/// `last` is false (the caller retries), a panic with the log otherwise.
fn launch(dir: &TempDir, last: bool) -> Option<(u16, Child)> {
    let (http, rpc) = (free_port(), free_port());
    std::fs::write(dir.join("influxdb.conf"), config(dir, http, rpc))
        .expect("writing influxdb.conf");
    let log = std::fs::File::create(dir.join("influxd.log")).expect("influxd log");
    let mut child = Command::new(find_tool("influxd"))
        .arg("-config")
        .arg(dir.join("influxdb.conf"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("influxd log"))
        .stderr(log)
        .spawn()
        .expect("starting influxd");
    let read_log = || std::fs::read_to_string(dir.join("influxd.log")).unwrap_or_default();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = read_log();
            if !last && log.contains("address already in use") {
                return None;
            }
            panic!("influxd exited ({status}) before answering /ping:\n{log}");
        }
        if matches!(http_request(http, "GET", "/ping", b""), Ok(r) if r.status == 204) {
            return Some((http, child));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "influxd did not answer GET /ping with 204 within {START_TIMEOUT:?}:\n{}",
                read_log()
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn config(dir: &TempDir, http: u16, rpc: u16) -> String {
    let d = dir.path().display();
    format!(
        r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"

[meta]
  dir = "{d}/meta"

[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  bind-address = "127.0.0.1:{http}"
  auth-enabled = false
  log-enabled = false

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false

[logging]
  level = "warn"
"#
    )
}

/// An HTTP response: status code, headers (names lower-cased) and the body
/// with any chunked transfer encoding removed.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port` with `Connection: close`, so
/// the response is simply everything until the server closes. InfluxDB
/// answers queries with `Transfer-Encoding: chunked`, which is decoded.
pub fn http_request(
    port: u16,
    method: &str,
    target: &str,
    body: &[u8],
) -> io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn parse_response(raw: &[u8]) -> io::Result<HttpResponse> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of HTTP headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("bad HTTP status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    response.body = if response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        dechunk(rest)?
    } else if let Some(n) = response
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        rest.get(..n)
            .ok_or_else(|| bad("body shorter than Content-Length"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

/// Decodes a chunked body: hex size (maybe with `;extensions`), CRLF, data,
/// CRLF, ..., a zero size, optional trailers.
fn dechunk(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("chunk size line without CRLF"))?;
        let line = String::from_utf8_lossy(&rest[..eol]);
        let size = line.split(';').next().unwrap_or("").trim();
        let n = usize::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
        rest = &rest[eol + 2..];
        if n == 0 {
            return Ok(out);
        }
        let data = rest.get(..n).ok_or_else(|| bad("truncated chunk"))?;
        out.extend_from_slice(data);
        rest = rest.get(n + 2..).ok_or_else(|| bad("chunk without CRLF"))?;
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for a
/// query-string value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
