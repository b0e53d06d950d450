//! Why a connection ended, or an attempt failed, where rumqttc's words do
//! not say it: a broker that stopped answering (frozen, or the network to it
//! gone), an MQTT 5 DISCONNECT with its reason code, a broker that stopped
//! or is restarting, and a broker that speaks only MQTT 3.1.1.
//!
//! Without this every connection the broker ended within 30 s was put down
//! to "another client with the same --client-id": a frozen broker, a quota
//! and a restart were all blamed on a copied configuration. That guess is
//! now what is left when none of these is known (see `mqtt_source`).
//!
//! Everything here is pure: the evidence (rumqttc's text, the DISCONNECT
//! packet, what a probe of the broker found, see `broker_probe`) comes in,
//! one line of words goes out. Like `connection_error`, the words depend on
//! the cause only, never on the moment, so the reconnect log's throttle
//! works on causes.

use std::time::Duration;

/// How long rumqttc 0.25 waits for the TCP and TLS connection and the
/// CONNACK (its default `connection_timeout`, which cadline keeps).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A cause, explained: the line to log and whether a person must act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    pub text: String,
    /// An `E!` line (something to change) rather than `W!` (wait).
    pub loud: bool,
}

/// An MQTT 5 DISCONNECT from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerDisconnect {
    /// The reason code (MQTT 5, 3.14.2.1).
    pub code: u8,
    /// Its name, as rumqttc spells it (`QuotaExceeded`).
    pub name: String,
    /// The Reason String property, if the broker sent one.
    pub reason: Option<String>,
    /// The Server Reference property (UseAnotherServer, ServerMoved).
    pub server_reference: Option<String>,
}

/// The keep-alive in force when a ping went unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// `--keep-alive`, in seconds.
    pub ours: u64,
    /// The interval pinged at on that connection (an MQTT 5 broker's
    /// Server Keep Alive replaces ours), in seconds.
    pub in_force: u64,
}

/// A cause rumqttc's text alone shows: a ping unanswered, or no CONNACK.
pub fn from_text(raw: &str, keep_alive: KeepAlive, tls: bool) -> Option<Explained> {
    if raw.contains("Last pingreq isn't acked") {
        let interval = if keep_alive.in_force == keep_alive.ours {
            format!("--keep-alive {}", keep_alive.ours)
        } else {
            format!(
                "the broker's Server Keep Alive; --keep-alive {}",
                keep_alive.ours
            )
        };
        return Some(Explained {
            text: format!(
                "the broker did not answer a ping within {}s ({interval}): it is frozen or \
                 overloaded, or the network to it is down",
                keep_alive.in_force
            ),
            loud: false,
        });
    }
    // The whole connect, TCP to CONNACK, took longer than CONNECT_TIMEOUT:
    // ConnectionError::Timeout (MQTT 5) or NetworkTimeout (3.1.1).
    if matches!(raw.trim(), "Timeout" | "Network timeout") {
        let what = if tls {
            "completed no TLS handshake and sent no CONNACK"
        } else {
            "sent no CONNACK"
        };
        return Some(Explained {
            text: format!(
                "the broker accepted the connection but {what} within {}s: it is frozen or \
                 overloaded (or something between accepts connections for it)",
                CONNECT_TIMEOUT.as_secs()
            ),
            loud: false,
        });
    }
    None
}

/// Whether rumqttc's text says only that the broker closed the connection
/// (FIN or reset), with no reason given: the case where the broker's state
/// has to be looked at to say more.
pub fn closed_without_a_word(raw: &str) -> bool {
    let lower = raw.to_ascii_lowercase();
    lower.contains("connection closed by peer abruptly")
        || lower.contains("connection reset by peer")
        || lower.contains("broken pipe")
}

/// An established connection closed without a word, and nothing listens at
/// the broker's address any more: the broker stopped or is restarting.
pub fn broker_gone(raw: &str) -> Explained {
    Explained {
        text: format!(
            "{raw}; the broker closed the connection and stopped listening: it was stopped or is \
             restarting, and cadline reconnects once it is back"
        ),
        loud: false,
    }
}

