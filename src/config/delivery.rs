//! When a reading may be acknowledged, and how fast lines may be written,
//! for the Telegraf that actually runs cadline.
//!
//! Telegraf gives an execd input no delivery tracking, so a QoS 1
//! acknowledgement is safe only once the reading has left Telegraf's
//! memory. With the memory buffer that is the flush that writes it, which
//! comes (Telegraf v1.39.3, agent/agent.go `flushLoop`,
//! models/running_output.go `triggerBatchCheck`):
//! - at the latest `flush_interval + flush_jitter` after the metric entered
//!   the buffer (the flush timer restarts after every tick), or
//! - sooner, once `metric_batch_size` metrics wait: every metric added
//!   checks the buffer and, with no write in flight, starts a write of the
//!   oldest batch; a write in flight checks again when it ends.
//!
//! So a reading is acknowledged when either is past, plus `FLUSH_MARGIN`
//! for the write itself: the later of its own flush deadline, or
//! `metric_batch_size` lines written after it. The second matters for a
//! backlog: a QoS 1 stream can have only as many messages in flight as the
//! broker allows (Mosquitto's `max_inflight_messages`, 20 by default), so
//! holding each acknowledgement for the 12 s of a default flush would cap a
//! replay at 20 / 12 s; counting lines, a broker that allows more than
//! `metric_batch_size` in flight replays at the pace below.
//!
//! The pace keeps the memory buffer from overflowing: at most
//! `(metric_buffer_limit - metric_batch_size) / (flush_interval +
//! flush_jitter)` lines per second (900 at Telegraf's defaults), so that
//! even an output flushed only on its timer never holds more than its
//! limit, whatever the machine, as long as a flush completes within its
//! interval; never more than `MEASURED_CEILING`. The disk buffer has no
//! limit and keeps what it was given through a crash: a reading is
//! acknowledged `DISK_ACK_DELAY` after it was written, unpaced.
//!
//! What the memory buffer cannot do, however it is timed: keep what it holds
//! when Telegraf crashes while an output is failing (acknowledged readings
//! wait in memory for InfluxDB). That is said once at start, with the lines
//! that fix it.

use std::time::Duration;

use crate::config::telegraf_agent::{AgentSettings, BufferStrategy};

/// Time allowed for a flush to be written once it starts (InfluxDB took
/// 10-60 ms per batch of 1000 on the test machine; a Raspberry Pi's
/// takes several times that).
pub const FLUSH_MARGIN: Duration = Duration::from_secs(2);

/// The fastest pace ever chosen: half the rate at which Telegraf 1.39.3
/// at its defaults, with InfluxDB 1.6 on the same 2-core machine, began
/// to drop (drop-free at 20 000 lines/s, 178 of 50 000 dropped at 24 000;
/// tests/bench/telegraf_drain.py, README "Not losing a reading").
pub const MEASURED_CEILING: f64 = 10_000.0;

/// With the disk buffer: by then the line is in Telegraf's write-through
/// buffer file (it is written as the metric is added).
pub const DISK_ACK_DELAY: Duration = Duration::from_secs(1);

/// Messages queued in front of the writer beyond those it holds
/// unacknowledged, in seconds of pace: the broker's window is never what
/// makes a paced writer wait.
pub const WINDOW_SLACK: Duration = Duration::from_secs(1);

/// The MQTT 5 Receive Maximum when acknowledgements are held but lines are
/// not paced (the disk buffer, or `--pace 0`): with the disk buffer a
/// reading is held `DISK_ACK_DELAY`, and Telegraf's disk buffer took up to
/// 15 000 lines/s on the test machine (issue 20).
pub const HELD_UNPACED_WINDOW: u16 = 20_000;

/// The MQTT 5 Receive Maximum when nothing holds acknowledgements back
/// (not under Telegraf, acknowledged on write): well over the writer's
/// channel, so the broker's window never starves it.
pub const UNHELD_WINDOW: u16 = 10_000;

