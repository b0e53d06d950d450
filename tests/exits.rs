//! Every way cadline stops, against a real Mosquitto: what reaches stdout is
//! whole lines only, and what is acknowledged was really written.

use std::collections::HashSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::rig::{
    electricity, join_within, seq_of, signal, BrokerConfig, Cadline, Mosquitto, Watched,
};

const E: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// cadline with its stdout read `chunk` bytes every `pause`, like a
/// stalled Telegraf, keeping every byte it wrote.
struct RawReader {
    child: Watched,
    bytes: Arc<Mutex<Vec<u8>>>,
    reader: Option<thread::JoinHandle<()>>,
}

impl RawReader {
    fn spawn(args: &[&str], chunk: usize, pause: Duration) -> RawReader {
        let mut child = Watched::spawn_keeping_stdout(
            Command::new(env!("CARGO_BIN_EXE_cadline"))
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
            "cadline",
        );
        let mut stdout = child.take_stdout();
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = bytes.clone();
        let reader = thread::spawn(move || {
            let mut buf = vec![0u8; chunk];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().expect("lock").extend_from_slice(&buf[..n]),
                }
                thread::sleep(pause);
            }
        });
        RawReader {
            child,
            bytes,
            reader: Some(reader),
        }
    }

    fn signal(&self, sig: &str) {
        assert!(signal(self.child.id(), sig), "kill -s {sig} cadline");
    }

    /// Waits (bounded) for the exit, then (bounded too) for the reader to
    /// see EOF, and returns the exit code and every byte written.
    fn finish(mut self, timeout: Duration) -> (Option<i32>, Vec<u8>) {
        let status = self
            .child
            .exit_within(timeout)
            .unwrap_or_else(|| panic!("cadline did not exit within {timeout:?}"));
        if let Some(r) = self.reader.take() {
            // The slow reader drains what is left in the pipe at its pace:
            // at most 64 KiB, a few seconds at the slowest pace used.
            join_within(r, Duration::from_secs(30), "the stdout reader to see EOF");
        }
        let bytes = self.bytes.lock().expect("lock").clone();
        (status.code(), bytes)
    }
}

/// Every line in `bytes` is whole (ends in `\n`) and is exactly the line
/// for one of the messages published (`cumulative` = its sequence number);
/// returns the sequence numbers seen.
fn assert_whole_lines(bytes: &[u8], published: u64) -> HashSet<u64> {
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8 output");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "stdout ends mid-line: {:?}",
        &text[text.len().saturating_sub(120)..]
    );
    let mut seen = HashSet::new();
    for line in text.lines() {
        let seq = seq_of(line).unwrap_or_else(|| panic!("not a reading: {line:?}"));
        assert!((1..=published).contains(&seq), "unknown reading {line:?}");
        assert_eq!(
            line,
            format!(
                "electricitymeter,device=0A1B2C3D4E5F cumulative={seq},power=0.5 1772366390000000000"
            ),
            "a damaged line"
        );
        seen.insert(seq);
    }
    seen
}

fn burst(broker: &Mosquitto, n: u64) {
    let lines: Vec<String> = (1..=n).map(electricity).collect();
    broker.publish_lines(E, &lines, 1);
}

fn wait_connected_by_log(broker: &Mosquitto, client: &str) {
    let start = Instant::now();
    while !broker.log().contains(&format!("as {client}")) {
        assert!(start.elapsed() < SECS(10), "{client} never connected");
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(300));
}

#[test]
fn a_stop_at_any_moment_under_a_slow_reader_leaves_only_whole_lines() {
    // SIGTERM during a burst while stdout drains at 512 bytes per 50 ms:
    // the drain deadline passes with lines still queued. Whatever cadline
    // manages to write must be whole lines, never a cut one (a cut number
    // is a wrong reading InfluxDB accepts).
    let broker = Mosquitto::with(BrokerConfig {
        extra: vec!["max_queued_messages 0".into()],
        ..BrokerConfig::persistent()
    });
    let url = broker.url();
    for (trial, delay_ms) in [300u64, 450, 600, 120].into_iter().enumerate() {
        let client = format!("slow-stop-{trial}");
        let r = RawReader::spawn(
            &["--broker", &url, "--client-id", &client],
            512,
            Duration::from_millis(50),
        );
        wait_connected_by_log(&broker, &client);
        burst(&broker, 3000);
        thread::sleep(Duration::from_millis(delay_ms));
        r.signal("TERM");
        let (code, bytes) = r.finish(SECS(5));
        assert_eq!(code, Some(0), "trial {trial}");
        let seen = assert_whole_lines(&bytes, 3000);
        assert!(!seen.is_empty(), "trial {trial}: nothing written");
    }
}

#[test]
fn sigkill_under_a_slow_reader_leaves_only_whole_lines() {
    let broker = Mosquitto::with(BrokerConfig {
        extra: vec!["max_queued_messages 0".into()],
        ..BrokerConfig::persistent()
    });
    let url = broker.url();
    for (trial, delay_ms) in [200u64, 350, 500].into_iter().enumerate() {
        let client = format!("slow-kill-{trial}");
        let r = RawReader::spawn(
            &["--broker", &url, "--client-id", &client],
            700,
            Duration::from_millis(20),
        );
        wait_connected_by_log(&broker, &client);
        burst(&broker, 3000);
        thread::sleep(Duration::from_millis(delay_ms));
        r.signal("KILL");
        let (_, bytes) = r.finish(SECS(5));
        assert_whole_lines(&bytes, 3000);
    }
}