/// An MQTT 5 CONNECT closed without an answer cadline can read, by a
/// broker that accepts MQTT 3.1.1.
pub fn speaks_only_3_1_1(raw: &str) -> Explained {
    Explained {
        text: format!(
            "{raw}: the broker closed the connection on MQTT 5's CONNECT but accepts MQTT 3.1.1, \
             so it speaks only 3.1.1 (as Mosquitto before 1.6 does); use --mqtt-version 3.1.1 \
             or upgrade the broker"
        ),
        loud: true,
    }
}

/// An MQTT 5 DISCONNECT, in words. `None` for SessionTakenOver, whose
/// words (another client with our client id) are the reconnect loop's.
pub fn broker_disconnect(d: &BrokerDisconnect) -> Option<Explained> {
    let reference = d
        .server_reference
        .as_deref()
        .map(|r| format!(" {}", plain(r)))
        .unwrap_or_default();
    let (words, loud): (String, bool) = match d.code {
        // SessionTakenOver: another client connected with our client id.
        0x8e => return None,
        0x00 => (
            "the broker ended the connection without an error (an administrator or a broker \
             plugin did); cadline reconnects"
                .into(),
            false,
        ),
        0x81 | 0x82 => (
            "the broker says cadline broke the protocol; please report it with the broker's log"
                .into(),
            true,
        ),
        0x87 => (
            "the broker no longer authorises cadline (its ACL or credentials changed); check the \
             user's rights to read the topics"
                .into(),
            true,
        ),
        0x89 => (
            "the broker is busy; cadline reconnects with backoff".into(),
            false,
        ),
        0x8b => (
            "the broker is shutting down (stopped, or restarting); cadline reconnects once it is \
             back"
                .into(),
            false,
        ),
        0x8d => (
            "the broker heard nothing from cadline within 1.5 times the keep-alive: this machine \
             or the network to the broker stalled"
                .into(),
            false,
        ),
        0x8f => (
            "the broker refuses a topic filter; check --topic and --prefix".into(),
            true,
        ),
        0x95 => (
            "a packet cadline sent is larger than the broker allows (a SUBSCRIBE with many \
             --topic filters?); raise the broker's max_packet_size"
                .into(),
            true,
        ),
        0x96 => (
            "the broker limits the message rate; cadline reconnects with backoff".into(),
            false,
        ),
        0x97 => (
            "a quota the broker sets on this client (messages, data or connections for its user \
             or client id) was exceeded; check the broker's quotas for cadline"
                .into(),
            true,
        ),
        0x98 => (
            "an administrator or a broker plugin disconnected cadline (e.g. Mosquitto's dynamic \
             security after a change to its client or role)"
                .into(),
            true,
        ),
        0x9c if reference.is_empty() => (
            "the broker asks clients to use another server, without naming it; ask its \
             administrator and point --broker at it"
                .into(),
            true,
        ),
        0x9c => (
            format!(
                "the broker asks clients to use another server,{reference}; point --broker at it"
            ),
            true,
        ),
        0x9d if reference.is_empty() => (
            "the broker has moved, without saying where; ask its administrator and point \
             --broker at the new address"
                .into(),
            true,
        ),
        0x9d => (
            format!("the broker has moved to{reference}; point --broker at it"),
            true,
        ),
        0x9e => (
            "the broker does not support shared subscriptions; drop --shared-group".into(),
            true,
        ),
        0x9f => (
            "the broker limits how often a client may connect; cadline's backoff slows down".into(),
            false,
        ),
        0xa0 => (
            "the broker limits how long a connection may last; cadline reconnects".into(),
            false,
        ),
        0xa2 => (
            "the broker does not allow wildcard subscriptions; name each topic in full with \
             --topic"
                .into(),
            true,
        ),
        _ => ("see the broker's log for why".into(), true),
    };
    let reason = d
        .reason
        .as_deref()
        .map(|r| format!(" (\"{}\")", plain(r)))
        .unwrap_or_default();
    Some(Explained {
        text: format!(
            "the broker disconnected cadline with {} (0x{:02X}){reason}: {words}",
            d.name, d.code
        ),
        loud,
    })
}

