//! The edges' boundaries against a real Mosquitto: a message of exactly
//! `--max-message-size` bytes, and a resumed session whose configuration
//! changed. Each of these was once a one-character change that lost
//! readings with every other test passing (issue 25).

use std::time::Duration;

use crate::rig::{electricity, seq_of, Cadline, Mosquitto};

const E: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// `electricity(seq)` padded with spaces inside its outer object to
/// exactly `len` bytes (still valid JSON, the same reading).
fn electricity_of_length(seq: u64, len: usize) -> String {
    let mut payload = electricity(seq);
    let close = payload.len() - 1;
    let pad = len
        .checked_sub(payload.len())
        .expect("a length at least the payload's");
    payload.insert_str(close, &" ".repeat(pad));
    assert_eq!(payload.len(), len);
    payload
}

#[test]
fn a_message_of_exactly_max_message_size_is_written_and_one_byte_more_is_skipped() {
    // At QoS 1 a skipped message is acknowledged, so a limit off by one
    // loses the reading for good: the broker never sends it again.
    let broker = Mosquitto::start();
    let url = broker.url();
    const N: usize = 1000;
    for (i, version) in ["3.1.1", "5"].into_iter().enumerate() {
        let client = format!("exact-size-{i}");
        let c = Cadline::spawn(
            &[
                "--broker",
                &url,
                "--mqtt-version",
                version,
                "--client-id",
                &client,
                "--qos",
                "1",
                "--max-message-size",
                &N.to_string(),
            ],
            &[],
        );
        c.wait_connected();
        broker.publish(E, &electricity_of_length(1, N), 1);
        broker.publish(E, &electricity_of_length(2, N + 1), 1);
        // A fence: once it is written, the two before it were dealt with.
        broker.publish(E, &electricity(3), 1);
        let mut got = Vec::new();
        while !got.contains(&3) {
            let line = c.next_line(SECS(10));
            let Some(line) = line else {
                panic!(
                    "MQTT {version}: the fence never came; lines {got:?}, stderr {:?}",
                    c.stderr()
                );
            };
            got.extend(seq_of(&line));
        }
        assert_eq!(
            got,
            vec![1, 3],
            "MQTT {version}: a message of exactly --max-message-size {N} bytes must be \
             written and one of {} skipped; stderr {:?}",
            N + 1,
            c.stderr()
        );
        let over = format!("is {} bytes, over --max-message-size {N}", N + 1);
        assert!(
            c.wait_for_stderr(&over, SECS(2)),
            "MQTT {version}: no warning for the skipped one: {:?}",
            c.stderr()
        );
    }
}

#[test]
fn a_resumed_session_with_a_changed_topic_delivers_the_new_topic() {
    // The session holds only the old --topic: if a resumed session were not
    // subscribed again, cadline would say "session resumed" and write
    // nothing, for as long as the session lives.
    let broker = Mosquitto::start();
    let url = broker.url();
    let spawn = |topic: &str| {
        let c = Cadline::spawn(
            &[
                "--broker",
                &url,
                "--persistent-session",
                "--client-id",
                "changed-topic",
                "--qos",
                "1",
                "--topic",
                topic,
            ],
            &[],
        );
        c.wait_connected();
        c
    };
    let mut before = spawn("glow/+/SENSOR/gasmeter");
    before.close_stdin();
    assert!(before.wait_exit(SECS(3)).is_some_and(|s| s.success()));
    let after = spawn("glow/+/SENSOR/electricitymeter");
    assert!(
        after.stderr().iter().any(|l| l.contains("session resumed")),
        "the session was not resumed, so this tests nothing: {:?}",
        after.stderr()
    );
    broker.publish(E, &electricity(7), 1);
    let line = after.next_line(SECS(5));
    assert_eq!(
        line.as_deref().and_then(seq_of),
        Some(7),
        "nothing on the new --topic after a resumed session: {:?}",
        after.stderr()
    );
}
