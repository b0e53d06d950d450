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
use crate::telegraf::{
    influx_output, reading, shipped_telegraf_conf, wait_for_points, with_environment,
};

const E: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";

/// Readings queued at the broker: five times Telegraf's default buffer,
/// more than it can hold if written at once (cadline's unpaced burst of
/// 15 000-35 000 lines/s overflowed it on this machine, and Telegraf with
/// InfluxDB drained about 20 000 lines/s: tests/bench/telegraf_drain.py).
const BACKLOG: u64 = 50_000;

/// Telegraf's default `metric_batch_size`: the last partial batch waits for
/// the flush timer, so stalls are looked for only before it.
const BATCH: u64 = 1000;

/// The broker a backlog replay needs: persistent, no queue limit, no
/// in-flight limit.
fn replay_broker() -> Mosquitto {
    Mosquitto::with(BrokerConfig {
        extra: vec!["max_inflight_messages 0".into()],
        ..BrokerConfig::persistent()
    })
}

/// What a replay gave.
struct Replay {
    /// Readings in InfluxDB at the end.
    stored: u64,
    /// Telegraf's log.
    log: String,
    /// Seconds from Telegraf's start to the last reading stored.
    took: f64,
    /// The longest time, in seconds, during which no reading was added to
    /// InfluxDB, between the first one stored and the last full batch.
    longest_stall: f64,
}

/// Starts Telegraf on `config`, waits until cadline has subscribed with its
/// persistent session, stops Telegraf, queues `backlog` readings, starts
/// Telegraf again and watches InfluxDB fill, until every reading is there
/// or nothing was added for `give_up`.
fn replay(
    config: &str,
    broker: &Mosquitto,
    influx: &Influx,
    backlog: u64,
    give_up: Duration,
) -> Replay {
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
    let lines: Vec<String> = (1..=backlog).map(reading).collect();
    broker.publish_lines(E, &lines, 1);
    let t0 = Instant::now();
    telegraf.start_again();
    let (mut stored, mut grew, mut took) = (0, Instant::now(), 0.0);
    let mut longest_stall = 0.0_f64;
    // A stall counts between the first reading stored and the last full
    // batch (whose remainder waits for the flush timer).
    let stall = |stored: u64, grew: Instant| match stored > 0 && stored + BATCH < backlog {
        true => grew.elapsed().as_secs_f64(),
        false => 0.0,
    };
    // Telegraf's start and cadline's connection come before the first
    // reading: up to a minute on a loaded machine.
    let mut patience = Duration::from_secs(60);
    while stored < backlog && grew.elapsed() < patience {
        std::thread::sleep(Duration::from_millis(100));
        let now = influx.count("energy", "electricitymeter", "cumulative");
        if now > stored {
            longest_stall = longest_stall.max(stall(stored, grew));
            (stored, grew, patience) = (now, Instant::now(), give_up);
            took = t0.elapsed().as_secs_f64();
        }
    }
    longest_stall = longest_stall.max(stall(stored, grew));
    let log = telegraf.log();
    telegraf.stop(Duration::from_secs(20));
    Replay {
        stored,
        log,
        took,
        longest_stall,
    }
}

#[test]
fn a_backlog_replay_at_telegrafs_defaults_stores_every_reading() {
    let broker = replay_broker();
    let influx = Influx::start();
    influx.create_db("energy");
    // Telegraf's defaults: no [agent] table. Only cadline.conf and an output.
    let config =
        shipped_cadline_conf(&broker.url(), "glow", None) + &influx_output(&influx, "energy");
    let r = replay(&config, &broker, &influx, BACKLOG, Duration::from_secs(30));
    eprintln!(
        "memory buffer: {} of {BACKLOG} stored, {:.1} s, longest stall {:.1} s",
        r.stored, r.took, r.longest_stall
    );
    let log = r.log;
    assert!(
        !log.contains("Metric buffer overflow"),
        "Telegraf's buffer overflowed:\n{log}"
    );
    assert_eq!(r.stored, BACKLOG, "every reading stored:\n{log}");
    assert!(
        log.contains("I! [inputs.execd] Telegraf: flush every 10 s (jitter 0 s), batches of 1000, memory buffer of 10000 metrics"),
        "cadline said what it learned:\n{log}"
    );
}

