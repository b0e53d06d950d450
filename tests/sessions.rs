//! Connections and sessions against a real Mosquitto: copied client ids,
//! sessions from an earlier configuration, oversized messages, and a clean
//! stop while messages still arrive.

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use crate::rig::{electricity, join_within, seq_of, Cadline, Mosquitto, Watched};

const E: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";
const SECS: fn(u64) -> Duration = Duration::from_secs;

fn seqs(lines: &[String]) -> HashSet<u64> {
    lines.iter().filter_map(|l| seq_of(l)).collect()
}

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn two_instances_with_one_client_id_do_not_storm_and_say_why() {
    // A copied configuration: each instance's CONNECT throws the other off.
    // Resetting backoff and the log throttle at every CONNACK made this ~20
    // lines each in 7 s, forever, and never named the cause.
    let broker = Mosquitto::start();
    let url = broker.url();
    let args = ["--broker", url.as_str(), "--client-id", "copied"];
    let a = Cadline::spawn(&args, &[]);
    a.wait_connected();
    let b = Cadline::spawn(&args, &[]);
    thread::sleep(SECS(8));
    for (name, c) in [("a", &a), ("b", &b)] {
        let stderr = c.stderr();
        let noisy = count(&stderr, "Connection lost") + count(&stderr, "Reconnected");
        assert!(noisy <= 8, "{name}: {noisy} lines in 8 s: {stderr:#?}");
    }
    let both: Vec<String> = a.stderr().into_iter().chain(b.stderr()).collect();
    assert!(
        both.iter().any(|l| l.contains("same --client-id")),
        "no hint at the cause: {both:#?}"
    );
    // The broker log agrees that they kept taking over from each other,
    // but slowly: a handful of connections, not dozens.
    let connects = broker.log().matches("as copied").count();
    assert!(connects < 16, "{connects} connections in 8 s");
}

#[test]
fn a_resumed_session_from_before_a_shared_group_does_not_deliver_twice() {
    // pc1 ran with a plain subscription and a persistent session; then the
    // operator added --shared-group beside a second member. The old plain
    // subscription must not keep sending pc1 every message.
    let broker = Mosquitto::start();
    let url = broker.url();
    let base = |id: &'static str| {
        vec![
            "--broker".to_owned(),
            url.clone(),
            "--persistent-session".to_owned(),
            "--client-id".to_owned(),
            id.to_owned(),
        ]
    };
    let plain = base("pc1");
    let args: Vec<&str> = plain.iter().map(String::as_str).collect();
    let mut first = Cadline::spawn(&args, &[]);
    first.wait_connected();
    first.close_stdin();
    first.wait_exit(SECS(3)).expect("stops");
    let spawn_grouped = |id: &'static str| {
        let mut a = base(id);
        a.extend(["--shared-group".to_owned(), "g".to_owned()]);
        let args: Vec<&str> = a.iter().map(String::as_str).collect();
        let c = Cadline::spawn(&args, &[]);
        c.wait_connected();
        c
    };
    let pc1 = spawn_grouped("pc1");
    let pc2 = spawn_grouped("pc2");
    let n = 400;
    let lines: Vec<String> = (1..=n).map(electricity).collect();
    broker.publish_lines(E, &lines, 1);
    let (l1, l2) = (pc1.until_quiet(SECS(2)), pc2.until_quiet(SECS(1)));
    // Mosquitto deals a group's messages round-robin: each member gets
    // about half. A member that resumed its session without subscribing
    // again gets nothing, while the other takes all, and the count below
    // alone would not notice.
    for (name, lines) in [("pc1 (resumed)", &l1), ("pc2 (new)", &l2)] {
        assert!(
            seqs(lines).len() >= n as usize / 4,
            "{name} got {} of {n}, not its share",
            seqs(lines).len()
        );
    }
    let mut all = l1;
    all.extend(l2);
    assert_eq!(seqs(&all).len(), n as usize, "every message once");
    assert_eq!(all.len(), n as usize, "some messages were written twice");
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn a_huge_message_never_costs_its_size_in_memory() {
    // 40 MB against --max-message-size 100000: refused from its header
    // (MQTT 3.1.1) or never sent (MQTT 5, which is told the limit in
    // CONNECT); readings after it still arrive.
    let broker = Mosquitto::start();
    let url = broker.url();
    let huge = format!("{{\"x\":\"{}\"}}", "a".repeat(40_000_000));
    for version in ["3.1.1", "5"] {
        let c = Cadline::spawn(
            &[
                "--broker",
                &url,
                "--mqtt-version",
                version,
                "--max-message-size",
                "100000",
            ],
            &[],
        );
        c.wait_connected();
        let before = peak_rss_kib(c.pid());
        broker.publish(E, &huge, 0);
        thread::sleep(SECS(2));
        let grew = peak_rss_kib(c.pid()).saturating_sub(before);
        assert!(grew < 4_000, "MQTT {version}: peak RSS grew by {grew} KiB");
        // Reconnected (3.1.1) or never disconnected (5): later readings flow.
        let start = Instant::now();
        let mut got = HashSet::new();
        let mut seq = 1;
        while got.is_empty() && start.elapsed() < SECS(20) {
            broker.publish(E, &electricity(seq), 1);
            seq += 1;
            got.extend(c.collect(1, SECS(1)).iter().filter_map(|l| seq_of(l)));
        }
        assert!(
            !got.is_empty(),
            "MQTT {version}: nothing after: {:?}",
            c.stderr()
        );
    }
}

