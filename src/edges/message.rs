//! `Message`: what the MQTT source hands the writer.

use crate::edges::session_state::Stamp;

/// Sent once the message's lines have been flushed to stdout, so an MQTT
/// QoS 1 message is acknowledged to the broker only when it can no longer
/// be lost (at-least-once, end to end).
///
/// Sending never blocks: `false` means the connection's request queue is
/// full right now and `send` must be repeated later. A blocking ack
/// deadlocked under a flood of redelivered messages: the writer waited for
/// the connection thread to drain its queue while that thread waited for
/// the writer to take the next message, and nothing moved again.
///
/// An MQTT ack is 32 bytes and allocates nothing: the writer may hold tens
/// of thousands (a backlog replayed with a 1 s ack delay, or paced with
/// the ack held until Telegraf's flush, and MQTT 3.1.1 lets a broker send
/// without limit). As a boxed closure each cost about 170 bytes, and they
/// were most of cadline's peak memory in a replay (README "Performance").
pub struct Ack(AckTo);

enum AckTo {
    V4 {
        client: rumqttc::Client,
        stamp: Stamp,
        pkid: u16,
        qos: rumqttc::QoS,
    },
    V5 {
        client: rumqttc::v5::Client,
        stamp: Stamp,
        pkid: u16,
        qos: rumqttc::v5::mqttbytes::QoS,
    },
    Fn(Box<dyn FnMut() -> bool + Send>),
}

impl Ack {
    /// The ack of an MQTT 3.1.1 message, sent only while its session lasts
    /// (see `session_state::AckScope`).
    pub(crate) fn v4(client: &rumqttc::Client, stamp: Stamp, pkid: u16, qos: rumqttc::QoS) -> Ack {
        Ack(AckTo::V4 {
            client: client.clone(),
            stamp,
            pkid,
            qos,
        })
    }

    /// The ack of an MQTT 5 message, sent only while its session lasts.
    pub(crate) fn v5(
        client: &rumqttc::v5::Client,
        stamp: Stamp,
        pkid: u16,
        qos: rumqttc::v5::mqttbytes::QoS,
    ) -> Ack {
        Ack(AckTo::V5 {
            client: client.clone(),
            stamp,
            pkid,
            qos,
        })
    }

    /// Any other acknowledgement: `send` as described above.
    pub fn from_fn(send: impl FnMut() -> bool + Send + 'static) -> Ack {
        Ack(AckTo::Fn(Box::new(send)))
    }

    /// Hands the ack over: `false` while the connection cannot take it yet.
    /// An ack of a session that has ended is dropped and reports itself
    /// done, so nobody retries it.
    pub fn send(&mut self) -> bool {
        match &mut self.0 {
            AckTo::V4 {
                client,
                stamp,
                pkid,
                qos,
            } => {
                if stamp.is_over() {
                    return true;
                }
                let mut receipt = rumqttc::Publish::new("", *qos, Vec::<u8>::new());
                receipt.pkid = *pkid;
                !matches!(
                    client.try_ack(&receipt),
                    Err(rumqttc::ClientError::TryRequest(_))
                )
            }
            AckTo::V5 {
                client,
                stamp,
                pkid,
                qos,
            } => {
                if stamp.is_over() {
                    return true;
                }
                let mut receipt =
                    rumqttc::v5::mqttbytes::v5::Publish::new("", *qos, Vec::<u8>::new(), None);
                receipt.pkid = *pkid;
                !matches!(
                    client.try_ack(&receipt),
                    Err(rumqttc::v5::ClientError::TryRequest(_))
                )
            }
            AckTo::Fn(send) => send(),
        }
    }
}

/// Hands over every ack it can, keeping those the connection cannot take yet.
pub fn retry_acks(acks: &mut Vec<Ack>) {
    acks.retain_mut(|ack| !ack.send());
}

/// One MQTT message, as the connection thread hands it to the writer.
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Arrival time, Unix nanoseconds.
    pub received_ns: i64,
    pub ack: Option<Ack>,
}

/// Now as Unix nanoseconds.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mqtt_ack_is_small_and_allocates_nothing_of_its_own() {
        // Held by the tens of thousands in a backlog replay: see `Ack`.
        assert!(
            std::mem::size_of::<Ack>() <= 32,
            "{}",
            std::mem::size_of::<Ack>()
        );
    }
}
