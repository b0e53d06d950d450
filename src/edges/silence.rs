//! Saying so when nothing arrives.
//!
//! A wrong `--prefix` or an ACL that silently delivers nothing looks, from
//! the log, exactly like a working setup: "Connected … subscribing to …"
//! and then nothing, for ever. A CAD publishes every 10 s, so once
//! `--silence-warning` seconds pass without a message while connected,
//! cadline warns (naming the filters, the prefix and the command that shows
//! what the broker carries), then again at doubling intervals while it
//! lasts, and says when messages arrive again.
//!
//! `Episode` is when to warn during one silence; `Watch::saw` is told what
//! the connection loop sees and `Watch::look` says what is due, both at a
//! time given (so the rules are unit tests); the thread only looks and
//! sleeps.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::edges::messages::{self, LogLevel};

/// The longest gap between two warnings of one silence.
const LONGEST_REPEAT: Duration = Duration::from_secs(6 * 3600);

/// When to warn during one silence: after `first`, then each time the
/// silence has doubled, at most `LONGEST_REPEAT` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    first: Duration,
    next: Duration,
}

impl Episode {
    /// A silence that has not been warned about yet.
    pub fn new(first: Duration) -> Episode {
        Episode { first, next: first }
    }

    /// Whether a silence of `silent_for` calls for a warning now; if so, the
    /// next one is scheduled.
    pub fn due(&mut self, silent_for: Duration) -> bool {
        if silent_for < self.next {
            return false;
        }
        let step = (self.next.max(self.first)).min(LONGEST_REPEAT);
        self.next = silent_for.max(self.next) + step;
        true
    }

    /// How long the silence must last for the next warning.
    pub fn next_at(&self) -> Duration {
        self.next
    }
}

/// A duration as a person reads it: `45 s`, `4 min`, `3 h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s} s")
    } else if s < 120 * 60 {
        format!("{} min", s / 60)
    } else {
        format!("{} h", s / 3600)
    }
}

/// What the warnings name.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The filters subscribed to, as the user would type them.
    pub filters: Vec<String>,
    /// `--prefix`, the usual culprit.
    pub prefix: String,
    /// `mosquitto_sub -v …` for the broker cadline uses.
    pub probe: String,
}

impl Setting {
    /// What to name for `config`: its filters, its prefix, and the
    /// `mosquitto_sub` command that subscribes to everything on the same
    /// broker (the password left for the user to fill in).
    pub fn for_config(config: &crate::config::cli::Config) -> Setting {
        let mut probe = format!(
            "mosquitto_sub -v -h {} -p {} -t '#'",
            config.broker.host, config.broker.port
        );
        if let Some(user) = &config.username {
            probe.push_str(&format!(" -u {user} -P ..."));
        }
        if let Some(ca) = &config.ca_file {
            probe.push_str(&format!(" --cafile {}", ca.display()));
        } else if config.broker.tls {
            probe.push_str(" --capath /etc/ssl/certs");
        }
        Setting {
            filters: config.filters.clone(),
            prefix: config.prefix.clone(),
            probe,
        }
    }
}

/// What the connection loop saw, as far as the silence goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// The connection is up (and subscribed): the silence starts now.
    Connected,
    /// A message arrived, handed over or skipped as oversized: either way
    /// the CAD publishes and the broker forwards.
    Message,
    /// The connection is down: its own errors are being logged, so the
    /// silence is not counted until it is up again.
    Lost,
}

/// The silence watcher, shared with the connection loop, which tells it
/// every connection, every loss and every message (`saw`).
#[derive(Clone)]
pub struct Watch {
    shared: Arc<Shared>,
}

struct Shared {
    start: Instant,
    /// Milliseconds since `start` of the last connection or message;
    /// `u64::MAX` while not connected (the connection's own errors then say
    /// what is wrong).
    last_ms: AtomicU64,
    heard: AtomicBool,
    /// Set with a warning; the next message clears it and says so.
    warned: AtomicBool,
}

/// The watcher's own memory: the silence it times and its warnings so far.
pub struct Lookout {
    after: Duration,
    episode: Episode,
    /// The `last_ms` the episode started from: another one is a new silence.
    episode_from: u64,
}