#[test]
fn a_clean_stop_under_load_leaves_nothing_written_to_be_redelivered() {
    // Persistent session, a burst still being published, SIGTERM a moment
    // in: every line written was acknowledged before DISCONNECT, so the next
    // run gets none of them again (only what was never written). Closing
    // the socket with messages unread used to make the kernel reset the
    // connection, losing the last acks and the DISCONNECT on the way.
    let broker = Mosquitto::start();
    let url = broker.url();
    for (trial, delay_ms) in [300u64, 450, 600, 380].into_iter().enumerate() {
        let client = format!("clean-stop-{trial}");
        let args = [
            "--broker",
            url.as_str(),
            "--persistent-session",
            "--client-id",
            client.as_str(),
            "--log-level",
            "debug",
        ];
        let mut c = Cadline::spawn(&args, &[]);
        c.wait_connected();
        let n = 5000;
        let lines: Vec<String> = (1..=n).map(electricity).collect();
        // Published while cadline stops, as a CAD keeps publishing.
        let port = broker.port;
        let publisher = thread::spawn(move || {
            let mut child = Watched::spawn(
                std::process::Command::new("mosquitto_pub")
                    .args([
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &port.to_string(),
                        "-t",
                        E,
                        "-q",
                        "1",
                        "-l",
                    ])
                    .stdin(std::process::Stdio::piped()),
                "mosquitto_pub",
            );
            let mut input = lines.join("\n");
            input.push('\n');
            child.feed(input.into_bytes());
            // 5000 QoS 1 messages take a second or two.
            child.finish(SECS(60), "to publish 5000 messages");
        });
        thread::sleep(Duration::from_millis(delay_ms));
        c.signal("TERM");
        c.wait_exit(SECS(5)).expect("stops within 5 s");
        let first_lines = c.until_quiet(Duration::from_millis(200));
        let first: HashSet<u64> = seqs(&first_lines);
        join_within(publisher, SECS(90), "the publisher to end");
        let again = Cadline::spawn(&args, &[]);
        let second_lines = again.until_quiet(SECS(3));
        let second = seqs(&second_lines);
        let twice: Vec<&u64> = first.intersection(&second).collect();
        assert!(
            twice.is_empty(),
            "trial {trial}: {} of {} written lines redelivered; stderr: {:?}",
            twice.len(),
            first.len(),
            c.stderr()
        );
        assert_eq!(
            first.len() + second.len(),
            n as usize,
            "trial {trial}: readings lost"
        );
    }
}

#[test]
fn overlapping_filters_are_refused_with_mqtt_5_and_warned_about_with_3_1_1() {
    // Mosquitto delivers a message to an MQTT 5 client once per matching
    // subscription: every STATE line would be written twice.
    let broker = Mosquitto::start();
    let url = broker.url();
    let filters = ["--topic", "glow/#", "--topic", "glow/+/STATE"];
    let mut v5 = Cadline::spawn(
        &[
            &["--broker", url.as_str(), "--mqtt-version", "5"][..],
            &filters[..],
        ]
        .concat(),
        &[],
    );
    let status = v5.wait_exit(SECS(3)).expect("refused at start");
    assert_eq!(status.code(), Some(2));
    v5.wait_for_stderr("overlap", SECS(2));
    let stderr = v5.stderr().join("\n");
    assert!(
        stderr.contains("\"glow/#\" and \"glow/+/STATE\" overlap"),
        "{stderr}"
    );
    let v3 = Cadline::spawn(
        &[&["--broker", url.as_str()][..], &filters[..]].concat(),
        &[],
    );
    v3.wait_connected();
    assert!(
        v3.stderr()
            .iter()
            .any(|l| l.starts_with("W! --topic") && l.contains("overlap")),
        "{:?}",
        v3.stderr()
    );
}