#[test]
fn stdin_eof_then_sigterm_is_one_stop_and_everything_is_flushed() {
    // `systemctl stop` on the NixOS unit: Telegraf's end of our stdin
    // closes and SIGTERM arrives at the same moment.
    let broker = Mosquitto::start();
    let url = broker.url();
    let mut c = Cadline::spawn(&["--broker", &url], &[]);
    c.wait_connected();
    burst(&broker, 200);
    let lines = c.collect(200, SECS(10));
    assert_eq!(lines.len(), 200, "{:?}", c.stderr());
    c.close_stdin();
    c.signal("TERM");
    let status = c.wait_exit(SECS(3)).expect("exits within 3 s");
    assert_eq!(status.code(), Some(0), "{:?}", c.stderr());
    let stderr = c.stderr();
    assert!(
        !stderr.iter().any(|l| l.contains("Second stop signal")),
        "{stderr:?}"
    );
    assert!(
        stderr
            .iter()
            .any(|l| l.starts_with("I! Stdin closed") || l.starts_with("I! SIGTERM")),
        "{stderr:?}"
    );
}

#[test]
fn a_second_stop_signal_exits_at_once_with_status_130() {
    // Nobody reads stdout, so the drain cannot finish; the second signal
    // must not wait for it.
    let broker = Mosquitto::with(BrokerConfig {
        extra: vec!["max_queued_messages 0".into()],
        ..BrokerConfig::persistent()
    });
    let url = broker.url();
    let mut c = Cadline::spawn_slow_reader(&["--broker", &url], 1);
    c.wait_connected();
    burst(&broker, 3000);
    thread::sleep(Duration::from_millis(500));
    c.signal("TERM");
    thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    c.signal("TERM");
    let status = c
        .wait_exit(SECS(2))
        .expect("a second SIGTERM ends it within 2 s");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(status.code(), Some(130));
}

#[test]
fn started_with_stdout_closed_it_acknowledges_nothing_and_fails() {
    // `>&-`: Rust's runtime reopens fd 1 as /dev/null, and Stdout would
    // have reported EBADF as success anyway. Queued readings must stay
    // queued for the next run.
    let broker = Mosquitto::start();
    let url = broker.url();
    let args = [
        "--broker",
        url.as_str(),
        "--persistent-session",
        "--client-id",
        "closed-out",
    ];
    // A first run creates the session, then stops.
    let mut first = Cadline::spawn(&args, &[]);
    first.wait_connected();
    first.close_stdin();
    first.wait_exit(SECS(3)).expect("first run stops");
    burst(&broker, 3);
    let out = Watched::spawn(
        Command::new("sh")
            .arg("-c")
            .arg("\"$0\" \"$@\" </dev/null >&-; echo \"status $?\" >&2")
            .arg(env!("CARGO_BIN_EXE_cadline"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        "sh -c 'cadline >&-'",
    )
    .finish(
        SECS(10),
        "cadline with stdout closed to fail and sh to exit",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("E! Stdout is not usable"), "{stderr}");
    assert!(stderr.contains("status 1"), "{stderr}");
    let c = Cadline::spawn(&args, &[]);
    let got: HashSet<u64> = c
        .collect(3, SECS(10))
        .iter()
        .filter_map(|l| seq_of(l))
        .collect();
    assert_eq!(got, (1..=3).collect(), "{:?}", c.stderr());
}

#[test]
fn with_an_ack_delay_what_was_not_yet_acknowledged_at_exit_is_redelivered() {
    // Telegraf holds what it read in memory until its next flush; with
    // --ack-delay the broker keeps the readings until then. A stop before
    // the delay leaves them queued: the next run gets them again.
    let broker = Mosquitto::start();
    let url = broker.url();
    let run = |delay: &str, client: &str| {
        let args = [
            "--broker",
            url.as_str(),
            "--persistent-session",
            "--client-id",
            client,
            "--ack-delay",
            delay,
        ];
        let c = Cadline::spawn(&args, &[]);
        c.wait_connected();
        c
    };
    for (delay, redelivered) in [("30", true), ("0", false)] {
        let client = format!("ack-delay-{delay}");
        let mut c = run(delay, &client);
        burst(&broker, 5);
        assert_eq!(c.collect(5, SECS(10)).len(), 5, "{:?}", c.stderr());
        thread::sleep(Duration::from_millis(300));
        c.close_stdin();
        assert_eq!(c.wait_exit(SECS(3)).and_then(|s| s.code()), Some(0));
        let again = run(delay, &client);
        let lines = again.until_quiet(SECS(2));
        let seqs: HashSet<u64> = lines.iter().filter_map(|l| seq_of(l)).collect();
        if redelivered {
            assert_eq!(seqs, (1..=5).collect(), "{:?}", again.stderr());
        } else {
            assert!(seqs.is_empty(), "acknowledged yet redelivered: {seqs:?}");
        }
    }
}
