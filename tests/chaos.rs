//! Soak and chaos: many QoS 1 messages while the broker is SIGKILLed and
//! restarted and cadline itself is killed and restarted; a slow consumer.
//!
//! Sized for CI. Scale up with `CADLINE_SOAK_MESSAGES` (default 100 000) and
//! `CADLINE_SOAK_ROUNDS` (default 1), and vary the fault moments with
//! `CADLINE_SOAK_SEED` (default 24301); e.g. for an hour:
//! `CADLINE_SOAK_MESSAGES=1000000 CADLINE_SOAK_ROUNDS=20 cargo test --release --test integration chaos`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::rig::{seq_of, BrokerConfig, Cadline, Mosquitto};

const E: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A message whose `cumulative` is `seq` and whose timestamp is derived from
/// it, so a duplicate must carry the same time and value.
fn message(seq: u64) -> String {
    let t = 1_772_323_200 + seq;
    let (d, s) = (t / 86_400 - 20_513, t % 86_400);
    format!(
        r#"{{"electricitymeter":{{"timestamp":"2026-03-{:02}T{:02}:{:02}:{:02}Z","energy":{{"import":{{"cumulative":{seq},"units":"kWh"}}}}}}}}"#,
        d + 1,
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// A simple deterministic generator for "random" moments.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

fn spawn(broker: &Mosquitto) -> Cadline {
    let url = broker.url();
    Cadline::spawn(
        &[
            "--broker",
            &url,
            "--client-id",
            "cadline-chaos",
            "--persistent-session",
            "--qos",
            "1",
        ],
        &[],
    )
}

#[test]
fn qos1_persistent_session_survives_broker_and_cadline_kills() {
    let total = knob("CADLINE_SOAK_MESSAGES", 100_000);
    let seed = knob("CADLINE_SOAK_SEED", 0x5EED);
    for round in 0..knob("CADLINE_SOAK_ROUNDS", 1) {
        chaos_round(total, seed + round);
    }
}

fn chaos_round(total: u64, seed: u64) {
    let mut rng = Lcg(seed);
    let t0 = Instant::now();
    // What happened when, for the failure message: faults, and the stderr
    // of every cadline instance.
    let mut timeline: Vec<String> = Vec::new();
    let event = |timeline: &mut Vec<String>, what: String| {
        timeline.push(format!("{:.2}s [test] {what}", t0.elapsed().as_secs_f64()));
    };
    let mut broker = Mosquitto::with(BrokerConfig::persistent());
    let mut cadline = spawn(&broker);
    cadline.wait_connected();

    // Faults at random points of the stream: five broker SIGKILLs and two
    // cadline SIGKILLs.
    let mut faults: Vec<(u64, &str)> = (0..5).map(|_| (rng.below(total), "broker")).collect();
    faults.extend((0..2).map(|_| (rng.below(total), "cadline")));
    faults.sort_unstable();

    let mut lines: Vec<String> = Vec::new();
    let mut next = 1;
    for (at, what) in faults
        .iter()
        .copied()
        .chain(std::iter::once((total, "end")))
    {
        let batch: Vec<String> = (next..=at.max(next - 1)).map(message).collect();
        if !batch.is_empty() {
            broker.publish_lines(E, &batch, 1);
            event(
                &mut timeline,
                format!("published up to {}", next + batch.len() as u64 - 1),
            );
        }
        next = at.max(next - 1) + 1;
        match what {
            "broker" => {
                // Mosquitto saves its queues when more than
                // `autosave_interval` (1 s here) whole seconds have passed,
                // so every 2 s: a message it acknowledged since the last
                // save dies with it, whoever the subscriber is. Waiting past
                // a save puts the kill mid-delivery without testing the
                // broker's own durability.
                std::thread::sleep(Duration::from_millis(2600 + rng.below(400)));
                broker.kill();
                event(&mut timeline, "broker killed".into());
                std::thread::sleep(Duration::from_millis(200 + rng.below(800)));
                broker.restart();
                event(&mut timeline, "broker listening again".into());
            }
            "cadline" => {
                std::thread::sleep(Duration::from_millis(rng.below(300)));
                cadline.kill();
                event(&mut timeline, "cadline killed".into());
                lines.extend(cadline.until_quiet(Duration::from_millis(100)));
                timeline.extend(cadline.stderr_since(t0));
                cadline = spawn(&broker);
                cadline.wait_connected();
            }
            _ => {}
        }
    }
    // Faults close together leave cadline in backoff when the stream ends
    // (up to 10 s between attempts, more on a loaded machine): wait until
    // its latest connection line is a successful one, then drain until
    // everything is in or nothing has come for 20 s.
    let reconnected = Instant::now() + Duration::from_secs(90);
    while !is_connected(&cadline) && Instant::now() < reconnected {
        std::thread::sleep(Duration::from_millis(50));
    }
    event(
        &mut timeline,
        format!("connected: {}", is_connected(&cadline)),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = cadline.until_quiet(Duration::from_secs(20));
        let empty = got.is_empty();
        lines.extend(got);
        let seen: std::collections::HashSet<u64> = lines.iter().filter_map(|l| seq_of(l)).collect();
        if seen.len() as u64 >= total || empty || Instant::now() > deadline {
            break;
        }
    }

    // Every message published is there at least once, and every duplicate
    // is the same line (same timestamp and value): InfluxDB stores it once.
    let mut by_seq: HashMap<u64, &String> = HashMap::new();
    for line in &lines {
        let seq = seq_of(line).unwrap_or_else(|| panic!("unexpected line {line:?}"));
        if let Some(first) = by_seq.insert(seq, line) {
            assert_eq!(first, line, "a duplicate differs");
        }
    }
    let missing: Vec<u64> = (1..=total).filter(|s| !by_seq.contains_key(s)).collect();
    if !missing.is_empty() {
        event(
            &mut timeline,
            format!("gave up; cadline running: {}", cadline.is_running()),
        );
        timeline.extend(cadline.stderr_since(t0));
        timeline.sort_by(|a, b| {
            let secs = |l: &str| l.split('s').next().and_then(|n| n.parse::<f64>().ok());
            secs(a)
                .partial_cmp(&secs(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        // The broker's view, without the per-message lines.
        let log = broker.log();
        let broker_events: Vec<&str> = log
            .lines()
            .filter(|l| !l.contains("PUBLISH") && !l.contains("PUBACK") && !l.contains("PUBREC"))
            .collect();
        panic!(
            "{} of {total} messages missing (first: {:?}); faults at {faults:?}\ntimeline:\n{}\nbroker log (last 60 non-message lines):\n{}",
            missing.len(),
            &missing[..missing.len().min(10)],
            timeline.join("\n"),
            broker_events[broker_events.len().saturating_sub(60)..].join("\n")
        );
    }
}

/// Whether cadline's latest word on its connection is that it is connected
/// (every lost connection is logged at once; see `mqtt_source`).
fn is_connected(cadline: &Cadline) -> bool {
    let stderr = cadline.stderr();
    let up = stderr.iter().rposition(|l| l.contains("onnected to"));
    let down = stderr
        .iter()
        .rposition(|l| l.contains("Connection lost") || l.contains("Cannot connect"));
    up > down
}

#[test]
fn a_slow_reader_loses_nothing_and_memory_stays_bounded() {
    let broker = Mosquitto::with(BrokerConfig::default());
    let url = broker.url();
    // Stdout is read only as the test takes lines: the pipe fills and
    // pushes back on cadline, as a stalled Telegraf does.
    let cadline = Cadline::spawn_slow_reader(&["--broker", &url, "--qos", "1"], 10);
    cadline.wait_connected();
    let total = 20_000;
    let batch: Vec<String> = (1..=total).map(message).collect();
    let (mut lines, rss) = std::thread::scope(|scope| {
        scope.spawn(|| broker.publish_lines(E, &batch, 1));
        // Read at about 100 lines/s for 3 s while the rest waits upstream.
        let mut slow = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..300 {
            if let Some(l) = cadline.next_line(Duration::from_secs(5)) {
                slow.push(l);
            }
            std::thread::sleep(Duration::from_millis(10));
            if slow.len() % 50 == 0 {
                rss.push(rss_kib(cadline.pid()));
            }
        }
        (slow, rss)
    });
    // Memory does not grow with the backlog: the bounded channel and
    // unacknowledged QoS 1 messages keep it upstream, at the broker.
    let (first, max) = (rss[0], *rss.iter().max().unwrap_or(&0));
    assert!(
        max < first + 16 * 1024,
        "RSS grew from {first} KiB to {max} KiB while the reader was slow"
    );
    lines.extend(cadline.until_quiet(Duration::from_secs(3)));
    let seen: std::collections::HashSet<u64> = lines.iter().filter_map(|l| seq_of(l)).collect();
    assert_eq!(
        seen.len() as u64,
        total,
        "messages lost behind a slow reader"
    );
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
