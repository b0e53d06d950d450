//! Telegraf as people already run it: its default agent settings (no
//! `[agent]` table at all: memory buffer of 10 000 metrics, 10 s flush),
//! with only the shipped `cadline.conf` added. A backlog the broker queued
//! while cadline was away is replayed through the real Telegraf into a real
//! InfluxDB without overflowing the buffer; so is the same backlog with the
//! shipped telegraf.conf's disk buffer.
//!
//! The broker allows more messages in flight than Mosquitto's default 20
//! (`max_inflight_messages 0`, as the README asks of a broker that replays
//! backlogs): cadline holds each acknowledgement until Telegraf's flush, and
//! 20 held for 12 s replay at under 2 messages/s.

use std::time::{Duration, Instant};

use crate::rig::{shipped_cadline_conf, BrokerConfig, Influx, Mosquitto, Telegraf, TempDir};
use crate::telegraf::{influx_output, reading, shipped_telegraf_conf, wait_for_points};

const E: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";

/// Readings queued at the broker: three times Telegraf's default buffer,
/// more than it can hold if written at once (cadline's unpaced burst of
/// 15 000-35 000 lines/s overflowed it on this machine, and Telegraf with
/// InfluxDB drained about 20 000 lines/s: tests/bench/telegraf_drain.py).
const BACKLOG: u64 = 30_000;

/// The broker a backlog replay needs: persistent, no queue limit, no
/// in-flight limit.
fn replay_broker() -> Mosquitto {
    Mosquitto::with(BrokerConfig {
        extra: vec!["max_inflight_messages 0".into()],
        ..BrokerConfig::persistent()
    })
}

/// Starts Telegraf on `config`, waits until cadline has subscribed with its
/// persistent session, stops Telegraf, queues `BACKLOG` readings, starts
/// Telegraf again and waits for them in InfluxDB. Returns the Telegraf log.
fn replay(config: &str, broker: &Mosquitto, influx: &Influx, db: &str) -> (u64, String, f64) {
    let mut telegraf = Telegraf::start(config);
    assert!(
        telegraf.wait_for_log("Connected to", 1, Duration::from_secs(30)),
        "cadline did not connect under Telegraf:\n{}",
        telegraf.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        telegraf.stop(Duration::from_secs(20)).is_some(),
        "Telegraf stopped:\n{}",
        telegraf.log()
    );
    let lines: Vec<String> = (1..=BACKLOG).map(reading).collect();
    broker.publish_lines(E, &lines, 1);
    let t0 = Instant::now();
    telegraf.start_again();
    let got = wait_for_points(
        influx,
        db,
        "electricitymeter",
        "cumulative",
        BACKLOG,
        Duration::from_secs(180),
    );
    let took = t0.elapsed().as_secs_f64();
    let log = telegraf.log();
    telegraf.stop(Duration::from_secs(20));
    (got, log, took)
}

#[test]
fn a_backlog_replay_at_telegrafs_defaults_stores_every_reading() {
    let broker = replay_broker();
    let influx = Influx::start();
    influx.create_db("energy");
    // Telegraf's defaults: no [agent] table. Only cadline.conf and an output.
    let config = shipped_cadline_conf(&broker.url(), "glow", None) + &influx_output(&influx, "energy");
    let (got, log, took) = replay(&config, &broker, &influx, "energy");
    eprintln!("memory buffer: {got} of {BACKLOG} stored, {took:.1} s");
    assert!(
        !log.contains("Metric buffer overflow"),
        "Telegraf's buffer overflowed:\n{log}"
    );
    assert_eq!(got, BACKLOG, "every reading stored:\n{log}");
    assert!(
        log.contains("I! [inputs.execd] Telegraf: flush every 10 s (jitter 0 s), batches of 1000, memory buffer of 10000 metrics"),
        "cadline said what it learned:\n{log}"
    );
}

#[test]
fn a_backlog_replay_with_the_shipped_disk_buffer_stores_every_reading() {
    let broker = replay_broker();
    let influx = Influx::start();
    influx.create_db("energy");
    let buffer = TempDir::new("telegraf-buffer");
    let config = shipped_telegraf_conf(&broker.url(), &influx, buffer.path());
    let (got, log, took) = replay(&config, &broker, &influx, "energy");
    eprintln!("disk buffer: {got} of {BACKLOG} stored, {took:.1} s");
    assert!(!log.contains("Metric buffer overflow"), "{log}");
    assert_eq!(got, BACKLOG, "every reading stored:\n{log}");
    assert!(log.contains("disk buffer"), "{log}");
}