impl Lookout {
    /// Warns first after `after` of silence.
    pub fn new(after: Duration) -> Lookout {
        Lookout {
            after,
            episode: Episode::new(after),
            episode_from: u64::MAX,
        }
    }
}

/// A warning due: what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warning {
    /// How long nothing has arrived.
    pub silent_for: Duration,
    /// Whether any message arrived since the start (then the CAD or the
    /// broker stopped, rather than the prefix or the ACL being wrong).
    pub heard: bool,
    /// The silence the next warning comes after.
    pub next: Duration,
}

impl Watch {
    /// Starts the watcher thread (none when `after` is `None`). It ends when
    /// `stop` disconnects.
    pub fn start(after: Option<Duration>, setting: Setting, stop: Receiver<()>) -> Watch {
        let w = Watch::new(Instant::now());
        if let Some(after) = after {
            let w2 = w.clone();
            let spawned = thread::Builder::new()
                .name("silence".into())
                .spawn(move || watch(&w2, after, &setting, &stop));
            if let Err(e) = spawned {
                crate::warn!("Cannot start the silence warning ({e}); going on without it");
            }
        }
        w
    }

    /// A watch with no thread, its times counted from `start`.
    fn new(start: Instant) -> Watch {
        Watch {
            shared: Arc::new(Shared {
                start,
                last_ms: AtomicU64::new(u64::MAX),
                heard: AtomicBool::new(false),
                warned: AtomicBool::new(false),
            }),
        }
    }

    /// `at` as milliseconds since the start.
    fn ms(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.shared.start);
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Records activity `at`; returns the milliseconds of the one before.
    fn touch(&self, at: Instant) -> u64 {
        self.shared.last_ms.swap(self.ms(at), Ordering::Relaxed)
    }

    /// Tells the watch what the connection loop saw `at`. A message after
    /// a warning says that messages arrive again.
    pub fn saw(&self, activity: Activity, at: Instant) {
        match activity {
            Activity::Connected => {
                self.touch(at);
            }
            Activity::Lost => self.shared.last_ms.store(u64::MAX, Ordering::Relaxed),
            Activity::Message => {
                if let Some(silence) = self.heard(at) {
                    messages::always(
                        LogLevel::Info,
                        &format!(
                            "Messages arriving again after {} of silence",
                            human(silence)
                        ),
                    );
                }
            }
        }
    }

    /// A message arrived `at`: the silence it ends, when that was warned
    /// about (once per warned silence). One atomic load per message
    /// otherwise.
    fn heard(&self, at: Instant) -> Option<Duration> {
        self.shared.heard.store(true, Ordering::Relaxed);
        let before = self.touch(at);
        if self.shared.warned.load(Ordering::Relaxed)
            && self.shared.warned.swap(false, Ordering::Relaxed)
        {
            let now = at.saturating_duration_since(self.shared.start);
            return Some(now.saturating_sub(Duration::from_millis(before)));
        }
        None
    }

    /// Looks at the silence `now`: the warning due, if any, and how long
    /// until the next look. None is due while not connected.
    pub fn look(&self, lookout: &mut Lookout, now: Instant) -> (Option<Warning>, Duration) {
        let last = self.shared.last_ms.load(Ordering::Relaxed);
        if last == u64::MAX {
            return (None, lookout.after);
        }
        if last != lookout.episode_from {
            lookout.episode = Episode::new(lookout.after);
            lookout.episode_from = last;
        }
        let silent_for = now
            .saturating_duration_since(self.shared.start)
            .saturating_sub(Duration::from_millis(last));
        let mut warning = None;
        if lookout.episode.due(silent_for) {
            warning = Some(Warning {
                silent_for,
                heard: self.shared.heard.load(Ordering::Relaxed),
                next: lookout.episode.next_at(),
            });
            self.shared.warned.store(true, Ordering::Relaxed);
        }
        (
            warning,
            lookout.episode.next_at().saturating_sub(silent_for),
        )
    }
}

