//! Publish-to-stdout latency at a steady rate, beside `mosquitto_sub` in the
//! same run: `cargo bench --bench latency`.
//!
//! A private Mosquitto on a free loopback port; a rumqttc publisher sends
//! QoS 1 electricity messages at `LATENCY_RATE` per second (default 1000)
//! for `LATENCY_SECONDS` (default 10), each carrying its sequence number as
//! `cumulative`; a reader thread timestamps each line as it arrives on the
//! subscriber's stdout. The same run with `mosquitto_sub -v` is the
//! baseline: the broker, the publisher and the timing are in both.

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs one subscriber; returns sorted latencies in milliseconds.
fn measure(
    port: u16,
    subscriber: &mut Command,
    seq_of: fn(&str) -> Option<u64>,
    wait_ready: bool,
) -> (usize, Vec<f64>) {
    let rate = knob("LATENCY_RATE", 1000);
    let total = rate * knob("LATENCY_SECONDS", 10);
    let mut child = subscriber
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("subscriber starts");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let _child = Killed(child);
    if wait_ready {
        for line in BufReader::new(stderr).lines() {
            if line.expect("stderr").contains("onnected to") {
                break;
            }
        }
    }
    thread::sleep(Duration::from_millis(500));
    let arrived: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let sink = arrived.clone();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let now = Instant::now();
            if let Some(seq) = seq_of(&line) {
                let mut map = sink.lock().expect("lock");
                map.insert(seq, now);
                if map.len() as u64 >= total {
                    break;
                }
            }
        }
    });

    let mut options = rumqttc::MqttOptions::new(
        format!("latency-pub-{port}-{}", u8::from(wait_ready)),
        "127.0.0.1",
        port,
    );
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut connection) = rumqttc::Client::new(options, 100_000);
    thread::spawn(move || for _ in connection.iter() {});
    let mut sent = HashMap::with_capacity(total as usize);
    let start = Instant::now();
    for seq in 1..=total {
        let due = start + Duration::from_secs_f64(seq as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let payload = format!(
            r#"{{"electricitymeter":{{"timestamp":"2026-03-01T11:59:50Z","energy":{{"import":{{"cumulative":{seq},"units":"kWh"}}}},"power":{{"value":0.5,"units":"kW"}}}}}}"#
        );
        sent.insert(seq, Instant::now());
        client
            .publish(
                "glow/0A1B2C3D4E5F/SENSOR/electricitymeter",
                rumqttc::QoS::AtLeastOnce,
                false,
                payload,
            )
            .expect("publish");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reader.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let _ = client.disconnect();
    let arrived = arrived.lock().expect("lock");
    let mut ms: Vec<f64> = sent
        .iter()
        .filter_map(|(s, t)| {
            arrived
                .get(s)
                .map(|a| a.duration_since(*t).as_secs_f64() * 1000.0)
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (total as usize, ms)
}

fn main() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("cadline-latency-{port}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\nmax_queued_messages 0\n"
        ),
    )
    .expect("conf");
    let mosquitto = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("mosquitto: apt-get install -y mosquitto");
    let _broker = Killed(
        Command::new(mosquitto)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto"),
    );
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        thread::sleep(Duration::from_millis(20));
    }
    let cadline = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/cadline");
    assert!(cadline.exists(), "build it first: cargo build --release");

    let sub_seq = |l: &str| {
        l.split("\"cumulative\":")
            .nth(1)?
            .split(',')
            .next()?
            .parse()
            .ok()
    };
    let cad_seq = |l: &str| {
        l.split(" cumulative=")
            .nth(1)?
            .split([',', ' '])
            .next()?
            .parse()
            .ok()
    };
    let base = measure(
        port,
        Command::new("mosquitto_sub").args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "glow/#",
            "-q",
            "1",
        ]),
        sub_seq,
        false,
    );
    let ours = measure(
        port,
        Command::new(&cadline).args([
            "--broker",
            &format!("mqtt://127.0.0.1:{port}"),
            "--qos",
            "1",
        ]),
        cad_seq,
        true,
    );

    let pct = |v: &[f64], p: f64| {
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!("| latency, publish → line on stdout, QoS 1, {} msg/s | received | p50 ms | p99 ms | max ms |", knob("LATENCY_RATE", 1000));
    println!("|---|---:|---:|---:|---:|");
    for (name, (total, v)) in [("`mosquitto_sub` (baseline)", &base), ("`cadline`", &ours)] {
        println!(
            "| {name} | {}/{total} | {:.3} | {:.3} | {:.3} |",
            v.len(),
            pct(v, 0.50),
            pct(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
