//! Looking at the broker from outside the connection, when the connection
//! itself has said nothing about why it ended.
//!
//! Two questions, each asked only after a failure that leaves them open:
//! - Is anything still listening at the broker's address? Asked when an
//!   established connection was closed without a word (MQTT 3.1.1 has no
//!   DISCONNECT from the broker). A broker that stops closes its listener
//!   before its clients' connections (Mosquitto does, on SIGTERM and when
//!   killed), so a refused connection right after the close means it
//!   stopped or is restarting; one that is accepted leaves the causes
//!   where the broker stays up (another client with our id, a broker
//!   limit).
//! - Does the broker accept MQTT 3.1.1? Asked when MQTT 5's CONNECT was
//!   closed without an answer cadline can read. A 3.1.1-only broker
//!   (Mosquitto 1.4/1.5) answers MQTT 5 with a 3.1.1 CONNACK, return code
//!   1, that rumqttc's MQTT 5 reader cannot parse, and closes: all rumqttc
//!   reports is "Connection closed by peer abruptly". A 3.1.1 CONNECT with a
//!   client id of its own and a clean session (so it takes over no session
//!   and leaves none behind) settles it; any CONNACK, even a refusal, is a
//!   3.1.1 broker answering.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long a probe's TCP connect may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether something accepts TCP connections at `host:port`: `Some(false)`
/// only when every address refused at once (nothing listens), `None` when
/// it cannot be told (no address, a timeout, an unreachable network).
pub fn listening(host: &str, port: u16) -> Option<bool> {
    let addrs: Vec<_> = (host, port).to_socket_addrs().ok()?.collect();
    if addrs.is_empty() {
        return None;
    }
    let mut all_refused = true;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) {
            Ok(_) => return Some(true),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(_) => all_refused = false,
        }
    }
    all_refused.then_some(false)
}

/// Whether the broker answers an MQTT 3.1.1 CONNECT with a CONNACK (of any
/// return code), over the same transport and with the same credentials.
pub fn answers_mqtt_3_1_1(
    host: &str,
    port: u16,
    transport: Option<rumqttc::Transport>,
    credentials: Option<&(String, String)>,
) -> bool {
    let id = format!("cadline-probe-{}", std::process::id());
    let mut o = rumqttc::MqttOptions::new(id, host, port);
    o.set_clean_session(true)
        .set_keep_alive(Duration::from_secs(5));
    if let Some((user, pass)) = credentials {
        o.set_credentials(user, pass);
    }
    if let Some(t) = transport {
        o.set_transport(t);
    }
    let (client, mut connection) = rumqttc::Client::new(o, 10);
    match connection.recv_timeout(crate::edges::connection_loss::CONNECT_TIMEOUT) {
        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_)))) => {
            // Leave politely; the broker closes the connection.
            let _ = client.disconnect();
            for _ in 0..3 {
                if !matches!(
                    connection.recv_timeout(Duration::from_millis(200)),
                    Ok(Ok(_))
                ) {
                    break;
                }
            }
            true
        }
        Ok(Err(rumqttc::ConnectionError::ConnectionRefused(_))) => true,
        _ => false,
    }
}