fn watch(w: &Watch, after: Duration, setting: &Setting, stop: &Receiver<()>) {
    let mut lookout = Lookout::new(after);
    loop {
        let (warning, wait) = w.look(&mut lookout, Instant::now());
        if let Some(warning) = warning {
            warn(setting, warning);
        }
        // Wake a little after the deadline so that it has surely passed;
        // a shutdown (the channel disconnected) ends the thread at once.
        match stop.recv_timeout(wait + Duration::from_millis(20)) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

fn warn(setting: &Setting, warning: Warning) {
    let Warning {
        silent_for,
        heard,
        next,
    } = warning;
    let what = if heard {
        "the CAD may be offline or have stopped publishing, or the broker stopped forwarding"
            .to_owned()
    } else {
        format!(
            "check that the CAD publishes under --prefix {} (set on the device; often glow or energy) \
             and that the broker's ACL lets this user read it",
            setting.prefix
        )
    };
    crate::warn!(
        "Nothing received for {} while subscribed to {}: {what}; `{}` shows what the broker carries \
         (next warning after {} of silence)",
        human(silent_for),
        setting.filters.join(" "),
        setting.probe,
        human(next)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_come_after_the_delay_then_less_and_less_often() {
        let s = Duration::from_secs;
        let mut e = Episode::new(s(120));
        let warned_at: Vec<u64> = (0..=20_000).filter(|&t| e.due(s(t))).collect();
        assert_eq!(warned_at, [120, 240, 480, 960, 1920, 3840, 7680, 15360]);
        let mut e = Episode::new(s(3600));
        let at: Vec<u64> = (0..=100_000).step_by(60).filter(|&t| e.due(s(t))).collect();
        assert_eq!(at, [3600, 7200, 14_400, 28_800, 50_400, 72_000, 93_600]);
    }

    #[test]
    fn the_silence_is_counted_while_connected_from_the_last_connection_or_message() {
        let s = Duration::from_secs;
        let t0 = Instant::now();
        let at = |secs| t0 + s(secs);
        let w = Watch::new(t0);
        let mut lookout = Lookout::new(s(120));
        // Never connected: nothing is due however long; looked at again
        // after the delay.
        assert_eq!(w.look(&mut lookout, at(500)), (None, s(120)));
        w.saw(Activity::Connected, at(1000));
        assert_eq!(w.look(&mut lookout, at(1100)), (None, s(20)));
        // 120 s after the connection, nothing ever heard: the warning
        // points at the prefix and the ACL; the next after 240 s.
        let first = Warning {
            silent_for: s(120),
            heard: false,
            next: s(240),
        };
        assert_eq!(w.look(&mut lookout, at(1120)), (Some(first), s(120)));
        assert_eq!(w.look(&mut lookout, at(1239)), (None, s(1)));
        // A message ends that silence, and says so once ("Messages
        // arriving again after 4 min of silence"); the next silence is
        // counted from it, and its warning says that messages did arrive.
        assert_eq!(w.heard(at(1250)), Some(s(250)));
        assert_eq!(w.heard(at(1250)), None, "said once");
        assert_eq!(w.look(&mut lookout, at(1369)).0, None);
        let again = Warning {
            silent_for: s(120),
            heard: true,
            next: s(240),
        };
        assert_eq!(w.look(&mut lookout, at(1370)).0, Some(again));
        // Lost: not counted until connected again, then from that moment.
        w.saw(Activity::Lost, at(1400));
        assert_eq!(w.look(&mut lookout, at(9000)), (None, s(120)));
        w.saw(Activity::Connected, at(9000));
        assert_eq!(w.look(&mut lookout, at(9119)).0, None);
        assert_eq!(w.look(&mut lookout, at(9120)).0, Some(again));
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(human(Duration::from_secs(1)), "1 s");
        assert_eq!(human(Duration::from_secs(119)), "119 s");
        assert_eq!(human(Duration::from_secs(120)), "2 min");
        assert_eq!(human(Duration::from_secs(7199)), "119 min");
        assert_eq!(human(Duration::from_secs(7200)), "2 h");
        assert_eq!(human(Duration::from_secs(240)), "4 min");
        assert_eq!(human(Duration::from_secs(3 * 3600 + 5)), "3 h");
    }
}
