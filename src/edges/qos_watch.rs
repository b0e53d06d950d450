//! Whether the broker and the publisher give the QoS that "not losing a
//! reading" rests on, and what to say when they do not.
//!
//! A persistent session keeps readings for cadline while it is away only at
//! QoS 1, and a message's QoS is the lower of the publisher's and the
//! subscription's. Two settings outside cadline can lower it without any
//! error: the broker granting less than asked in its SUBACK (Mosquitto's
//! `max_qos 0`), and the publisher (the CAD, or a bridge) publishing at QoS
//! 0. Either way the connection works and readings flow, so nobody notices
//! until an outage loses them. This says so, once, with the setting to
//! change.

use crate::edges::messages::LogLevel;

/// What was asked for, and what has been said.
#[derive(Debug)]
pub struct QosWatch {
    asked: u8,
    persistent: bool,
    /// Whether this connection's SUBACK granted every filter the QoS asked
    /// for: until then a QoS 0 message says nothing about its publisher.
    granted_in_full: bool,
    /// Whether this connection has said its downgrade already.
    downgrade_said: bool,
    /// Whether the publisher's QoS 0 has been said (once per process).
    publisher_said: bool,
}

impl QosWatch {
    pub fn new(asked: u8, persistent: bool) -> QosWatch {
        QosWatch {
            asked,
            persistent,
            granted_in_full: false,
            downgrade_said: false,
            publisher_said: false,
        }
    }

    /// A new connection: its SUBACK is yet to come.
    pub fn connected(&mut self) {
        self.granted_in_full = false;
        self.downgrade_said = false;
    }

    /// A SUBACK: each granted filter with the QoS granted. The line to log
    /// when some got less than asked (once per connection).
    pub fn granted(&mut self, granted: &[(String, u8)]) -> Option<(LogLevel, String)> {
        let below: Vec<&str> = granted
            .iter()
            .filter(|(_, qos)| *qos < self.asked)
            .map(|(f, _)| f.as_str())
            .collect();
        if below.is_empty() {
            self.granted_in_full = !granted.is_empty();
            return None;
        }
        self.granted_in_full = false;
        if self.downgrade_said {
            return None;
        }
        self.downgrade_said = true;
        let head = format!(
            "The broker granted QoS 0 to {} (cadline asked for QoS {}): ",
            below.join(", "),
            self.asked
        );
        let fix = "allow QoS 1 on the broker (Mosquitto: remove `max_qos 0` from mosquitto.conf \
                   or set `max_qos 1`; other brokers have a maximum-QoS setting of their own)";
        Some(if self.persistent {
            (
                LogLevel::Warn,
                format!(
                    "{head}it will not queue readings for cadline's persistent session while \
                     cadline is down or reconnecting, and readings published then are lost; {fix}"
                ),
            )
        } else {
            (
                LogLevel::Info,
                format!(
                    "{head}without --persistent-session this changes nothing (readings published \
                     while cadline is down are lost either way); with it, {fix}"
                ),
            )
        })
    }

    /// A message delivered at QoS 0: the line to log, once per process, when
    /// it came on a persistent QoS 1 subscription granted in full, which
    /// means its publisher sent it at QoS 0.
    pub fn delivered_at_qos_0(&mut self, topic: &str) -> Option<String> {
        if self.publisher_said || !self.persistent || self.asked == 0 || !self.granted_in_full {
            return None;
        }
        self.publisher_said = true;
        Some(format!(
            "Messages on {} are published at QoS 0, and the broker delivers a message at the \
             lower of the publisher's QoS and cadline's (QoS 1): it does not queue them while \
             cadline is down, even for a persistent session, and readings published then are \
             lost. Have the publisher (the CAD, or a bridge) use QoS 1, or let Mosquitto queue \
             them with `queue_qos0_messages true`; said once",
            crate::flatten::excerpt(topic)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(qos: &[u8]) -> Vec<(String, u8)> {
        qos.iter()
            .enumerate()
            .map(|(i, q)| (format!("f{i}"), *q))
            .collect()
    }

    #[test]
    fn a_downgrade_is_said_once_per_connection_naming_the_filters() {
        let mut w = QosWatch::new(1, true);
        w.connected();
        let (level, line) = w.granted(&filters(&[1, 0, 0])).expect("said");
        assert_eq!(level, LogLevel::Warn);
        assert!(line.contains("granted QoS 0 to f1, f2 "), "{line}");
        assert!(!line.contains("f0"), "{line}");
        assert!(line.contains("max_qos"), "{line}");
        assert!(line.contains("lost"), "{line}");
        // A retried SUBSCRIBE on the same connection: not again.
        assert_eq!(w.granted(&filters(&[0])), None);
        w.connected();
        assert!(w.granted(&filters(&[0])).is_some());
    }

    #[test]
    fn a_downgrade_without_a_persistent_session_is_information() {
        let mut w = QosWatch::new(1, false);
        w.connected();
        let (level, line) = w.granted(&filters(&[0])).expect("said");
        assert_eq!(level, LogLevel::Info);
        assert!(line.contains("--persistent-session"), "{line}");
    }

    #[test]
    fn nothing_is_said_when_qos_0_was_asked_for_or_granted_in_full() {
        let mut w = QosWatch::new(0, true);
        w.connected();
        assert_eq!(w.granted(&filters(&[0, 0])), None);
        assert_eq!(w.delivered_at_qos_0("t"), None);
        let mut w = QosWatch::new(1, true);
        w.connected();
        assert_eq!(w.granted(&filters(&[1, 1])), None);
    }

    #[test]
    fn a_qos_0_publisher_is_said_once_and_only_when_it_is_the_publisher() {
        let mut w = QosWatch::new(1, true);
        w.connected();
        // Before the SUBACK (a resumed session's queue): not yet known.
        assert_eq!(w.delivered_at_qos_0("t"), None);
        // Downgraded by the broker: that is what was said, not the publisher.
        w.granted(&filters(&[0]));
        assert_eq!(w.delivered_at_qos_0("t"), None);
        w.connected();
        w.granted(&filters(&[1]));
        let line = w
            .delivered_at_qos_0("glow/X/SENSOR/electricitymeter")
            .expect("said");
        assert!(line.contains("glow/X/SENSOR/electricitymeter"), "{line}");
        assert!(line.contains("queue_qos0_messages"), "{line}");
        assert_eq!(w.delivered_at_qos_0("glow/X/SENSOR/gasmeter"), None);
        w.connected();
        w.granted(&filters(&[1]));
        assert_eq!(w.delivered_at_qos_0("t"), None);
    }

    #[test]
    fn a_clean_session_says_nothing_about_the_publisher() {
        let mut w = QosWatch::new(1, false);
        w.connected();
        w.granted(&filters(&[1]));
        assert_eq!(w.delivered_at_qos_0("t"), None);
    }
}
