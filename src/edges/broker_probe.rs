//! Looking at the broker from outside the connection, when the connection
//! itself has said nothing about why it ended.
//!
//! One question, asked only after a failure that leaves it open: does a
//! broker at that address answer an MQTT 3.1.1 CONNECT right now? The
//! CONNECT has a client id of its own (`cadline-probe-<pid>`) and a clean
//! session, so it takes over no session and leaves none behind; any
//! CONNACK, even a refusal, is a broker answering. It settles two things:
//! - An established connection closed without a word (MQTT 3.1.1 has no
//!   DISCONNECT from the broker): a broker that stops closes its listener
//!   before its clients' connections (Mosquitto does, on SIGTERM and when
//!   killed), and a port forwarder in front of a stopped broker (Docker's
//!   userland proxy) accepts and closes at once; either way nothing
//!   answers, so the broker stopped or is restarting. One that answers
//!   leaves the causes where the broker stays up (another client with our
//!   id, a broker limit).
//! - MQTT 5's CONNECT closed without an answer cadline can read: a
//!   3.1.1-only broker (Mosquitto 1.4/1.5) answers MQTT 5 with a 3.1.1
//!   CONNACK, return code 1, that rumqttc's MQTT 5 reader cannot parse, and
//!   closes; all rumqttc reports is "Connection closed by peer abruptly".
//!   If the same broker answers 3.1.1, it speaks only 3.1.1.

use std::time::Duration;

/// What a broker did with the probe's CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A CONNACK, of any return code: a 3.1.1 broker is there.
    Connack,
    /// Refused, or closed without a CONNACK: no broker answers there now.
    Nothing,
    /// Neither could be told (no CONNACK in time, a name that does not
    /// resolve, a TLS failure).
    Unknown,
}

/// Connects once with MQTT 3.1.1 over the same transport and with the same
/// credentials as cadline, and leaves at once.
pub fn mqtt_3_1_1(
    host: &str,
    port: u16,
    transport: Option<rumqttc::Transport>,
    credentials: Option<&(String, String)>,
) -> Answer {
    use rumqttc::{ConnectionError, Event, Packet, StateError};
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
    let wait = crate::edges::connection_loss::CONNECT_TIMEOUT + Duration::from_secs(1);
    match connection.recv_timeout(wait) {
        Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
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
            Answer::Connack
        }
        Ok(Err(ConnectionError::ConnectionRefused(_))) => Answer::Connack,
        Ok(Err(ConnectionError::Io(e)))
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            Answer::Nothing
        }
        Ok(Err(ConnectionError::MqttState(StateError::ConnectionAborted))) => Answer::Nothing,
        Ok(Err(ConnectionError::MqttState(StateError::Io(e))))
            if e.kind() == std::io::ErrorKind::ConnectionReset =>
        {
            Answer::Nothing
        }
        _ => Answer::Unknown,
    }
}