/// What the writer does.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Acknowledge a message this long after its lines were written...
    pub ack_delay: Duration,
    /// ...or, if sooner, `FLUSH_MARGIN` after this many more lines were
    /// written after it (`None`: time only).
    pub ack_after_lines: Option<u64>,
    /// Lines per second after a first burst of `pace_burst` (`None`: as fast
    /// as stdout takes them).
    pub pace: Option<f64>,
    pub pace_burst: usize,
}

impl Delivery {
    /// How many unacknowledged QoS 1 messages an MQTT 5 broker may send
    /// (CONNECT's Receive Maximum). Held acknowledgements occupy this
    /// window: too small, and a replay stalls until the held ones fall due
    /// (1000 held for a 12 s flush stalled a replay 12 s at a time). Paced,
    /// the writer holds at most a first batch plus the lines written while
    /// it waits for an acknowledgement: with `ack_after_lines`, that many
    /// lines plus `FLUSH_MARGIN` of pace (2800 at Telegraf's defaults),
    /// otherwise `pace_burst` plus `ack_delay` of pace; `WINDOW_SLACK` of
    /// pace more keeps messages waiting in front of the writer (3700 at the
    /// defaults). Unpaced, the broker's window should not be what limits
    /// the rate. A message gives at least one line, so counting lines as
    /// messages errs on the large side. MQTT 5 allows 1..=65535; fewer than
    /// 1000 is never asked for.
    pub fn receive_maximum(&self) -> u16 {
        let window = match self.pace {
            Some(rate) => {
                let paced = |d: Duration| rate * d.as_secs_f64();
                let by_time = self.pace_burst as f64 + paced(self.ack_delay);
                let held = match self.ack_after_lines {
                    Some(lines) => by_time.min(lines as f64 + paced(FLUSH_MARGIN)),
                    None => by_time,
                };
                (held + paced(WINDOW_SLACK)).ceil()
            }
            None if self.ack_delay.is_zero() => f64::from(UNHELD_WINDOW),
            None => f64::from(HELD_UNPACED_WINDOW),
        };
        // An f64 to integer cast saturates (and NaN is 0).
        (window as u64).clamp(1000, u64::from(u16::MAX)) as u16
    }
}

/// What was learned about the Telegraf running cadline.
#[derive(Debug, Clone)]
pub enum Learned {
    /// Not run by Telegraf: nothing holds the lines after they are written.
    NotTelegraf,
    /// Run by Telegraf, whose settings were read from these files.
    Settings(AgentSettings, Vec<std::path::PathBuf>),
    /// Run by Telegraf, whose settings could not be read (why).
    Unreadable(String),
}

impl Learned {
    /// Looks for the Telegraf above this process and reads its settings.
    pub fn from_parent() -> Learned {
        use crate::config::{telegraf_agent, telegraf_parent::TelegrafParent};
        let Some(parent) = TelegrafParent::detect() else {
            return Learned::NotTelegraf;
        };
        if parent.remote_config {
            return Learned::Unreadable("its configuration is fetched from a URL".into());
        }
        if parent.config_files.is_empty() {
            return Learned::Unreadable("no configuration file found on its command line".into());
        }
        let env = |name: &str| std::env::var(name).ok();
        match telegraf_agent::read(&parent.config_files, &env) {
            Ok(settings) => Learned::Settings(settings, parent.config_files),
            Err(e) => Learned::Unreadable(e),
        }
    }
}

/// Flags given on the command line, which win over what was learned.
#[derive(Debug, Clone, Copy, Default)]
pub struct Explicit {
    pub ack_delay: Option<Duration>,
    /// 0 turns pacing off.
    pub pace: Option<f64>,
}

