//! `Message`: what the MQTT source hands the writer.

/// Called once the message's lines have been flushed to stdout, so an MQTT
/// QoS 1 message is acknowledged to the broker only when it can no longer
/// be lost (at-least-once, end to end).
///
/// It never blocks: `false` means the connection's request queue is full
/// right now and the call must be repeated later. A blocking ack deadlocked
/// under a flood of redelivered messages: the writer waited for the
/// connection thread to drain its queue while that thread waited for the
/// writer to take the next message, and nothing moved again.
pub type Ack = Box<dyn FnMut() -> bool + Send>;

/// Hands over every ack it can, keeping those the connection cannot take yet.
pub fn retry_acks(acks: &mut Vec<Ack>) {
    acks.retain_mut(|ack| !ack());
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
