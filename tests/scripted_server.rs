//! A scripted MQTT server on a loopback port, for the byte sequences a real
//! Mosquitto 2 cannot be made to send: a CONNACK with Server Keep Alive 0,
//! an MQTT 5 DISCONNECT with QuotaExceeded or UseAnotherServer and a server
//! reference, and the 3.1.1 CONNACK an MQTT 3.1.1-only broker (Mosquitto
//! 1.4/1.5) answers an MQTT 5 CONNECT with. Every test that uses it says
//! which packet it needs it for; everything Mosquitto can do is tested with
//! Mosquitto.
//!
//! Each connection that sends a CONNECT runs the test's script on a thread
//! of its own, with its number (0 for the first) and the CONNECT. One that
//! closes without a CONNECT is not counted: cadline's look at whether the
//! broker still listens (src/edges/broker_probe.rs) is such a connection. Packets are written byte by byte from
//! the MQTT 3.1.1 and 5 specifications, not with the client library under
//! test, so that a misreading in the library cannot hide in the test.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Packet types, as the high nibble of the first byte.
pub const CONNECT: u8 = 1;
pub const PUBLISH: u8 = 3;
pub const PUBACK: u8 = 4;
pub const SUBSCRIBE: u8 = 8;
pub const PINGREQ: u8 = 12;
pub const DISCONNECT: u8 = 14;

/// One packet as read: its type, the low nibble of its first byte, and
/// everything after the remaining length.
#[derive(Debug, Clone)]
pub struct Packet {
    pub kind: u8,
    pub flags: u8,
    pub body: Vec<u8>,
}

impl Packet {
    /// A CONNECT's protocol level (4: 3.1.1, 5: MQTT 5).
    pub fn protocol_level(&self) -> u8 {
        // Protocol name "MQTT" with its length (6 bytes), then the level.
        self.body[6]
    }

    /// A CONNECT's Keep Alive, in seconds.
    pub fn keep_alive(&self) -> u16 {
        u16::from_be_bytes([self.body[8], self.body[9]])
    }

    /// A SUBSCRIBE's packet id.
    pub fn packet_id(&self) -> u16 {
        u16::from_be_bytes([self.body[0], self.body[1]])
    }
}

/// One accepted connection, as its script sees it.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read but not yet parsed into a packet.
    pending: Vec<u8>,
}

impl Conn {
    /// The next packet within `timeout`; `None` if the client closed the
    /// connection or sent nothing in time.
    pub fn read(&mut self, timeout: Duration) -> Option<Packet> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(p) = self.parse() {
                return Some(p);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).ok()?;
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(_) => return None,
            }
        }
    }

    /// The next packet of `kind`, answering PINGREQs met on the way.
    pub fn expect(&mut self, kind: u8, timeout: Duration) -> Packet {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let p = self.read(left).unwrap_or_else(|| {
                panic!("scripted server: no packet of type {kind} in {timeout:?}")
            });
            if p.kind == kind {
                return p;
            }
            if p.kind == PINGREQ {
                self.write(&pingresp());
            }
        }
    }

    fn parse(&mut self) -> Option<Packet> {
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let b = *self.pending.get(i)?;
            len |= usize::from(b & 0x7f) << (7 * (i - 1));
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            assert!(i <= 4, "scripted server: a malformed remaining length");
        }
        if self.pending.len() < i + len {
            return None;
        }
        let first = self.pending[0];
        let body = self.pending[i..i + len].to_vec();
        self.pending.drain(..i + len);
        Some(Packet {
            kind: first >> 4,
            flags: first & 0x0f,
            body,
        })
    }

    /// Writes bytes; a client that has gone is not an error here (the test
    /// checks what the client did, from its output).
    pub fn write(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
        let _ = self.stream.flush();
    }

    /// Closes the connection (FIN), as a broker that drops a client does.
    pub fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Answers PINGREQs (and reads anything else) until `how_long` has
    /// passed or the client closed the connection; returns the number of
    /// PINGREQs seen, and whether the client closed the connection.
    pub fn serve_pings(&mut self, how_long: Duration) -> (usize, bool) {
        let deadline = Instant::now() + how_long;
        let mut pings = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (pings, false);
            }
            match self.read(left) {
                Some(p) if p.kind == PINGREQ => {
                    pings += 1;
                    self.write(&pingresp());
                }
                Some(_) => {}
                None if Instant::now() >= deadline => return (pings, false),
                None => return (pings, true),
            }
        }
    }
}

