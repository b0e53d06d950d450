//! cadline against a real Mosquitto: flow, faults, TLS, shared
//! subscriptions and the execd contract (stdin EOF, signals, EPIPE).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::rig::{
    electricity, make_tls, seq_of, BrokerConfig, BrokerTls, Cadline, Mosquitto, TempDir,
};

const E: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";
const SECS: fn(u64) -> Duration = Duration::from_secs;

fn cadline(broker: &Mosquitto, extra: &[&str]) -> Cadline {
    let url = broker.url();
    let mut args = vec!["--broker", url.as_str()];
    args.extend_from_slice(extra);
    let c = Cadline::spawn(&args, &[]);
    c.wait_connected();
    c
}

fn seqs(lines: &[String]) -> Vec<u64> {
    lines.iter().filter_map(|l| seq_of(l)).collect()
}

#[test]
fn every_kind_flows_end_to_end() {
    let broker = Mosquitto::start();
    let c = cadline(&broker, &[]);
    let capture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/telegraf/example-capture.txt"
    ))
    .expect("capture");
    for line in capture.lines() {
        let (topic, payload) = line.split_once(' ').expect("topic payload");
        broker.publish(topic, payload, 1);
    }
    let lines = c.collect(8, SECS(10));
    assert_eq!(lines.len(), 8, "{lines:?}\n{:?}", c.stderr());
    for m in [
        "electricitymeter,",
        "gasmeter,",
        "cadstate,",
        "glowsensorth1,",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(m)),
            "no {m} line in {lines:?}"
        );
    }
    let stderr = c.stderr();
    assert!(
        stderr.iter().all(|l| ["E! ", "W! ", "I! ", "D! "]
            .iter()
            .any(|p| l.starts_with(p))),
        "{stderr:?}"
    );
    assert_eq!(
        stderr.iter().filter(|l| l.starts_with("I! ")).count(),
        1,
        "one info line when connected: {stderr:?}"
    );
}

