//! What a broker does that costs readings or ends connections, and what
//! cadline says about it: a granted QoS below the one asked for, a
//! publisher at QoS 0, Server Keep Alive 0, a frozen broker, a broker
//! restart, MQTT 5 DISCONNECT reasons, and an MQTT 3.1.1-only broker.
//!
//! A real Mosquitto wherever it can send what is tested; the scripted
//! server (tests/scripted_server.rs) only for the packets Mosquitto 2.0
//! cannot send, each test saying which.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::rig::{electricity, seq_of, signal, BrokerConfig, Cadline, Mosquitto};
use crate::scripted_server::{self as script, Conn, ScriptedServer};

const E: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";
const SECS: fn(u64) -> Duration = Duration::from_secs;

fn lines_with(c: &Cadline, needle: &str) -> Vec<String> {
    c.stderr()
        .into_iter()
        .filter(|l| l.contains(needle))
        .collect()
}

/// Waits until a stderr line contains every one of `needles`; that line.
fn wait_line(c: &Cadline, needles: &[&str], timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(l) = c
            .stderr()
            .into_iter()
            .find(|l| needles.iter().all(|n| l.contains(n)))
        {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "no stderr line with {needles:?} within {timeout:?}: {:#?}",
            c.stderr()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn no_client_id_guess(c: &Cadline) {
    let blamed: Vec<String> = c
        .stderr()
        .into_iter()
        .filter(|l| l.contains("--client-id") && !l.contains("Connected"))
        .collect();
    assert!(
        blamed.is_empty(),
        "a known cause blamed on a copied client id: {blamed:#?}"
    );
}

// ---- Point 4: QoS downgraded by the broker, and a publisher at QoS 0 ----

#[test]
fn a_broker_granting_qos_0_is_said_once_per_connection_with_the_setting_to_change() {
    // Mosquitto's `max_qos 0` grants QoS 0 to a QoS 1 subscription: the
    // persistent session then queues nothing while cadline is down.
    for version in ["3.1.1", "5"] {
        let mut broker = Mosquitto::with(BrokerConfig {
            extra: vec!["max_qos 0".into()],
            ..BrokerConfig::persistent()
        });
        let url = broker.url();
        let c = Cadline::spawn(
            &[
                "--broker",
                &url,
                "--persistent-session",
                "--client-id",
                "qos-downgraded",
                "--mqtt-version",
                version,
            ],
            &[],
        );
        c.wait_connected();
        let line = wait_line(&c, &["granted QoS 0"], SECS(5));
        assert!(line.starts_with("W! "), "{version}: {line}");
        for needed in ["max_qos", "while cadline is down", "lost"] {
            assert!(line.contains(needed), "{version}: no {needed:?} in {line}");
        }
        // Messages still flow (at QoS 0: the broker refuses a QoS 1 PUBLISH
        // too), and each one does not repeat it.
        for seq in 1..=3 {
            broker.publish(E, &electricity(seq), 0);
        }
        let got = c.collect(3, SECS(10));
        assert_eq!(got.len(), 3, "{version}: {:?}", c.stderr());
        assert_eq!(
            lines_with(&c, "QoS 0").len(),
            1,
            "{version}: {:#?}",
            c.stderr()
        );
        // Once per connection: a new connection says it again.
        broker.stop();
        broker.restart();
        assert!(
            c.wait_for_stderr("Reconnected", SECS(20)),
            "{version}: {:#?}",
            c.stderr()
        );
        thread::sleep(Duration::from_millis(500));
        assert_eq!(
            lines_with(&c, "granted QoS 0").len(),
            2,
            "{version}: {:#?}",
            c.stderr()
        );
    }
}

#[test]
fn a_broker_granting_the_qos_asked_for_says_nothing() {
    let broker = Mosquitto::start();
    let url = broker.url();
    let c = Cadline::spawn(
        &[
            "--broker",
            &url,
            "--persistent-session",
            "--client-id",
            "qos-granted",
        ],
        &[],
    );
    c.wait_connected();
    broker.publish(E, &electricity(1), 1);
    assert_eq!(c.collect(1, SECS(10)).len(), 1);
    thread::sleep(Duration::from_millis(300));
    assert!(
        lines_with(&c, "QoS").is_empty(),
        "nothing to say: {:#?}",
        c.stderr()
    );
}

#[test]
fn a_publisher_at_qos_0_on_a_persistent_subscription_is_said_once() {
    // The CAD publishes at QoS 0: the broker delivers at the lower of the
    // publish and subscription QoS, and queues nothing for a client that
    // is away. Mosquitto does exactly this; no script needed.
    for version in ["3.1.1", "5"] {
        let broker = Mosquitto::start();
        let url = broker.url();
        let c = Cadline::spawn(
            &[
                "--broker",
                &url,
                "--persistent-session",
                "--client-id",
                "publisher-qos0",
                "--mqtt-version",
                version,
            ],
            &[],
        );
        c.wait_connected();
        for seq in 1..=3 {
            broker.publish(E, &electricity(seq), 0);
        }
        assert_eq!(c.collect(3, SECS(10)).len(), 3, "{version}");
        let said = lines_with(&c, "published at QoS 0");
        assert_eq!(said.len(), 1, "{version}: {:#?}", c.stderr());
        let line = &said[0];
        assert!(line.starts_with("W! "), "{line}");
        for needed in [E, "while cadline is down", "lost", "QoS 1"] {
            assert!(line.contains(needed), "{version}: no {needed:?} in {line}");
        }
        // QoS 1 messages afterwards, and more at QoS 0: nothing more said.
        broker.publish(E, &electricity(4), 1);
        broker.publish(E, &electricity(5), 0);
        assert_eq!(c.collect(2, SECS(10)).len(), 2, "{version}");
        thread::sleep(Duration::from_millis(300));
        assert_eq!(
            lines_with(&c, "QoS 0").len(),
            1,
            "{version}: {:#?}",
            c.stderr()
        );
    }
}

#[test]
fn qos_0_readings_published_while_cadline_is_away_are_lost_unless_the_broker_queues_them() {
    // What the publisher warning says, with Mosquitto: a persistent QoS 1
    // session keeps nothing published at QoS 0 while cadline is away,
    // unless `queue_qos0_messages true`.
    for (queue, expected) in [(false, 0), (true, 3)] {
        let extra = if queue {
            vec!["queue_qos0_messages true".to_owned()]
        } else {
            vec![]
        };
        let broker = Mosquitto::with(BrokerConfig {
            extra,
            ..BrokerConfig::persistent()
        });
        let url = broker.url();
        let args = [
            "--broker",
            url.as_str(),
            "--persistent-session",
            "--client-id",
            "away-qos0",
        ];
        let mut first = Cadline::spawn(&args, &[]);
        first.wait_connected();
        first.close_stdin();
        first.wait_exit(SECS(5)).expect("stops");
        for seq in 1..=3 {
            broker.publish(E, &electricity(seq), 0);
        }
        let again = Cadline::spawn(&args, &[]);
        again.wait_connected();
        let got = again.until_quiet(SECS(2));
        assert_eq!(
            got.len(),
            expected,
            "queue_qos0_messages {queue}: {got:#?} {:#?}",
            again.stderr()
        );
    }
}

// ---- Point 5: Server Keep Alive 0 ----

#[derive(Default)]
struct KeepAliveSeen {
    /// The Keep Alive of each CONNECT, in seconds.
    connect_keep_alive: Vec<u16>,
    /// PINGREQs on the first connection in the 4 s it lasts.
    first_pings: usize,
    /// Whether cadline closed the first connection itself.
    first_closed_by_client: bool,
}

#[test]
fn server_keep_alive_0_means_no_keep_alive_and_readings_flow() {
    // Scripted server: Mosquitto 2.0 never sends Server Keep Alive 0 (its
    // max_keepalive 0 means "no limit", and then it sends no Server Keep
    // Alive at all). The first connection's CONNACK says Server Keep Alive
    // 0 (keep-alive off); the second's says nothing, so the client's own
    // --keep-alive applies again.
    let seen = Arc::new(Mutex::new(KeepAliveSeen::default()));
    let record = seen.clone();
    let server = ScriptedServer::start(move |n, conn: &mut Conn, connect| {
        record
            .lock()
            .unwrap()
            .connect_keep_alive
            .push(connect.keep_alive());
        if n == 0 {
            conn.write(&script::connack_v5(&[0x13, 0, 0]));
        } else {
            conn.write(&script::connack_v5(&[]));
        }
        let sub = conn.expect(script::SUBSCRIBE, SECS(10));
        conn.write(&script::suback_v5(sub.packet_id(), 1, 1));
        let (pings, closed) = conn.serve_pings(SECS(1));
        conn.write(&script::publish_v5_qos0(E, &electricity(n as u64 + 1)));
        if n == 0 {
            let (more, closed_later) = conn.serve_pings(SECS(3));
            let mut r = record.lock().unwrap();
            r.first_pings = pings + more;
            r.first_closed_by_client = closed || closed_later;
            // Ends the connection: the next one shows what rumqttc kept.
        } else {
            conn.serve_pings(SECS(60));
        }
    });
    let url = server.url();
    let c = Cadline::spawn(
        &[
            "--broker",
            &url,
            "--mqtt-version",
            "5",
            "--keep-alive",
            "30",
        ],
        &[],
    );
    let got = c.collect(2, SECS(20));
    let seqs: Vec<u64> = got.iter().filter_map(|l| seq_of(l)).collect();
    assert_eq!(seqs, [1, 2], "stderr: {:#?}", c.stderr());
    let seen = seen.lock().unwrap();
    assert!(
        !seen.first_closed_by_client,
        "cadline dropped a connection whose keep-alive is off: {:#?}",
        c.stderr()
    );
    // One PINGREQ at most (rumqttc's timer was already running when the
    // CONNACK came; see mqtt_source.rs); not one after another.
    assert!(
        seen.first_pings <= 1,
        "{} PINGREQs in 4 s with keep-alive off",
        seen.first_pings
    );
    // The 0 is not kept for the next connection: it asks for --keep-alive.
    assert_eq!(seen.connect_keep_alive[..2], [30, 30]);
}

// ---- Point 9: an MQTT 3.1.1-only broker ----

#[test]
fn mqtt_5_to_a_3_1_1_only_broker_names_the_flag() {
    // Scripted server: Mosquitto 2.0 speaks MQTT 5 itself. Mosquitto
    // 1.4/1.5 answer an MQTT 5 CONNECT with a 3.1.1 CONNACK, return code 1
    // (unacceptable protocol version), and close the connection; the same
    // server accepts a 3.1.1 CONNECT.
    let server = ScriptedServer::start(|_, conn: &mut Conn, connect| {
        if connect.protocol_level() != 4 {
            conn.write(&script::connack_v4(1));
            return;
        }
        conn.write(&script::connack_v4(0));
        // cadline's own look at the broker (a 3.1.1 CONNECT, then
        // DISCONNECT) subscribes to nothing.
        let Some(sub) = conn.read(SECS(10)).filter(|p| p.kind == script::SUBSCRIBE) else {
            return;
        };
        conn.write(&script::suback_v4(sub.packet_id(), 1, 1));
        conn.write(&script::publish_v4_qos0(E, &electricity(7)));
        conn.serve_pings(SECS(30));
    });
    let url = server.url();
    let c = Cadline::spawn(&["--broker", &url, "--mqtt-version", "5"], &[]);
    let line = wait_line(&c, &["--mqtt-version 3.1.1"], SECS(10));
    assert!(line.starts_with("E! "), "{line}");
    assert!(line.contains("MQTT 5"), "{line}");
    // Every attempt says it, not only the first.
    assert!(
        c.wait_for_stderr("attempt 3", SECS(15)),
        "{:#?}",
        c.stderr()
    );
    let attempts = lines_with(&c, "Cannot connect");
    assert!(
        attempts.iter().all(|l| l.contains("--mqtt-version 3.1.1")),
        "rumqttc's words without ours: {attempts:#?}"
    );
    drop(c);
    // The flag it names works against the same server.
    let c = Cadline::spawn(&["--broker", &url, "--mqtt-version", "3.1.1"], &[]);
    let got = c.collect(1, SECS(10));
    assert_eq!(
        got.iter().filter_map(|l| seq_of(l)).collect::<Vec<_>>(),
        [7],
        "{:#?}",
        c.stderr()
    );
}

// ---- Point 8: causes of a lost connection, each in its own words ----

/// Resumes a SIGSTOPped broker however the test ends.
struct Thaw(u32);

impl Drop for Thaw {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

#[test]
fn a_frozen_broker_is_named_as_such_not_as_a_copied_client_id() {
    // SIGSTOP: the broker's sockets stay open, nothing answers. The ping
    // goes unanswered ("Last pingreq isn't acked", 2 keep-alives later),
    // and a new connection's CONNECT gets no CONNACK.
    for version in ["3.1.1", "5"] {
        let broker = Mosquitto::start();
        let url = broker.url();
        let c = Cadline::spawn(
            &[
                "--broker",
                &url,
                "--keep-alive",
                "5",
                "--mqtt-version",
                version,
            ],
            &[],
        );
        c.wait_connected();
        let pid = broker.pid();
        assert!(signal(pid, "STOP"), "kill -STOP mosquitto");
        let thaw = Thaw(pid);
        let lost = wait_line(&c, &["Connection lost"], SECS(20));
        assert!(lost.contains("did not answer"), "{version}: {lost}");
        assert!(lost.contains("--keep-alive 5"), "{version}: {lost}");
        assert!(lost.contains("frozen"), "{version}: {lost}");
        let attempt = wait_line(&c, &["Cannot connect"], SECS(20));
        assert!(attempt.contains("no CONNACK"), "{version}: {attempt}");
        assert!(attempt.contains("frozen"), "{version}: {attempt}");
        no_client_id_guess(&c);
        drop(thaw);
        assert!(
            c.wait_for_stderr("Reconnected", SECS(30)),
            "{version}: {:#?}",
            c.stderr()
        );
    }
}

#[test]
fn a_broker_restart_is_named_as_such_not_as_a_copied_client_id() {
    // MQTT 3.1.1 has no DISCONNECT from the broker: Mosquitto just closes
    // the connection. With MQTT 5 a broker may say ServerShuttingDown
    // first, but Mosquitto 2.0.11 closes those connections without a word
    // too (the scripted-server test covers ServerShuttingDown).
    for version in ["3.1.1", "5"] {
        let mut broker = Mosquitto::start();
        let url = broker.url();
        // A fixed client id, as shipped: a connection the broker closes
        // early is then also what a copied configuration looks like.
        let c = Cadline::spawn(
            &[
                "--broker",
                &url,
                "--mqtt-version",
                version,
                "--persistent-session",
                "--client-id",
                "restarted",
            ],
            &[],
        );
        c.wait_connected();
        broker.stop();
        let lost = wait_line(&c, &["Connection lost"], SECS(10));
        assert!(
            lost.contains("stopped listening") || lost.contains("ServerShuttingDown"),
            "{version}: {lost}"
        );
        assert!(lost.contains("restart"), "{version}: {lost}");
        broker.restart();
        assert!(
            c.wait_for_stderr("Reconnected", SECS(20)),
            "{version}: {:#?}",
            c.stderr()
        );
        no_client_id_guess(&c);
        broker.publish(E, &electricity(9), 1);
        assert_eq!(c.collect(1, SECS(10)).len(), 1, "{version}");
    }
}

#[test]
fn mqtt_5_disconnect_reasons_are_named_with_the_server_reference() {
    // Scripted server: Mosquitto 2.0 sends DISCONNECT only with
    // ServerShuttingDown, SessionTakenOver, KeepAliveTimeout and the like;
    // never QuotaExceeded, nor UseAnotherServer with a Server Reference.
    // Connection 0 is closed with QuotaExceeded, 1 with UseAnotherServer
    // naming mqtt2.example:1883, 2 with ServerShuttingDown (which Mosquitto
    // 2.0.11 does not send either: it closes MQTT 5 connections at a stop
    // without a word, see the restart test), 3 stays.
    let server = ScriptedServer::start(|n, conn: &mut Conn, _| {
        conn.write(&script::connack_v5(&[]));
        let sub = conn.expect(script::SUBSCRIBE, SECS(10));
        conn.write(&script::suback_v5(sub.packet_id(), 1, 1));
        conn.serve_pings(Duration::from_millis(300));
        match n {
            0 => conn.write(&script::disconnect_v5(0x97, &[])),
            1 => {
                let mut props = vec![0x1c];
                props.extend(script::string("mqtt2.example:1883"));
                conn.write(&script::disconnect_v5(0x9c, &props));
            }
            2 => conn.write(&script::disconnect_v5(0x8b, &[])),
            _ => {
                conn.write(&script::publish_v5_qos0(E, &electricity(3)));
                conn.serve_pings(SECS(60));
            }
        }
    });
    let url = server.url();
    let c = Cadline::spawn(&["--broker", &url, "--mqtt-version", "5"], &[]);
    let got = c.collect(1, SECS(20));
    assert_eq!(got.len(), 1, "{:#?}", c.stderr());
    let quota = wait_line(&c, &["QuotaExceeded"], SECS(1));
    assert!(quota.contains("quota"), "{quota}");
    let moved = wait_line(&c, &["UseAnotherServer"], SECS(1));
    assert!(moved.starts_with("E! "), "{moved}");
    assert!(moved.contains("mqtt2.example:1883"), "{moved}");
    assert!(moved.contains("--broker"), "{moved}");
    let down = wait_line(&c, &["ServerShuttingDown"], SECS(1));
    assert!(down.starts_with("W! "), "{down}");
    assert!(down.contains("restarting"), "{down}");
    no_client_id_guess(&c);
}