#[test]
fn a_broker_packet_limit_below_our_subscribe_does_not_storm_either() {
    // Mosquitto accepts the CONNECT, then drops the connection at our
    // SUBSCRIBE (four filters, over its max_packet_size): every connection
    // dies just after CONNACK, like the copied client id.
    let broker = Mosquitto::with(crate::rig::BrokerConfig {
        extra: vec!["max_packet_size 100".into()],
        ..crate::rig::BrokerConfig::persistent()
    });
    let url = broker.url();
    let c = Cadline::spawn(&["--broker", &url], &[]);
    thread::sleep(SECS(8));
    let stderr = c.stderr();
    let noisy = count(&stderr, "Connection lost") + count(&stderr, "onnected to");
    assert!(noisy <= 8, "{noisy} lines in 8 s: {stderr:#?}");
    assert!(
        stderr.iter().any(|l| l.contains("max_packet_size")),
        "no hint at the cause: {stderr:#?}"
    );
    let connects = broker.log().matches("New client connected").count();
    assert!(connects < 16, "{connects} connections in 8 s");
}

#[test]
fn a_redelivered_oversized_message_is_read_once_and_skipped_with_mqtt_3_1_1() {
    // A persistent session redelivers a message over the limit at every
    // reconnect, and MQTT 3.1.1 can refuse it only by disconnecting: the
    // readings queued behind it were held back for ever. Up to four times
    // the limit, the next connection reads it once and skips it; beyond
    // that, the error names the broker setting, and cadline stays up with
    // bounded memory.
    let broker = Mosquitto::start();
    let url = broker.url();
    let args = [
        "--broker",
        url.as_str(),
        "--persistent-session",
        "--client-id",
        "oversize",
        "--max-message-size",
        "100000",
    ];
    let c = Cadline::spawn(&args, &[]);
    c.wait_connected();
    let before = peak_rss_kib(c.pid());
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(300_000));
    broker.publish(E, &big, 1);
    let lines: Vec<String> = (1..=5).map(electricity).collect();
    broker.publish_lines(E, &lines, 1);
    let got = seqs(&c.collect(5, SECS(20)));
    assert_eq!(got, (1..=5).collect(), "{:#?}", c.stderr());
    assert!(
        c.stderr()
            .iter()
            .any(|l| l.contains("reads it once to skip it")),
        "{:#?}",
        c.stderr()
    );
    let grew = peak_rss_kib(c.pid()).saturating_sub(before);
    assert!(grew < 4_000, "peak RSS grew by {grew} KiB");
    // Far over four times the limit: said plainly, and cadline stays up.
    let huge = format!("{{\"x\":\"{}\"}}", "a".repeat(5_000_000));
    broker.publish(E, &huge, 1);
    assert!(
        c.wait_for_stderr("more than 4 times --max-message-size", SECS(10)),
        "{:#?}",
        c.stderr()
    );
    let grew = peak_rss_kib(c.pid()).saturating_sub(before);
    assert!(grew < 4_000, "peak RSS grew by {grew} KiB");
}

/// Mosquitto's dynamic security plugin, where Debian's mosquitto package
/// puts it: the one Mosquitto ACL that refuses a SUBSCRIBE (2.0.11's
/// acl_file grants every subscription and filters what it delivers).
fn dynamic_security_plugin() -> std::path::PathBuf {
    std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|arch| arch.path().join("mosquitto_dynamic_security.so"))
        .chain([std::path::PathBuf::from(
            "/usr/lib/mosquitto_dynamic_security.so",
        )])
        .find(|p| p.exists())
        .expect("mosquitto_dynamic_security.so not found: apt-get install mosquitto")
}

