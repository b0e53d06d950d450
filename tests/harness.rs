//! Self-tests of the harness in support/: each piece starts the real
//! program and is checked against that program's own clients, so a broken
//! harness fails here and not as a puzzling cadline failure elsewhere.

use std::time::Duration;

use crate::support::{
    free_port, make_tls, wait_for_port, Influx, Mosquitto, MosquittoTls, ProcessUnderTest, TempDir,
};

const SECS: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn harness_temp_dir_is_removed_on_drop() {
    let dir = TempDir::new("self-test");
    let path = dir.path().to_path_buf();
    std::fs::write(dir.join("f"), "x").expect("write");
    assert!(path.is_dir());
    drop(dir);
    assert!(!path.exists());
}

#[test]
fn harness_broker_round_trip_with_mosquitto_sub() {
    let broker = Mosquitto::start();
    assert_ne!(broker.port(), 1883);
    assert_eq!(broker.url(), format!("mqtt://127.0.0.1:{}", broker.port()));
    let mut sub = broker.subscribe("glow/test/#", 1, Some(1));
    broker.publish("glow/test/a", r#"{"hello":"world"}"#, 1);
    assert_eq!(
        sub.collect_lines(1, SECS(10)),
        vec![r#"{"hello":"world"}"#.to_owned()]
    );
    let status = sub.wait_exit(SECS(10)).expect("mosquitto_sub -C 1 exits");
    assert!(status.success(), "{:?}", sub.stderr());
}

#[test]
fn harness_publish_lines_and_file_arrive_in_order() {
    let broker = Mosquitto::start();
    let sub = broker.subscribe("burst", 1, None);
    let lines: Vec<String> = (0..500).map(|i| format!("message {i}")).collect();
    broker.publish_lines("burst", &lines, 1);
    let dir = TempDir::new("payload");
    let big = "x".repeat(300_000);
    std::fs::write(dir.join("big"), &big).expect("write payload");
    broker.publish_file("burst", &dir.join("big"), 1);
    let mut got = sub.collect_lines(501, SECS(20));
    assert_eq!(got.pop().as_deref(), Some(big.as_str()));
    assert_eq!(got, lines);
}

#[test]
fn harness_broker_with_password_refuses_a_wrong_one() {
    let broker = Mosquitto::builder()
        .credentials("glow", "s3cret pass")
        .start();
    let mut wrong = broker.client_options();
    wrong.credentials = Some(("glow".into(), "wrong".into()));
    let err = broker
        .try_publish_with(&wrong, "t", "x", 1)
        .expect_err("a wrong password is refused");
    assert!(err.contains("not authorised"), "{err}");
    let mut anonymous = broker.client_options();
    anonymous.credentials = None;
    assert!(broker.try_publish_with(&anonymous, "t", "x", 1).is_err());
    broker.publish("t", "x", 1);
}

#[test]
fn harness_tls_broker_verifies_against_the_right_ca_only() {
    let certs = TempDir::new("tls");
    let tls = make_tls(certs.path());
    let broker = Mosquitto::builder()
        .tls(MosquittoTls::server_only(&tls))
        .start();
    assert_eq!(broker.url(), format!("mqtts://localhost:{}", broker.port()));
    broker.publish("t", "over tls", 1);
    let mut by_ip = broker.client_options();
    by_ip.host = "127.0.0.1".into();
    broker
        .try_publish_with(&by_ip, "t", "x", 1)
        .expect("the server certificate names IP 127.0.0.1 too");
    let mut other = broker.client_options();
    other.cafile = Some(tls.other_ca_cert.clone());
    let err = broker
        .try_publish_with(&other, "t", "x", 1)
        .expect_err("an unrelated CA does not verify the server");
    assert!(err.contains("TLS") || err.contains("certificate"), "{err}");
}

#[test]
fn harness_mutual_tls_broker_needs_the_client_certificate() {
    let certs = TempDir::new("tls");
    let tls = make_tls(certs.path());
    let broker = Mosquitto::builder().tls(MosquittoTls::mutual(&tls)).start();
    broker.publish("t", "with client cert", 1);
    let mut without = broker.client_options();
    without.client_cert = None;
    assert!(broker.try_publish_with(&without, "t", "x", 1).is_err());
}

#[test]
fn harness_broker_kill_and_restart_keep_port_and_persistence() {
    let mut broker = Mosquitto::start();
    let port = broker.port();
    broker.kill();
    assert!(!broker.is_running());
    assert!(!wait_for_port(port, Duration::from_millis(100)));
    broker.restart();
    assert_eq!(broker.port(), port);
    broker.publish("t", "after restart", 1);
    broker.stop();
    assert!(
        broker.persistence_dir().join("mosquitto.db").is_file(),
        "SIGTERM writes the persistence file:\n{}",
        broker.log_tail(20)
    );
    broker.restart();
    assert_eq!(broker.port(), port);
    broker.publish("t", "after stop", 1);
}

#[test]
fn harness_influx_writes_and_queries_back() {
    let influx = Influx::start();
    influx.create_db("cad");
    influx
        .write(
            "cad",
            "electricitymeter,kind=import cumulative=1.5 1700000000000000000\n\
             electricitymeter,kind=import cumulative=2.5 1700000001000000000\n",
        )
        .expect("two good lines are written");
    let rows = influx.rows("cad", "SELECT cumulative FROM electricitymeter");
    assert_eq!(
        rows,
        vec![
            vec![
                serde_json::json!(1_700_000_000_000_000_000_i64),
                serde_json::json!(1.5)
            ],
            vec![
                serde_json::json!(1_700_000_001_000_000_000_i64),
                serde_json::json!(2.5)
            ],
        ]
    );
    let err = influx
        .write("cad", "electricitymeter cumulative=\n")
        .expect_err("a line without a field value is refused");
    assert!(err.starts_with("400"), "{err}");
    assert!(err.contains("unable to parse"), "{err}");
    let conflict = influx
        .write(
            "cad",
            "electricitymeter,kind=import cumulative=3i 1700000002000000000\n",
        )
        .expect_err("an integer after floats is a type conflict");
    assert!(conflict.contains("field type conflict"), "{conflict}");
}

#[test]
fn harness_process_echoes_lines_and_exits_on_stdin_eof() {
    let mut cat = ProcessUnderTest::spawn("cat", &[], &[]);
    cat.write_stdin(b"one\ntwo\n");
    assert_eq!(cat.collect_lines(2, SECS(5)), ["one", "two"]);
    assert_eq!(cat.next_line(Duration::from_millis(100)), None);
    assert_eq!(
        cat.wait_exit(Duration::from_millis(100)),
        None,
        "stdin is kept open"
    );
    cat.close_stdin();
    let status = cat.wait_exit(SECS(5)).expect("cat exits on EOF");
    assert!(status.success());
    assert!(!cat.stdout_ended_unterminated());
}

#[test]
fn harness_process_stderr_env_signals_and_partial_lines() {
    let mut sh = ProcessUnderTest::spawn(
        "sh",
        &[
            "-c",
            "echo \"W! $GREETING\" >&2; printf 'a\\nb\\nc'; trap 'echo \"I! got TERM\" >&2; exit 3' TERM; \
             while :; do sleep 0.05; done",
        ],
        &[("GREETING", "hello")],
    );
    assert!(sh.wait_for_stderr("W! hello", SECS(5)), "{:?}", sh.stderr());
    assert_eq!(
        sh.lines_until_quiet(Duration::from_millis(300), SECS(5)),
        ["a", "b"]
    );
    sh.signal("SIGTERM");
    let status = sh.wait_exit(SECS(5)).expect("exits on TERM");
    assert_eq!(status.code(), Some(3));
    assert!(sh.wait_for_stderr("I! got TERM", SECS(5)));
    assert_eq!(sh.next_line(SECS(5)).as_deref(), Some("c"));
    assert!(sh.stdout_ended_unterminated());
}

#[test]
fn harness_free_ports_are_not_the_default_broker_port() {
    let port = free_port();
    assert_ne!(port, 1883);
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
}

#[test]
#[should_panic(expected = "Unknown configuration variable")]
fn harness_broker_start_failure_shows_the_log() {
    let _broker = Mosquitto::builder()
        .extra_line("no_such_option true")
        .start();
}

#[test]
#[should_panic(expected = "no-such-tool not found: install it with `apt-get install -y")]
fn harness_missing_tool_names_the_install_command() {
    crate::support::find_tool("no-such-tool");
}
