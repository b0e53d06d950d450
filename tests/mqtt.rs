//! cadline against a real Mosquitto: flow, faults, TLS, shared
//! subscriptions and the execd contract (stdin EOF, signals, EPIPE).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::rig::{
    electricity, make_tls, run_with_timeout, seq_of, BrokerConfig, BrokerTls, Cadline, Mosquitto,
    TempDir, Watched, TOOL_TIMEOUT,
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
    let mut child = Watched::spawn_keeping_stdout(
        std::process::Command::new(env!("CARGO_BIN_EXE_cadline"))
            .args(["--broker", &url])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
        "cadline",
    );
    drop(child.take_stdout());
    std::thread::sleep(Duration::from_millis(800));
    broker.publish(E, &electricity(10), 1);
    let exited_in_time = child.exit_within(SECS(5)).is_some();
    assert!(exited_in_time, "still running 5 s after stdout closed");
    let output = child.finish(SECS(5), "its stderr to close after it exited");
    let status = output.status;
    assert_eq!(status.code(), Some(1), "{status:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
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

// ---------------------------------------------------------------------------
// What a newcomer and an operator see (issue 14).

/// Waits for cadline to exit by itself; fails naming what it waited for.
fn exits_within(c: &mut Cadline, what: &str, timeout: Duration) -> std::process::ExitStatus {
    match c.wait_exit(timeout) {
        Some(status) => status,
        None => panic!(
            "cadline did not exit within {timeout:?} ({what}): {:?}",
            c.stderr()
        ),
    }
}

/// The stderr lines that contain `needle`.
fn lines_with(c: &Cadline, needle: &str) -> Vec<String> {
    c.stderr()
        .into_iter()
        .filter(|l| l.contains(needle))
        .collect()
}

#[test]
fn silence_is_said_with_the_fix_and_again_less_often() {
    // The CAD publishes under glow/, cadline is told energy/: it connects
    // and subscribes fine, and nothing ever arrives.
    let broker = Mosquitto::start();
    let url = broker.url();
    let start = Instant::now();
    let c = Cadline::spawn(
        &[
            "--broker",
            &url,
            "--prefix",
            "energy",
            "--silence-warning",
            "1",
        ],
        &[],
    );
    c.wait_connected();
    broker.publish(E, &electricity(1), 1);
    assert!(
        c.wait_for_stderr("Nothing received", SECS(5)),
        "no silence warning: {:?}",
        c.stderr()
    );
    let first = lines_with(&c, "Nothing received").remove(0);
    assert!(first.starts_with("W! "), "{first}");
    for needle in [
        "energy/+/STATE",
        "--prefix energy",
        "mosquitto_sub -v",
        "-t '#'",
    ] {
        assert!(first.contains(needle), "no {needle:?} in {first}");
    }
    // Again after 2 s of silence, then after 4 s: less and less often.
    let deadline = Instant::now() + SECS(10);
    let times = loop {
        let times: Vec<f64> = c
            .stderr_since(start)
            .into_iter()
            .filter(|l| l.contains("Nothing received"))
            .filter_map(|l| l.split('s').next().and_then(|t| t.parse().ok()))
            .collect();
        if times.len() >= 3 || Instant::now() > deadline {
            break times;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(times.len(), 3, "three warnings in 10 s: {:?}", c.stderr());
    let (gap1, gap2) = (times[1] - times[0], times[2] - times[1]);
    assert!(
        gap1 >= 0.8 && gap2 >= 1.5 * gap1,
        "warnings at {times:?}: not less and less often"
    );
    // Once messages arrive, it says so.
    broker.publish(
        "energy/0A1B2C3D4E5F/SENSOR/electricitymeter",
        &electricity(2),
        1,
    );
    assert_eq!(c.next_line(SECS(5)).as_deref().and_then(seq_of), Some(2));
    assert!(
        c.wait_for_stderr("Messages arriving again", SECS(3)),
        "{:?}",
        c.stderr()
    );
}

#[test]
fn stdin_on_dev_null_is_said_before_it_exits() {
    let broker = Mosquitto::start();
    let output = Watched::spawn(
        std::process::Command::new(env!("CARGO_BIN_EXE_cadline"))
            .args(["--broker", &broker.url()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped()),
        "cadline",
    )
    .finish(SECS(5), "with stdin on /dev/null, to exit");
    let status = output.status;
    assert!(status.success(), "{status:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warning = stderr
        .lines()
        .find(|l| l.contains("/dev/null"))
        .unwrap_or_else(|| panic!("nothing names /dev/null: {stderr}"));
    assert!(
        warning.starts_with("W! ") && warning.contains("sleep infinity | cadline"),
        "{warning}"
    );
}

#[test]
fn passwords_work_the_obvious_way_or_say_what_happened() {
    let broker = Mosquitto::with(BrokerConfig {
        login: Some(("meter".into(), "horse-battery".into())),
        ..BrokerConfig::default()
    });
    let url = broker.url();
    let dir = TempDir::new("pw-cases");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8").to_owned()
    };
    let with_file = |path: &str, envs: &[(&str, &str)]| {
        Cadline::spawn(
            &[
                "--broker",
                &url,
                "--username",
                "meter",
                "--password-file",
                path,
            ],
            envs,
        )
    };
    let flows = |c: &Cadline, seq: u64| {
        c.wait_connected();
        broker.publish(E, &electricity(seq), 1);
        assert_eq!(
            c.next_line(SECS(5)).as_deref().and_then(seq_of),
            Some(seq),
            "{:?}",
            c.stderr()
        );
    };

    // A UTF-8 byte order mark (Notepad) is not part of the password.
    let bom = file("bom", "\u{feff}horse-battery\r\n");
    let c = with_file(&bom, &[]);
    flows(&c, 1);
    assert!(
        c.stderr().iter().all(|l| !l.starts_with("W! ")),
        "{:?}",
        c.stderr()
    );

    // An empty file, or a blank first line: refused at start, not sent.
    for (name, text, why) in [
        ("empty", "", "is empty"),
        ("blank-first", "\nhorse-battery\n", "first line is empty"),
    ] {
        let path = file(name, text);
        let mut c = with_file(&path, &[]);
        let status = exits_within(&mut c, "an unusable password file", SECS(5));
        assert!(!status.success());
        let stderr = c.stderr();
        assert_eq!(stderr.len(), 1, "{stderr:?}");
        assert!(
            stderr[0].starts_with("E! ") && stderr[0].contains(&path) && stderr[0].contains(why),
            "{stderr:?}"
        );
    }

    // The variable loses one trailing newline, as the file does.
    let c = Cadline::spawn(
        &["--broker", &url, "--username", "meter"],
        &[("CADLINE_MQTT_PASSWORD", "horse-battery\n")],
    );
    flows(&c, 2);

    // Both set: the file wins, and that is said.
    let good = file("good", "horse-battery\n");
    let c = with_file(&good, &[("CADLINE_MQTT_PASSWORD", "something-else")]);
    flows(&c, 3);
    assert_eq!(
        lines_with(&c, "using --password-file").len(),
        1,
        "{:?}",
        c.stderr()
    );

    // CADLINE_PASSWORD is not a variable cadline reads: said, with the one it does.
    let c = Cadline::spawn(
        &["--broker", &url, "--username", "meter"],
        &[("CADLINE_PASSWORD", "horse-battery")],
    );
    assert!(
        c.wait_for_stderr("CADLINE_PASSWORD is not read", SECS(5)),
        "{:?}",
        c.stderr()
    );
    assert!(
        lines_with(&c, "CADLINE_PASSWORD is not read")[0].contains("CADLINE_MQTT_PASSWORD"),
        "{:?}",
        c.stderr()
    );
    assert!(
        c.wait_for_stderr("without a password", SECS(5)),
        "a user name alone is said too: {:?}",
        c.stderr()
    );

    // Spaces around the password are kept, with a note.
    let spaced = file("spaced", " horse-battery \n");
    let c = with_file(&spaced, &[]);
    assert!(
        c.wait_for_stderr("white space", SECS(5)),
        "{:?}",
        c.stderr()
    );
}

#[test]
fn bad_tls_files_are_one_error_at_start() {
    let dir = TempDir::new("tls-files");
    let tls = make_tls(dir.path());
    let path = |p: &std::path::Path| p.to_str().expect("utf-8").to_owned();
    let der = dir.path().join("ca.der");
    let out = run_with_timeout(
        std::process::Command::new(crate::rig::tool("openssl", "openssl"))
            .args(["x509", "-outform", "der", "-in"])
            .arg(&tls.ca)
            .arg("-out")
            .arg(&der),
        None,
        TOOL_TIMEOUT,
        "openssl",
    );
    assert!(out.status.success());
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "the broker's CA is on the wiki\n").expect("write");
    // No broker needed: the files are checked before connecting.
    let url = format!("mqtts://localhost:{}", crate::rig::free_port());
    let (ca, cert, key, server_key) = (
        path(&tls.ca),
        path(&tls.client_cert),
        path(&tls.client_key),
        path(&tls.server_key),
    );
    for (args, flag) in [
        (vec!["--ca-file".to_owned(), path(&der)], "--ca-file"),
        (vec!["--ca-file".to_owned(), key.clone()], "--ca-file"),
        (vec!["--ca-file".to_owned(), path(&text)], "--ca-file"),
        (
            vec![
                "--ca-file".into(),
                ca.clone(),
                "--cert-file".into(),
                key.clone(),
                "--key-file".into(),
                key.clone(),
            ],
            "--cert-file",
        ),
        (
            vec![
                "--ca-file".into(),
                ca.clone(),
                "--cert-file".into(),
                cert.clone(),
                "--key-file".into(),
                cert.clone(),
            ],
            "--key-file",
        ),
        (
            vec![
                "--ca-file".into(),
                ca.clone(),
                "--cert-file".into(),
                cert.clone(),
                "--key-file".into(),
                server_key,
            ],
            "do not belong together",
        ),
    ] {
        let mut all = vec!["--broker".to_owned(), url.clone()];
        all.extend(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut c = Cadline::spawn(&refs, &[]);
        let status = exits_within(&mut c, "a bad TLS file", SECS(5));
        assert!(!status.success(), "{refs:?}");
        // The stderr reader may be a moment behind the exit.
        c.wait_for_stderr("E! ", SECS(2));
        let stderr = c.stderr();
        let errors: Vec<&String> = stderr.iter().filter(|l| !l.contains("/dev/null")).collect();
        assert_eq!(errors.len(), 1, "{refs:?}: {stderr:?}");
        assert!(
            errors[0].starts_with("E! ") && errors[0].contains(flag),
            "{refs:?}: {stderr:?}"
        );
        if flag != "do not belong together" {
            assert!(errors[0].contains("PEM"), "{stderr:?}");
        }
    }
}

/// A server certificate for localhost that expired on 2020-07-01 00:00:00
/// UTC: signed by `ca` with the clock set to 2020-06-01 by libfaketime.
fn expired_server_cert(dir: &std::path::Path, tls: &crate::rig::TlsFiles) -> std::path::PathBuf {
    let lib = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.is_file())
        .expect("libfaketime.so.1 not found: install it with `apt-get install -y libfaketime` (or run tests/run.sh, which does)");
    let out = dir.join("expired.pem");
    let mut openssl = std::process::Command::new(crate::rig::tool("openssl", "openssl"));
    openssl
        .current_dir(dir)
        .env("LD_PRELOAD", lib)
        .env("FAKETIME", "@2020-06-01 00:00:00")
        .args(["x509", "-req", "-in", "server.csr", "-CA"])
        .arg(&tls.ca)
        .args([
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "server.ext",
            "-out",
        ])
        .arg(&out);
    let status = run_with_timeout(&mut openssl, None, TOOL_TIMEOUT, "openssl under faketime");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

#[test]
fn tls_mix_ups_are_recognised_and_the_fix_named() {
    let dir = TempDir::new("tls-mixups");
    let tls = make_tls(dir.path());
    let tls_broker = tls_broker(&tls, false);
    let plain = Mosquitto::start();
    let ca = tls.ca.to_str().expect("utf-8");
    let needs_cert = tls_broker_requiring_cert(&tls);
    let expired = Mosquitto::with(BrokerConfig {
        tls: Some(BrokerTls {
            ca: tls.ca.clone(),
            cert: expired_server_cert(dir.path(), &tls),
            key: tls.server_key.clone(),
            require_client_cert: false,
            publisher_cert: None,
        }),
        ..BrokerConfig::default()
    });
    let cases = [
        (
            format!("mqtt://127.0.0.1:{}", tls_broker.port),
            None,
            "use mqtts://",
        ),
        (
            format!("mqtts://localhost:{}", plain.port),
            Some(ca),
            "use mqtt://",
        ),
        (tls_broker.url(), None, "--ca-file"),
        (needs_cert.url(), Some(ca), "--cert-file and --key-file"),
        (
            expired.url(),
            Some(ca),
            "expired on 2020-07-01 00:00:00 UTC",
        ),
    ];
    let running: Vec<(Cadline, &str)> = cases
        .iter()
        .map(|(url, ca, fix)| {
            let mut args = vec!["--broker", url.as_str()];
            if let Some(ca) = ca {
                args.extend(["--ca-file", ca]);
            }
            (Cadline::spawn(&args, &[]), *fix)
        })
        .collect();
    for (c, fix) in &running {
        assert!(
            c.wait_for_stderr(fix, SECS(10)),
            "no {fix:?} in {:?}",
            c.stderr()
        );
        assert!(
            c.stderr().iter().all(|l| !l.contains("verification time")),
            "{:?}",
            c.stderr()
        );
    }
}

fn tls_broker_requiring_cert(tls: &crate::rig::TlsFiles) -> Mosquitto {
    tls_broker(tls, true)
}

#[test]
fn ipv6_brokers_in_brackets_and_schemes_in_any_case() {
    let v6 = crate::rig::free_port();
    let broker = Mosquitto::with(BrokerConfig {
        extra: vec![format!("listener {v6} ::1")],
        ..BrokerConfig::default()
    });
    for url in [
        format!("mqtt://[::1]:{v6}"),
        format!("MQTT://127.0.0.1:{}", broker.port),
        format!("tcp://127.0.0.1:{}", broker.port),
    ] {
        let c = Cadline::spawn(&["--broker", &url], &[]);
        c.wait_connected();
        broker.publish(E, &electricity(21), 1);
        assert_eq!(
            c.next_line(SECS(5)).as_deref().and_then(seq_of),
            Some(21),
            "{url}: {:?}",
            c.stderr()
        );
        if url.contains("::1") {
            assert_eq!(
                lines_with(&c, &format!("Connected to mqtt://[::1]:{v6} ")).len(),
                1,
                "{:?}",
                c.stderr()
            );
        }
    }
}

#[test]
fn the_default_client_id_is_as_documented_and_fits_23_bytes() {
    // The README and --help say the same (they once said two things).
    let help = run_with_timeout(
        std::process::Command::new(env!("CARGO_BIN_EXE_cadline")).arg("--help"),
        None,
        TOOL_TIMEOUT,
        "cadline --help",
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for (what, text) in [
        ("--help", String::from_utf8_lossy(&help.stdout).into_owned()),
        ("README", readme),
    ] {
        assert!(
            text.contains("cadline-<pid>-<n>"),
            "{what} does not document cadline-<pid>-<n>"
        );
    }
    let broker = Mosquitto::start();
    let c = cadline(&broker, &[]);
    let pid = c.pid();
    let log = broker.log();
    let id = log
        .lines()
        .filter_map(|l| l.split(" as ").nth(1))
        .filter_map(|rest| rest.split(' ').next())
        .find(|id| id.starts_with(&format!("cadline-{pid}-")))
        .unwrap_or_else(|| panic!("no client cadline-{pid}-<n> in the broker's log:\n{log}"));
    assert!(id.len() <= 23, "{id} is {} bytes", id.len());
    assert!(
        id[format!("cadline-{pid}-").len()..]
            .bytes()
            .all(|b| b.is_ascii_digit()),
        "{id}"
    );
}

#[test]
fn the_default_client_id_fits_23_bytes_with_a_7_digit_pid() {
    // Linux pids go up to 4 194 304. A pid namespace of our own (user
    // namespaces need no root) lets cadline run as pid 4194001.
    let broker = Mosquitto::start();
    let mut child = Watched::spawn(
        std::process::Command::new(crate::rig::tool("unshare", "util-linux"))
            .args([
                "--user",
                "--map-root-user",
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
            ])
            .args([
                "sh",
                "-c",
                "echo 4194000 > /proc/sys/kernel/ns_last_pid && ( exec \"$0\" \"$@\" )",
            ])
            .arg(env!("CARGO_BIN_EXE_cadline"))
            .args(["--broker", &broker.url()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped()),
        "unshare … cadline",
    );
    let start = Instant::now();
    let id = loop {
        let log = broker.log();
        if let Some(id) = log
            .lines()
            .filter_map(|l| l.split(" as ").nth(1))
            .filter_map(|rest| rest.split(' ').next())
            .find(|id| id.starts_with("cadline-"))
        {
            break id.to_owned();
        }
        if let Some(status) = child.exited() {
            let stderr = child.finish(SECS(5), "its stderr to close").stderr;
            let stderr = String::from_utf8_lossy(&stderr);
            panic!("cadline in a pid namespace exited ({status:?}) without connecting: {stderr}");
        }
        assert!(
            start.elapsed() < SECS(10),
            "no cadline client in the broker's log within 10 s:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(child.take_stdin());
    child.kill();
    assert!(id.starts_with("cadline-4194001-"), "{id}");
    assert!(id.len() <= 23, "{id} is {} bytes", id.len());
}

#[test]
fn silence_is_not_counted_while_the_broker_is_down() {
    // A broker outage is told by the connection's own errors; a "nothing
    // received, check your prefix" on top of them would point the wrong way.
    let mut broker = Mosquitto::start();
    let url = broker.url();
    let c = Cadline::spawn(&["--broker", &url, "--silence-warning", "2"], &[]);
    assert!(
        c.wait_for_stderr("Connected to", SECS(10)),
        "{:?}",
        c.stderr()
    );
    broker.kill();
    assert!(
        c.wait_for_stderr("Connection lost", SECS(5)),
        "{:?}",
        c.stderr()
    );
    std::thread::sleep(SECS(4));
    assert!(
        lines_with(&c, "Nothing received").is_empty(),
        "{:?}",
        c.stderr()
    );
}