/// With `--mqtt-version 5` the broker sends at most cadline's Receive
/// Maximum of unacknowledged messages. cadline holds each acknowledgement
/// until Telegraf's flush (12 s at the defaults, or 2 s after 1000 more
/// lines), so a window of only 1000 held messages stopped the stream until
/// their 12 s were up: about 1000 readings per 12 s, with 11-12 s between
/// stored batches. Paced at 900 lines/s, a batch of 1000 is stored about
/// every 1.1 s; the test fails on a stall of half a hold or more.
#[test]
fn a_backlog_replay_over_mqtt_5_at_telegrafs_defaults_is_not_held_by_the_window() {
    const HOLD: f64 = 12.0;
    let backlog = 10_000;
    let broker = replay_broker();
    let influx = Influx::start();
    influx.create_db("energy");
    let config = with_environment(
        &shipped_cadline_conf(&broker.url(), "glow", None),
        &["CADLINE_MQTT_VERSION=5"],
    ) + &influx_output(&influx, "energy");
    // Give up at a hold's stall: the old window's every batch took one.
    let r = replay(
        &config,
        &broker,
        &influx,
        backlog,
        Duration::from_secs_f64(HOLD / 2.0),
    );
    eprintln!(
        "MQTT 5: {} of {backlog} stored, {:.1} s, longest stall {:.1} s",
        r.stored, r.took, r.longest_stall
    );
    let log = r.log;
    assert!(
        r.longest_stall < HOLD / 2.0 && (r.stored + BATCH >= backlog),
        "the replay stalled (longest {:.1} s with {} of {backlog} stored): \
         the broker's window was full of held acknowledgements\n{log}",
        r.longest_stall,
        r.stored
    );
    let got = wait_for_points(
        &influx,
        "energy",
        "electricitymeter",
        "cumulative",
        backlog,
        Duration::from_secs(30),
    );
    assert_eq!(got, backlog, "every reading stored:\n{log}");
    assert!(!log.contains("Metric buffer overflow"), "{log}");
    assert!(log.contains("memory buffer of 10000 metrics"), "{log}");
}

#[test]
fn a_backlog_replay_with_the_shipped_disk_buffer_stores_every_reading() {
    let broker = replay_broker();
    let influx = Influx::start();
    influx.create_db("energy");
    let buffer = TempDir::new("telegraf-buffer");
    let config = shipped_telegraf_conf(&broker.url(), &influx, buffer.path());
    let r = replay(&config, &broker, &influx, BACKLOG, Duration::from_secs(30));
    eprintln!(
        "disk buffer: {} of {BACKLOG} stored, {:.1} s, longest stall {:.1} s",
        r.stored, r.took, r.longest_stall
    );
    let log = r.log;
    assert!(!log.contains("Metric buffer overflow"), "{log}");
    assert_eq!(r.stored, BACKLOG, "every reading stored:\n{log}");
    assert!(log.contains("disk buffer"), "{log}");
}

/// The fault test of tests/telegraf.rs at Telegraf's defaults with only
/// `cadline.conf` added: a steady 10 readings/s while Telegraf is SIGKILLed
/// three times, InfluxDB is stopped for 5 s (two flush intervals' worth of
/// failed writes would need 20 s; one failed flush is enough to matter),
/// Mosquitto is SIGKILLed once and cadline once. 0 lost while InfluxDB is
/// reachable. A Telegraf crash *during* an InfluxDB outage is left out: with
/// the memory buffer it loses what a failed flush held and cadline had
/// acknowledged, which only the disk buffer covers (README "Not losing a
/// reading"; cadline's start-up warning says so).
#[test]
fn the_fault_test_at_telegrafs_defaults_loses_nothing_while_influxdb_is_reachable() {
    use crate::fault_schedule::{Outage, Schedule};
    // 10 readings/s held 12 s each: 120 in flight, more than Mosquitto's
    // default 20 (README "Not losing a reading": what the broker needs).
    let mut broker = replay_broker();
    let mut influx = Influx::start();
    influx.create_db("energy");
    let config =
        shipped_cadline_conf(&broker.url(), "glow", None) + &influx_output(&influx, "energy");
    let telegraf = Telegraf::start(&config);
    assert!(
        telegraf.wait_for_log("Connected to", 1, Duration::from_secs(30)),
        "{}",
        telegraf.log()
    );
    let mut telegrafs = [telegraf];
    let schedule = Schedule {
        seed: 0x7E1E,
        outage: Outage::Alone,
        // Up to a 10 s flush, a 10 s restart delay and a redelivery.
        settle: Duration::from_secs(90),
    };
    let out = crate::fault_schedule::run(&schedule, &mut broker, &mut influx, &mut telegrafs);
    out.assert_nothing_lost("at Telegraf's defaults", &telegrafs[0]);
}
