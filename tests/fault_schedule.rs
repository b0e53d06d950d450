//! The fault schedule of the at-least-once tests under the real Telegraf
//! (tests/telegraf.rs with the shipped disk buffer, tests/telegraf_defaults.rs
//! at Telegraf's defaults): a steady 10 readings/s while Telegraf is
//! SIGKILLed three times, InfluxDB is stopped once, Mosquitto and cadline
//! are SIGKILLed once each, in an order a seed shuffles; then what reached
//! InfluxDB is compared with what was published.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::rig::{cadline_pids, wait_for_cadlines, Influx, Mosquitto, Telegraf};
use crate::telegraf::{wait_for_points, SteadyPublisher};

/// A simple deterministic generator for "random" fault moments.
pub struct Lcg(pub u64);
impl Lcg {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// What happens while InfluxDB is down.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Stopped 3.5 to 6.5 s with a Telegraf SIGKILL in the middle: what its
    /// buffer held must survive (only the disk buffer can).
    WithTelegrafCrash,
    /// Stopped 4 to 6 s, Telegraf left running (the memory buffer's case).
    Alone,
}

/// The database cadline's readings go to.
pub const DB: &str = "energy";

/// The faults, and how long to wait for the readings at the end.
pub struct Schedule {
    pub seed: u64,
    pub outage: Outage,
    /// How long to wait for every published reading in InfluxDB at the end.
    pub settle: Duration,
}

/// What the schedule gave.
pub struct Outcome {
    /// Readings 1..=published reached the broker.
    pub published: u64,
    /// The stored electricity points as (seq from the time, cumulative).
    pub stored: Vec<(u64, Option<f64>)>,
    /// The distinct seqs stored.
    pub have: BTreeSet<u64>,
    /// Ranges of seqs published and not stored.
    pub missing: Vec<(u64, u64)>,
    pub lost: u64,
    /// What happened when, for failure messages.
    pub timeline: String,
}

impl Outcome {
    /// Says what was published, stored and lost, and when each fault came;
    /// then fails if a reading was lost or a point holds a value other than
    /// the one published for its time (a duplicate is the same point).
    pub fn assert_nothing_lost(&self, what: &str, telegraf: &Telegraf) {
        let (published, missing, lost) = (self.published, &self.missing, self.lost);
        eprintln!(
            "{what}: published {published}, stored {} distinct, lost {lost} in {missing:?}\n{}",
            self.have.len(),
            self.timeline
        );
        assert!(
            missing.is_empty(),
            "{what}: lost {lost} of {published} readings: {missing:?}\n{}\n--- Telegraf log ---\n{}",
            self.timeline,
            telegraf.log()
        );
        for (q, value) in &self.stored {
            assert_eq!(*value, Some(*q as f64), "the point at seq {q}");
        }
    }
}