/// A packet: first byte, remaining length, body.
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// An MQTT 5 property list: its length, then the properties.
fn properties(props: &[u8]) -> Vec<u8> {
    assert!(props.len() < 128, "one-byte property length");
    let mut out = vec![props.len() as u8];
    out.extend_from_slice(props);
    out
}

/// A UTF-8 string as MQTT encodes it: a two-byte length, then the bytes.
pub fn string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

/// MQTT 5 CONNACK, success, no session, with these properties (MQTT 5
/// 3.2.2.3); e.g. `[0x13, 0, 0]` is Server Keep Alive 0.
pub fn connack_v5(props: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend(properties(props));
    packet(0x20, &body)
}

/// MQTT 3.1.1 CONNACK with return code `code` (1: unacceptable protocol
/// version), as a 3.1.1-only broker sends it to any CONNECT.
pub fn connack_v4(code: u8) -> Vec<u8> {
    packet(0x20, &[0, code])
}

/// MQTT 5 SUBACK granting QoS `granted` to each of `filters` filters.
pub fn suback_v5(pkid: u16, filters: usize, granted: u8) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    body.push(0); // no properties
    body.extend(vec![granted; filters]);
    packet(0x90, &body)
}

/// MQTT 5 PUBLISH at QoS 0.
pub fn publish_v5_qos0(topic: &str, payload: &str) -> Vec<u8> {
    let mut body = string(topic);
    body.push(0); // no properties
    body.extend_from_slice(payload.as_bytes());
    packet(0x30, &body)
}

/// MQTT 3.1.1 SUBACK granting QoS `granted` to each of `filters` filters.
pub fn suback_v4(pkid: u16, filters: usize, granted: u8) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    body.extend(vec![granted; filters]);
    packet(0x90, &body)
}

/// MQTT 3.1.1 PUBLISH at QoS 0.
pub fn publish_v4_qos0(topic: &str, payload: &str) -> Vec<u8> {
    let mut body = string(topic);
    body.extend_from_slice(payload.as_bytes());
    packet(0x30, &body)
}

pub fn pingresp() -> Vec<u8> {
    vec![0xd0, 0]
}

/// MQTT 5 DISCONNECT with a reason code and properties (MQTT 5 3.14.2.2),
/// e.g. `[0x1c, <string>]`: Server Reference.
pub fn disconnect_v5(reason: u8, props: &[u8]) -> Vec<u8> {
    let mut body = vec![reason];
    body.extend(properties(props));
    packet(0xe0, &body)
}

/// The server: it accepts until dropped.
pub struct ScriptedServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl ScriptedServer {
    /// Starts a server that runs `script` for every connection that sends
    /// a CONNECT, each on a thread of its own, with the connection's number
    /// (0 for the first) and its CONNECT.
    pub fn start(
        script: impl Fn(usize, &mut Conn, Packet) + Send + Sync + 'static,
    ) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let script = Arc::new(script);
        let connects = Arc::new(AtomicUsize::new(0));
        thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let script = script.clone();
                        let connects = connects.clone();
                        thread::spawn(move || {
                            let mut conn = Conn {
                                stream,
                                pending: Vec::new(),
                            };
                            match conn.read(Duration::from_secs(10)) {
                                Some(p) if p.kind == CONNECT => {
                                    let n = connects.fetch_add(1, Ordering::SeqCst);
                                    script(n, &mut conn, p);
                                }
                                _ => {}
                            }
                            conn.close();
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        ScriptedServer { port, stop }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