/// A line for the log at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Say {
    Info(String),
    Warn(String),
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// The delivery for what was learned and the flags given, with what to say
/// about it (once, at start). `qos1` is whether an acknowledgement keeps
/// anything: QoS 1 with a persistent session (with a clean session the
/// broker redelivers nothing after a reconnect, whenever it was acked).
pub fn choose(learned: &Learned, explicit: Explicit, qos1: bool) -> (Delivery, Vec<Say>) {
    let mut say = Vec::new();
    let (settings, source) = match learned {
        Learned::NotTelegraf => {
            let d = Delivery {
                ack_delay: explicit.ack_delay.unwrap_or(Duration::ZERO),
                ack_after_lines: None,
                pace: explicit.pace.filter(|r| *r > 0.0),
                pace_burst: 1000,
            };
            say.push(Say::Info(format!(
                "Not run by Telegraf: acknowledging {} after writing, {}",
                secs(d.ack_delay),
                d.pace
                    .map_or("unpaced".to_owned(), |r| format!("at most {r:.0} lines/s")),
            )));
            return (d, say);
        }
        Learned::Settings(s, files) => (
            s.clone(),
            format!(
                "from {}",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Learned::Unreadable(why) => {
            say.push(Say::Warn(format!(
                "Cannot read Telegraf's settings ({why}); assuming its defaults \
                 (memory buffer, flush_interval 10s, metric_batch_size 1000, \
                 metric_buffer_limit 10000)"
            )));
            (AgentSettings::default(), "assumed".to_owned())
        }
    };
    let wait = settings.longest_flush_wait();
    let memory = settings.buffer_strategy == BufferStrategy::Memory;
    let learned_ack = if memory {
        wait + FLUSH_MARGIN
    } else {
        DISK_ACK_DELAY
    };
    let learned_pace = memory.then(|| {
        let room = settings
            .metric_buffer_limit
            .saturating_sub(settings.metric_batch_size)
            .max(settings.metric_buffer_limit / 2) as f64;
        (room / wait.as_secs_f64().max(0.001)).min(MEASURED_CEILING)
    });
    let d = Delivery {
        ack_delay: explicit.ack_delay.unwrap_or(learned_ack),
        ack_after_lines: (explicit.ack_delay.is_none() && memory)
            .then_some(settings.metric_batch_size as u64),
        pace: match explicit.pace {
            Some(r) => Some(r).filter(|r| *r > 0.0),
            None => learned_pace,
        },
        pace_burst: settings.metric_batch_size,
    };
    let buffer = if memory {
        format!("memory buffer of {} metrics", settings.metric_buffer_limit)
    } else {
        "disk buffer".to_owned()
    };
    let ack = match d.ack_after_lines {
        _ if !qos1 => "no acknowledgement keeps a reading (QoS 0 or a clean session)".to_owned(),
        Some(n) => format!(
            "acknowledging a reading {} after writing it, or {} after {n} more lines",
            secs(d.ack_delay),
            secs(FLUSH_MARGIN)
        ),
        None => format!(
            "acknowledging a reading {} after writing it",
            secs(d.ack_delay)
        ),
    };
    say.insert(
        0,
        Say::Info(format!(
            "Telegraf: flush every {} (jitter {}), batches of {}, {} ({source}); {ack}; {}",
            secs(settings.flush_interval),
            secs(settings.flush_jitter),
            settings.metric_batch_size,
            buffer,
            d.pace.map_or("unpaced".to_owned(), |r| format!(
                "writing at most {r:.0} lines/s"
            )),
        )),
    );
    if qos1 && memory {
        say.push(Say::Warn(
            "Telegraf's memory buffer loses what it holds if Telegraf stops or crashes \
             while an output is failing, and cadline has acknowledged those readings. To \
             keep them, add to Telegraf's [agent]: buffer_strategy = \"disk\" and \
             buffer_directory = \"/var/lib/telegraf/buffer\""
                .to_owned(),
        ));
    }
    if let Some(explicit) = explicit.ack_delay {
        if qos1 && memory && explicit < wait + FLUSH_MARGIN {
            say.push(Say::Warn(format!(
                "--ack-delay {} is shorter than Telegraf's flush ({} + margin): a reading \
                 acknowledged before its flush is lost if Telegraf crashes; leave \
                 --ack-delay out to time it to Telegraf",
                secs(explicit),
                secs(wait)
            )));
        }
    }
    (d, say)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telegraf(s: AgentSettings) -> Learned {
        Learned::Settings(s, vec!["/etc/telegraf/telegraf.conf".into()])
    }

    #[test]
    fn telegrafs_defaults_ack_after_the_flush_or_a_batch_and_pace_to_the_buffer() {
        let (d, say) = choose(
            &telegraf(AgentSettings::default()),
            Explicit::default(),
            true,
        );
        assert_eq!(d.ack_delay, Duration::from_secs(12));
        assert_eq!(d.ack_after_lines, Some(1000));
        assert_eq!(d.pace, Some(900.0));
        assert_eq!(d.pace_burst, 1000);
        assert!(
            matches!(&say[0], Say::Info(s) if s.contains("flush every 10 s")
            && s.contains("memory buffer of 10000 metrics")
            && s.contains("/etc/telegraf/telegraf.conf")
            && s.contains("writing at most 900 lines/s"))
        );
        assert!(matches!(&say[1], Say::Warn(s) if s.contains("buffer_strategy = \"disk\"")));
        assert_eq!(say.len(), 2);
    }

    #[test]
    fn the_mqtt_5_window_holds_a_batch_plus_the_pace_until_acks_flow() {
        let (d, _) = choose(
            &telegraf(AgentSettings::default()),
            Explicit::default(),
            true,
        );
        // 1000 lines, 2 s of 900 lines/s until their acks are due, 1 s more.
        assert_eq!(d.receive_maximum(), 3700);
        let disk = AgentSettings {
            buffer_strategy: BufferStrategy::Disk,
            ..AgentSettings::default()
        };
        let (d, _) = choose(&telegraf(disk), Explicit::default(), true);
        assert_eq!(d.receive_maximum(), HELD_UNPACED_WINDOW);
        let (d, _) = choose(&Learned::NotTelegraf, Explicit::default(), true);
        assert_eq!(d.receive_maximum(), UNHELD_WINDOW);
    }

    #[test]
    fn the_mqtt_5_window_follows_explicit_flags_and_stays_within_mqtts_range() {
        // Paced by time only: a batch plus the ack delay's lines, plus slack.
        let explicit = Explicit {
            ack_delay: Some(Duration::from_secs(3)),
            pace: Some(500.0),
        };
        let (d, _) = choose(&telegraf(AgentSettings::default()), explicit, true);
        assert_eq!(d.receive_maximum(), 1000 + 1500 + 500);
        // A slow pace asks for no fewer than 1000.
        let explicit = Explicit {
            ack_delay: None,
            pace: Some(10.0),
        };
        let (d, _) = choose(&Learned::NotTelegraf, explicit, true);
        assert_eq!(d.receive_maximum(), 1010);
        let slow = Delivery {
            ack_delay: Duration::ZERO,
            ack_after_lines: None,
            pace: Some(1.0),
            pace_burst: 10,
        };
        assert_eq!(slow.receive_maximum(), 1000);
        // A fast pace held long is capped at MQTT's largest.
        let explicit = Explicit {
            ack_delay: Some(Duration::from_secs(60)),
            pace: Some(10_000.0),
        };
        let (d, _) = choose(&telegraf(AgentSettings::default()), explicit, true);
        assert_eq!(d.receive_maximum(), u16::MAX);
        // Unpaced with the memory buffer (`--pace 0`): held, not limited.
        let explicit = Explicit {
            ack_delay: None,
            pace: Some(0.0),
        };
        let (d, _) = choose(&telegraf(AgentSettings::default()), explicit, true);
        assert_eq!(d.receive_maximum(), HELD_UNPACED_WINDOW);
    }

    #[test]
    fn the_disk_buffer_acks_after_a_second_unpaced_and_warns_of_nothing() {
        let s = AgentSettings {
            buffer_strategy: BufferStrategy::Disk,
            ..AgentSettings::default()
        };
        let (d, say) = choose(&telegraf(s), Explicit::default(), true);
        assert_eq!(d.ack_delay, DISK_ACK_DELAY);
        assert_eq!(d.ack_after_lines, None);
        assert_eq!(d.pace, None);
        assert_eq!(say.len(), 1, "{say:?}");
    }

    #[test]
    fn a_fast_flush_is_paced_no_faster_than_measured() {
        let s = AgentSettings {
            flush_interval: Duration::from_millis(500),
            ..AgentSettings::default()
        };
        let (d, _) = choose(&telegraf(s), Explicit::default(), true);
        assert_eq!(d.pace, Some(MEASURED_CEILING));
        assert_eq!(d.ack_delay, Duration::from_millis(2500));
    }

    #[test]
    fn jitter_and_a_small_buffer_slow_the_pace() {
        let s = AgentSettings {
            flush_jitter: Duration::from_secs(5),
            metric_buffer_limit: 4000,
            metric_batch_size: 500,
            ..AgentSettings::default()
        };
        let (d, _) = choose(&telegraf(s), Explicit::default(), true);
        assert_eq!(d.ack_delay, Duration::from_secs(17));
        assert_eq!(d.pace, Some(3500.0 / 15.0));
        assert_eq!(d.ack_after_lines, Some(500));
    }

    #[test]
    fn explicit_flags_win_and_a_short_ack_delay_is_warned_about() {
        let explicit = Explicit {
            ack_delay: Some(Duration::from_secs(1)),
            pace: Some(0.0),
        };
        let (d, say) = choose(&telegraf(AgentSettings::default()), explicit, true);
        assert_eq!(d.ack_delay, Duration::from_secs(1));
        assert_eq!(d.ack_after_lines, None);
        assert_eq!(d.pace, None);
        assert!(say
            .iter()
            .any(|s| matches!(s, Say::Warn(w) if w.starts_with("--ack-delay 1 s is shorter"))));
    }

    #[test]
    fn unreadable_settings_fall_back_to_telegrafs_defaults_and_say_so() {
        let (d, say) = choose(
            &Learned::Unreadable("remote config URL".into()),
            Explicit::default(),
            true,
        );
        assert_eq!(d.ack_delay, Duration::from_secs(12));
        assert_eq!(d.pace, Some(900.0));
        assert!(matches!(&say[0], Say::Info(s) if s.contains("(assumed)")));
        assert!(matches!(&say[1], Say::Warn(s) if s.contains("remote config URL")));
    }

    #[test]
    fn not_under_telegraf_nothing_is_held_unless_asked() {
        let (d, say) = choose(&Learned::NotTelegraf, Explicit::default(), true);
        assert_eq!(d.ack_delay, Duration::ZERO);
        assert_eq!(d.pace, None);
        assert_eq!(say.len(), 1);
        let explicit = Explicit {
            ack_delay: Some(Duration::from_secs(3)),
            pace: Some(500.0),
        };
        let (d, _) = choose(&Learned::NotTelegraf, explicit, true);
        assert_eq!(d.ack_delay, Duration::from_secs(3));
        assert_eq!(d.pace, Some(500.0));
    }

    #[test]
    fn at_qos_0_the_memory_buffer_is_not_warned_about() {
        let (_, say) = choose(
            &telegraf(AgentSettings::default()),
            Explicit::default(),
            false,
        );
        assert_eq!(say.len(), 1);
        assert!(matches!(&say[0], Say::Info(s) if s.contains("no acknowledgement keeps")));
    }
}