/// Runs the schedule. The first of `telegrafs` is running cadline, which
/// has connected to `broker`; any others (json_v2 beside it) are killed
/// and started with it.
pub fn run(
    schedule: &Schedule,
    broker: &mut Mosquitto,
    influx: &mut Influx,
    telegrafs: &mut [Telegraf],
) -> Outcome {
    let mut rng = Lcg(schedule.seed);
    let t0 = Instant::now();
    let mut timeline: Vec<String> = Vec::new();
    let event = |timeline: &mut Vec<String>, what: &str| {
        timeline.push(format!("{:.2}s {what}", t0.elapsed().as_secs_f64()));
    };
    let publisher = SteadyPublisher::start(broker.port, 10);
    let pause = |rng: &mut Lcg, lo: u64, span: u64| {
        std::thread::sleep(Duration::from_millis(lo + rng.below(span)));
    };
    let kill_telegrafs = |t: &mut [Telegraf]| t.iter_mut().for_each(Telegraf::kill);
    let start_telegrafs = |t: &mut [Telegraf]| t.iter_mut().for_each(Telegraf::start_again);

    // The faults, in an order the seed shuffles.
    let mut faults = vec![
        "telegraf", "telegraf", "telegraf", "influx", "broker", "cadline",
    ];
    for i in (1..faults.len()).rev() {
        faults.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for fault in faults {
        pause(&mut rng, 1500, 2500);
        match fault {
            "telegraf" => {
                kill_telegrafs(telegrafs);
                event(
                    &mut timeline,
                    &format!("Telegraf SIGKILLed at seq {}", publisher.published()),
                );
                pause(&mut rng, 200, 2000);
                start_telegrafs(telegrafs);
                event(&mut timeline, "Telegraf started again");
            }
            "influx" => {
                // With cadline running (it may be waiting out its restart
                // delay), so that readings flow into Telegraf's buffer.
                wait_for_cadlines(&broker.url(), 1, Duration::from_secs(15));
                if schedule.outage == Outage::WithTelegrafCrash {
                    std::thread::sleep(Duration::from_millis(500));
                }
                influx.stop();
                event(
                    &mut timeline,
                    &format!("InfluxDB stopped at seq {}", publisher.published()),
                );
                match schedule.outage {
                    Outage::WithTelegrafCrash => {
                        // Longer than several flush intervals, with a
                        // Telegraf crash in the middle: what its buffer
                        // held must not be lost.
                        pause(&mut rng, 3000, 1000);
                        kill_telegrafs(telegrafs);
                        event(&mut timeline, "Telegraf SIGKILLed during the outage");
                        pause(&mut rng, 500, 1000);
                        start_telegrafs(telegrafs);
                        event(&mut timeline, "Telegraf started again");
                        pause(&mut rng, 3000, 1000);
                    }
                    Outage::Alone => pause(&mut rng, 4000, 2000),
                }
                influx.start_again();
                event(&mut timeline, "InfluxDB started again");
            }
            "broker" => {
                // Mosquitto saves its sessions every autosave_interval (1 s
                // here): a reading it acknowledged since the last save dies
                // with it, whoever subscribes. The pause keeps the broker's
                // own durability out of this count.
                publisher.pause(true);
                std::thread::sleep(Duration::from_millis(2600));
                broker.kill();
                event(
                    &mut timeline,
                    &format!("Mosquitto SIGKILLed at seq {}", publisher.published()),
                );
                publisher.pause(false);
                pause(&mut rng, 200, 1000);
                broker.restart();
                event(&mut timeline, "Mosquitto started again");
            }
            _ => {
                for pid in cadline_pids(&broker.url()) {
                    crate::rig::signal(pid, "KILL");
                }
                event(
                    &mut timeline,
                    &format!("cadline SIGKILLed at seq {}", publisher.published()),
                );
            }
        }
    }
    pause(&mut rng, 1000, 1000);
    let published = publisher.finish();
    event(&mut timeline, &format!("published 1..={published}"));
    let got = wait_for_points(
        influx,
        DB,
        "electricitymeter",
        "cumulative",
        published,
        schedule.settle,
    );
    event(&mut timeline, &format!("{got} points stored"));
    let stored = stored_readings(influx, DB);
    let have: BTreeSet<u64> = stored.iter().map(|(q, _)| *q).collect();
    let missing = missing_ranges(published, &have);
    let lost = missing.iter().map(|(a, b)| b - a + 1).sum();
    Outcome {
        published,
        stored,
        have,
        missing,
        lost,
        timeline: timeline.join("\n"),
    }
}

/// The stored electricity points as (seq from the time, cumulative).
pub fn stored_readings(influx: &Influx, db: &str) -> Vec<(u64, Option<f64>)> {
    influx
        .rows(db, "SELECT cumulative FROM electricitymeter")
        .iter()
        .map(|r| {
            let t = r[0].as_i64().unwrap_or(0) / 1_000_000_000;
            ((t - 1_772_323_200).max(0) as u64, r[1].as_f64())
        })
        .collect()
}

/// Ranges of the numbers in 1..=n that are not in `have`.
pub fn missing_ranges(n: u64, have: &BTreeSet<u64>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for q in 1..=n {
        if !have.contains(&q) {
            match out.last_mut() {
                Some((_, end)) if *end + 1 == q => *end = q,
                _ => out.push((q, q)),
            }
        }
    }
    out
}