/// `mosquitto_ctrl dynsec ARGS` against `broker` as its admin (a throwaway
/// login of a test broker, on this command line only).
fn dynsec(broker: &Mosquitto, args: &[&str]) {
    let out = crate::rig::run_with_timeout(
        std::process::Command::new(crate::rig::tool("mosquitto_ctrl", "mosquitto"))
            .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
            .args(["-u", "admin", "-P", "admin-pw", "dynsec"])
            .args(args),
        None,
        crate::rig::TOOL_TIMEOUT,
        "mosquitto_ctrl",
    );
    assert!(
        out.status.success(),
        "mosquitto_ctrl dynsec {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The broker's ACL refuses one of the four subscriptions. The `E!` line
/// names that one filter (not all four), the others deliver meanwhile, and
/// it is asked for again, alone, when the line says: not at the next
/// keep-alive, a minute later, as before. Once the ACL allows it, its
/// readings come.
#[test]
fn a_refused_subscription_is_named_and_asked_for_again_alone_on_time() {
    let dir = crate::rig::TempDir::new("dynsec");
    let config = dir.path().join("dynamic-security.json");
    let init = crate::rig::run_with_timeout(
        std::process::Command::new(crate::rig::tool("mosquitto_ctrl", "mosquitto"))
            .args(["dynsec", "init"])
            .arg(&config)
            .args(["admin", "admin-pw"]),
        None,
        crate::rig::TOOL_TIMEOUT,
        "mosquitto_ctrl dynsec init",
    );
    assert!(init.status.success(), "{init:?}");
    let broker = Mosquitto::with(crate::rig::BrokerConfig {
        extra: vec![
            format!("plugin {}", dynamic_security_plugin().display()),
            format!("plugin_opt_config_file {}", config.display()),
        ],
        ..crate::rig::BrokerConfig::default()
    });
    // Anonymous clients (cadline and the test's publisher) may publish and
    // subscribe under glow/, except to the gas meters.
    for command in [
        "createRole glow",
        "addRoleACL glow publishClientSend glow/# allow 1",
        "addRoleACL glow subscribePattern glow/# allow 1",
        "addRoleACL glow subscribePattern glow/+/SENSOR/gasmeter deny 5",
        "createGroup anonymous",
        "addGroupRole anonymous glow",
        "setAnonymousGroup anonymous",
    ] {
        dynsec(&broker, &command.split(' ').collect::<Vec<_>>());
    }
    let url = broker.url();
    let cadline = Cadline::spawn(&["--broker", url.as_str(), "--log-level", "info"], &[]);
    let refused = "The broker refused the subscription to glow/+/SENSOR/gasmeter (check its ACL)";
    assert!(
        cadline.wait_for_stderr(refused, SECS(10)),
        "{:#?}",
        cadline.stderr()
    );
    // Asked again, alone, on time: by 4 s the backoff (about 0.5, 1, 2 s)
    // has asked three more times.
    thread::sleep(SECS(4));
    let stderr = cadline.stderr();
    assert!(
        count(&stderr, refused) >= 3,
        "asked again at the times it said: {stderr:#?}"
    );
    assert!(
        stderr
            .iter()
            .all(|l| !l.contains("refused") || l.contains(refused)),
        "only the refused filter is named: {stderr:#?}"
    );
    // Meanwhile the granted subscriptions deliver.
    let e = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";
    broker.publish(e, &electricity(1), 1);
    let line = cadline.next_line(SECS(10)).unwrap_or_default();
    assert_eq!(seq_of(&line), Some(1), "{line:?}");
    // The broker saw each retry as a SUBSCRIBE of the gas filter alone.
    let log = broker.log();
    let retries = log
        .lines()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| {
            w[0].contains("Received SUBSCRIBE")
                && w[1].trim_end().ends_with("glow/+/SENSOR/gasmeter (QoS 1)")
        })
        .count();
    assert!(
        retries >= 3,
        "{retries} SUBSCRIBEs of the gas filter:\n{log}"
    );
    // The operator fixes the ACL; gas readings come.
    dynsec(
        &broker,
        &[
            "removeRoleACL",
            "glow",
            "subscribePattern",
            "glow/+/SENSOR/gasmeter",
        ],
    );
    let gas = r#"{"gasmeter":{"timestamp":"2026-03-01T10:00:00Z","energy":{"import":{"cumulative":100.5,"units":"kWh"}}}}"#;
    let deadline = Instant::now() + SECS(20);
    let mut got = None;
    while got.is_none() && Instant::now() < deadline {
        broker.publish("glow/0A1B2C3D4E5F/SENSOR/gasmeter", gas, 1);
        got = cadline
            .next_line(SECS(1))
            .filter(|l| l.starts_with("gasmeter,"));
    }
    assert!(
        got.is_some(),
        "no gas reading after the ACL was fixed: {:#?}",
        cadline.stderr()
    );
}