/// A string the broker sent, made fit for one log line: control
/// characters become spaces, and it is cut at 200 bytes.
fn plain(s: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > MAX {
        let mut end = MAX;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disconnect(code: u8, name: &str, reference: Option<&str>) -> BrokerDisconnect {
        BrokerDisconnect {
            code,
            name: name.into(),
            reason: None,
            server_reference: reference.map(str::to_owned),
        }
    }

    const OURS: KeepAlive = KeepAlive {
        ours: 60,
        in_force: 60,
    };

    #[test]
    fn an_unanswered_ping_names_the_keep_alive_and_a_frozen_broker() {
        let e = from_text("Mqtt state: Last pingreq isn't acked", OURS, false).expect("known");
        assert!(
            e.text.contains("within 60s (--keep-alive 60)"),
            "{}",
            e.text
        );
        assert!(e.text.contains("frozen"), "{}", e.text);
        assert!(!e.loud);
        let broker_set = KeepAlive {
            ours: 60,
            in_force: 20,
        };
        let e = from_text("Last pingreq isn't acked", broker_set, false).expect("known");
        assert!(
            e.text
                .contains("within 20s (the broker's Server Keep Alive; --keep-alive 60)"),
            "{}",
            e.text
        );
    }

    #[test]
    fn a_connect_timeout_is_a_broker_that_does_not_answer() {
        let e = from_text("Timeout", OURS, false).expect("known");
        assert!(e.text.contains("no CONNACK within 5s"), "{}", e.text);
        assert_eq!(from_text("Network timeout", OURS, false), Some(e));
        let e = from_text("Timeout", OURS, true).expect("known");
        assert!(e.text.contains("TLS handshake"), "{}", e.text);
        assert_eq!(
            from_text("I/O: Connection refused (os error 111)", OURS, false),
            None
        );
        assert_eq!(from_text("Flush timeout", OURS, false), None);
    }

    #[test]
    fn disconnect_reasons_have_words_and_the_server_reference() {
        let q = broker_disconnect(&disconnect(0x97, "QuotaExceeded", None)).expect("known");
        assert!(q.text.contains("QuotaExceeded (0x97)"), "{}", q.text);
        assert!(q.text.contains("quota"), "{}", q.text);
        let moved = broker_disconnect(&disconnect(
            0x9c,
            "UseAnotherServer",
            Some("mqtt2.example:1883"),
        ))
        .expect("known");
        assert!(moved.loud);
        assert!(
            moved
                .text
                .contains("another server, mqtt2.example:1883; point --broker at it"),
            "{}",
            moved.text
        );
        let unnamed =
            broker_disconnect(&disconnect(0x9c, "UseAnotherServer", None)).expect("known");
        assert!(
            unnamed.text.contains("without naming it"),
            "{}",
            unnamed.text
        );
        let down = broker_disconnect(&disconnect(0x8b, "ServerShuttingDown", None)).expect("known");
        assert!(!down.loud);
        assert!(down.text.contains("restarting"), "{}", down.text);
        let odd =
            broker_disconnect(&disconnect(0x99, "PayloadFormatInvalid", None)).expect("known");
        assert!(
            odd.text.contains("PayloadFormatInvalid (0x99)"),
            "{}",
            odd.text
        );
    }

    #[test]
    fn a_session_taken_over_is_left_to_the_client_id_words() {
        assert_eq!(
            broker_disconnect(&disconnect(0x8e, "SessionTakenOver", None)),
            None
        );
    }

    #[test]
    fn a_reason_string_is_quoted_short_and_on_one_line() {
        let mut d = disconnect(0x80, "UnspecifiedError", None);
        d.reason = Some(format!("line one\nline two {}", "x".repeat(5000)));
        let e = broker_disconnect(&d).expect("known");
        assert!(!e.text.contains('\n'), "{}", e.text);
        assert!(e.text.len() < 1000, "{}", e.text.len());
    }

    #[test]
    fn closed_without_a_word_is_only_a_bare_close() {
        assert!(closed_without_a_word(
            "Mqtt state: Connection closed by peer abruptly"
        ));
        assert!(closed_without_a_word(
            "Mqtt state: Io error: Custom { kind: ConnectionReset, error: \"connection reset by peer\" }"
        ));
        assert!(!closed_without_a_word(
            "Mqtt state: Last pingreq isn't acked"
        ));
        assert!(!closed_without_a_word(
            "I/O: Connection refused (os error 111)"
        ));
    }
}