#[test]
fn broker_killed_and_restarted_flow_resumes() {
    let mut broker = Mosquitto::start();
    let c = cadline(&broker, &[]);
    broker.publish(E, &electricity(1), 1);
    assert_eq!(c.next_line(SECS(5)).as_deref().and_then(seq_of), Some(1));
    broker.kill();
    std::thread::sleep(Duration::from_millis(1500));
    // A new broker process knows nothing of the old clean session: the
    // subscription must be made again by cadline.
    broker.restart();
    assert!(
        c.wait_for_stderr("Reconnected to", SECS(30)),
        "{:?}",
        c.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    broker.publish(E, &electricity(2), 1);
    assert_eq!(
        c.next_line(SECS(10)).as_deref().and_then(seq_of),
        Some(2),
        "{:?}",
        c.stderr()
    );
    let stderr = c.stderr();
    let failures = stderr
        .iter()
        .filter(|l| l.contains("Cannot connect") || l.contains("Connection lost"))
        .count();
    assert!(failures <= 4, "a log line per attempt: {stderr:?}");
}

#[test]
fn broker_down_at_start_then_up() {
    let mut broker = Mosquitto::start();
    broker.kill();
    let url = broker.url();
    let c = Cadline::spawn(&["--broker", &url], &[]);
    assert!(
        c.wait_for_stderr("Cannot connect", SECS(5)),
        "{:?}",
        c.stderr()
    );
    std::thread::sleep(SECS(2));
    broker.restart();
    c.wait_connected();
    broker.publish(E, &electricity(7), 0);
    assert_eq!(c.next_line(SECS(10)).as_deref().and_then(seq_of), Some(7));
}

#[test]
fn persistent_session_keeps_messages_published_while_stopped() {
    let broker = Mosquitto::start();
    let args = [
        "--client-id",
        "cadline-persist-test",
        "--persistent-session",
        "--qos",
        "1",
    ];
    let mut first = cadline(&broker, &args);
    broker.publish(E, &electricity(1), 1);
    assert_eq!(
        first.next_line(SECS(5)).as_deref().and_then(seq_of),
        Some(1)
    );
    first.close_stdin();
    assert!(first.wait_exit(SECS(2)).is_some_and(|s| s.success()));

    let batch: Vec<String> = (2..=501).map(electricity).collect();
    broker.publish_lines(E, &batch, 1);

    let second = cadline(&broker, &args);
    let lines = second.collect(500, SECS(20));
    let got: HashSet<u64> = seqs(&lines).into_iter().collect();
    let want: HashSet<u64> = (2..=501).collect();
    assert_eq!(
        got,
        want,
        "missing: {:?}",
        want.difference(&got).collect::<Vec<_>>()
    );
    assert!(
        second
            .stderr()
            .iter()
            .any(|l| l.contains("session resumed")),
        "{:?}",
        second.stderr()
    );
}

#[test]
fn wrong_password_is_a_clear_error_and_retried() {
    let broker = Mosquitto::with(BrokerConfig {
        login: Some(("meter".into(), "right-horse".into())),
        ..BrokerConfig::persistent()
    });
    let url = broker.url();
    let c = Cadline::spawn(
        &["--broker", &url, "--username", "meter"],
        &[("CADLINE_MQTT_PASSWORD", "wrong-horse")],
    );
    assert!(c.wait_for_stderr("E! ", SECS(10)), "{:?}", c.stderr());
    let stderr = c.stderr().join("\n");
    assert!(
        stderr.contains("refused")
            && (stderr.contains("password") || stderr.contains("NotAuthorized")),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-horse"), "the password was logged");
    std::thread::sleep(SECS(1));
    let mut c = c;
    assert!(
        c.wait_exit(Duration::from_millis(10)).is_none(),
        "it should keep retrying, not exit"
    );

    let ok = Cadline::spawn(
        &["--broker", &url, "--username", "meter"],
        &[("CADLINE_MQTT_PASSWORD", "right-horse")],
    );
    ok.wait_connected();
    broker.publish(E, &electricity(3), 1);
    assert_eq!(ok.next_line(SECS(5)).as_deref().and_then(seq_of), Some(3));
}

#[test]
fn password_file_and_unreadable_password_file() {
    let broker = Mosquitto::with(BrokerConfig {
        login: Some(("meter".into(), "from-a-file".into())),
        ..BrokerConfig::persistent()
    });
    let dir = TempDir::new("pw");
    let file = dir.path().join("password");
    std::fs::write(&file, "from-a-file\n").expect("write");
    let url = broker.url();
    let c = Cadline::spawn(
        &[
            "--broker",
            &url,
            "--username",
            "meter",
            "--password-file",
            file.to_str().expect("utf-8"),
        ],
        &[],
    );
    c.wait_connected();
    broker.publish(E, &electricity(4), 1);
    assert_eq!(c.next_line(SECS(5)).as_deref().and_then(seq_of), Some(4));

    let mut bad = Cadline::spawn(
        &[
            "--broker",
            &url,
            "--username",
            "meter",
            "--password-file",
            "/nonexistent/pw",
        ],
        &[],
    );
    let status = bad.wait_exit(SECS(5)).expect("exits");
    assert!(!status.success());
    let stderr = bad.stderr();
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(
        stderr[0].starts_with("E! ") && stderr[0].contains("/nonexistent/pw"),
        "{stderr:?}"
    );
}

fn tls_broker(tls: &crate::rig::TlsFiles, require_client_cert: bool) -> Mosquitto {
    Mosquitto::with(BrokerConfig {
        tls: Some(BrokerTls {
            ca: tls.ca.clone(),
            cert: tls.server_cert.clone(),
            key: tls.server_key.clone(),
            require_client_cert,
            publisher_cert: require_client_cert
                .then(|| (tls.client_cert.clone(), tls.client_key.clone())),
        }),
        ..BrokerConfig::persistent()
    })
}

#[test]
fn tls_with_our_ca_works_and_a_wrong_ca_is_refused() {
    let dir = TempDir::new("tls");
    let tls = make_tls(dir.path());
    let broker = tls_broker(&tls, false);
    let url = broker.url();
    let c = Cadline::spawn(
        &[
            "--broker",
            &url,
            "--ca-file",
            tls.ca.to_str().expect("utf-8"),
        ],
        &[],
    );
    c.wait_connected();
    broker.publish(E, &electricity(5), 1);
    assert_eq!(c.next_line(SECS(5)).as_deref().and_then(seq_of), Some(5));

    let wrong = Cadline::spawn(
        &[
            "--broker",
            &url,
            "--ca-file",
            tls.other_ca.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(
        wrong.wait_for_stderr("E! ", SECS(10)),
        "{:?}",
        wrong.stderr()
    );
    let stderr = wrong.stderr().join("\n");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    assert!(wrong.next_line(Duration::from_millis(500)).is_none());
}

#[test]
fn tls_client_certificate() {
    let dir = TempDir::new("mtls");
    let tls = make_tls(dir.path());
    let broker = tls_broker(&tls, true);
    let url = broker.url();
    let ca = tls.ca.to_str().expect("utf-8");
    let c = Cadline::spawn(
        &[
            "--broker",
            &url,
            "--ca-file",
            ca,
            "--cert-file",
            tls.client_cert.to_str().expect("utf-8"),
            "--key-file",
            tls.client_key.to_str().expect("utf-8"),
        ],
        &[],
    );
    c.wait_connected();
    broker.publish(E, &electricity(6), 1);
    assert_eq!(c.next_line(SECS(5)).as_deref().and_then(seq_of), Some(6));

    let without = Cadline::spawn(&["--broker", &url, "--ca-file", ca], &[]);
    assert!(
        without.wait_for_stderr("Cannot connect", SECS(10)),
        "{:?}",
        without.stderr()
    );
}

#[test]
fn shared_group_splits_the_stream_exactly_once() {
    let broker = Mosquitto::start();
    let a = cadline(
        &broker,
        &["--shared-group", "meters", "--client-id", "cadline-a"],
    );
    let b = cadline(
        &broker,
        &["--shared-group", "meters", "--client-id", "cadline-b"],
    );
    let batch: Vec<String> = (1..=2000).map(electricity).collect();
    broker.publish_lines(E, &batch, 1);
    let (la, lb) = (a.until_quiet(SECS(2)), b.until_quiet(SECS(1)));
    let (sa, sb): (Vec<u64>, Vec<u64>) = (seqs(&la), seqs(&lb));
    assert!(
        !sa.is_empty() && !sb.is_empty(),
        "one instance got nothing: {} / {}",
        sa.len(),
        sb.len()
    );
    let mut all: Vec<u64> = sa.iter().chain(sb.iter()).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=2000).collect::<Vec<_>>(),
        "every message exactly once across the group"
    );
}

#[test]
fn stdin_eof_exits_zero_within_a_second() {
    let broker = Mosquitto::start();
    let mut c = cadline(&broker, &[]);
    broker.publish(E, &electricity(8), 1);
    assert!(c.next_line(SECS(5)).is_some());
    c.write_stdin(b"\n\n"); // Telegraf's signal = "STDIN" does no harm
    let start = Instant::now();
    c.close_stdin();
    let status = c.wait_exit(SECS(2)).expect("exits");
    assert!(start.elapsed() < SECS(1), "took {:?}", start.elapsed());
    assert!(status.success());
}

#[test]
fn sigterm_and_sigint_exit_zero_within_a_second() {
    let broker = Mosquitto::start();
    for sig in ["TERM", "INT"] {
        let mut c = cadline(&broker, &[]);
        let start = Instant::now();
        c.signal(sig);
        let status = c.wait_exit(SECS(2)).expect("exits");
        assert!(
            start.elapsed() < SECS(1),
            "SIG{sig} took {:?}",
            start.elapsed()
        );
        assert!(status.success(), "SIG{sig}: {status:?}");
    }
}

#[test]
fn sighup_and_sigusr_are_ignored() {
    let broker = Mosquitto::start();
    let mut c = cadline(&broker, &[]);
    for sig in ["HUP", "USR1", "USR2"] {
        c.signal(sig);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.wait_exit(Duration::from_millis(10)).is_none());
    broker.publish(E, &electricity(9), 1);
    assert_eq!(c.next_line(SECS(5)).as_deref().and_then(seq_of), Some(9));
}

#[test]
fn closed_stdout_exits_non_zero_with_one_line() {
    let broker = Mosquitto::start();
    let url = broker.url();
    // A child whose stdout is a pipe we close at once.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cadline"))
        .args(["--broker", &url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    drop(child.stdout.take());
    std::thread::sleep(Duration::from_millis(800));
    broker.publish(E, &electricity(10), 1);
    let start = Instant::now();
    while start.elapsed() < SECS(5) && child.try_wait().expect("try_wait").is_none() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let exited_in_time = start.elapsed() < SECS(5);
    let _ = child.kill();
    let status = child.wait().expect("wait");
    assert!(exited_in_time, "still running 5 s after stdout closed");
    assert_eq!(status.code(), Some(1), "{status:?}");
    let stderr = crate::rig::read_all(child.stderr.take().expect("stderr"));
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("E! ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn oversized_message_is_skipped_and_never_redelivered() {
    let broker = Mosquitto::start();
    let args = [
        "--client-id",
        "cadline-big",
        "--persistent-session",
        "--max-message-size",
        "100000",
    ];
    let c = cadline(&broker, &args);
    let big = format!(
        r#"{{"electricitymeter":{{"timestamp":"2026-03-01T11:59:50Z","pad":"{}"}}}}"#,
        "x".repeat(200_000)
    );
    broker.publish(E, &big, 1);
    broker.publish(E, &electricity(11), 1);
    assert_eq!(c.next_line(SECS(5)).as_deref().and_then(seq_of), Some(11));
    assert!(
        c.wait_for_stderr("over --max-message-size 100000", SECS(2)),
        "{:?}",
        c.stderr()
    );
    // A clean stop sends the last acknowledgements before DISCONNECT.
    let mut c = c;
    c.close_stdin();
    assert!(c.wait_exit(SECS(2)).is_some_and(|s| s.success()));
    // Restarted with the same session: the big one was acknowledged, so it
    // is not redelivered (no loop), and the stream goes on.
    let again = cadline(&broker, &args);
    broker.publish(E, &electricity(12), 1);
    assert_eq!(
        again.next_line(SECS(5)).as_deref().and_then(seq_of),
        Some(12)
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !again
            .stderr()
            .iter()
            .any(|l| l.contains("max-message-size")),
        "{:?}",
        again.stderr()
    );
}

#[test]
fn a_burst_of_100_000_arrives_complete_at_qos_1() {
    // No persistence: rewriting 100 000 queued messages to disk every
    // second is the broker's bottleneck, not ours.
    let broker = Mosquitto::with(BrokerConfig::default());
    let c = cadline(&broker, &["--qos", "1"]);
    let n = 100_000;
    let batch: Vec<String> = (1..=n).map(electricity).collect();
    broker.publish_lines(E, &batch, 1);
    assert_every_message_arrives(&c, n);
}

#[test]
fn a_flood_of_unacknowledged_messages_cannot_freeze_it() {
    // Without an in-flight limit Mosquitto sends every queued QoS 1 message
    // at once, as it does when it restores a persistent session: thousands
    // of acknowledgements then wait in rumqttc's request queue while the
    // writer is still busy. A blocking ack froze cadline for good here (the
    // writer waiting on that queue, the connection thread on the writer).
    let broker = Mosquitto::with(BrokerConfig {
        extra: vec!["max_inflight_messages 0".into()],
        ..BrokerConfig::default()
    });
    let url = broker.url();
    let c = Cadline::spawn_slow_reader(&["--broker", &url, "--qos", "1"], 10);
    c.wait_connected();
    let n = 60_000;
    let batch: Vec<String> = (1..=n).map(electricity).collect();
    // Nobody reads stdout while the flood arrives, so the writer falls
    // behind and its acknowledgements pile up; then reading resumes.
    broker.publish_lines(E, &batch, 1);
    std::thread::sleep(SECS(2));
    assert_every_message_arrives(&c, n);
}

/// Collects lines until messages 1..=n have all arrived (two minutes at
/// most) and fails naming how many did not.
fn assert_every_message_arrives(c: &Cadline, n: u64) {
    let lines = c.collect(n as usize, SECS(120));
    let got: HashSet<u64> = seqs(&lines).into_iter().collect();
    assert_eq!(
        got.len(),
        n as usize,
        "missing {} messages; stderr: {:?}",
        n as usize - got.len(),
        c.stderr()
    );
}

#[test]
fn mqtt_5_works_too() {
    let broker = Mosquitto::start();
    let c = cadline(
        &broker,
        &[
            "--mqtt-version",
            "5",
            "--client-id",
            "cadline-v5",
            "--persistent-session",
        ],
    );
    broker.publish(E, &electricity(13), 1);
    assert_eq!(c.next_line(SECS(5)).as_deref().and_then(seq_of), Some(13));
}
