//! How fast the writer may hand lines to Telegraf.
//!
//! Telegraf's default memory buffer holds `metric_buffer_limit` metrics per
//! output and drops the oldest when a burst outruns its output (measured:
//! tests/bench/telegraf_drain.py, and `config::delivery` for the figure).
//! A backlog replayed by the broker arrives as fast as the network allows,
//! so the writer spends from a token bucket: `burst` lines at once, then
//! `rate` lines per second. A home's 0.2 messages/s never waits; only a
//! backlog is slowed, and it waits at the broker (the writer stops taking
//! messages, the channel fills, rumqttc stops reading), where nothing is
//! acknowledged before it is written.
//!
//! Once in debt, the writer sleeps until `BATCH` worth of lines are due,
//! not until the next line is: waking per line cost a thread wake-up, a
//! write and an ack hand-over per message, most of cadline's CPU in a paced
//! replay. The rate is the same (the bucket counts every line), and a batch
//! is never more than `burst`.

use std::time::{Duration, Instant};

/// How much time's worth of lines a paced writer takes per wake-up.
pub const BATCH: Duration = Duration::from_millis(50);

/// The most messages a paced writer takes off the channel at once.
pub const MAX_TAKEN: usize = 64;

/// A token bucket counted in lines.
#[derive(Debug, Clone)]
pub struct Pace {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Pace {
    /// `rate` lines per second after a first `burst` (both at least 1).
    pub fn new(rate: f64, burst: usize, now: Instant) -> Pace {
        let burst = (burst as f64).max(1.0);
        Pace {
            rate: rate.max(1.0),
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Spends `lines` (going into debt: a message's lines are never split).
    pub fn spend(&mut self, lines: usize, now: Instant) {
        self.refill(now);
        self.tokens -= lines as f64;
    }

    /// How many messages a paced writer takes off the channel at once: a
    /// batch's worth of lines (a message has at least one). Taken one at a
    /// time, each take freed one slot, and the connection thread, blocked
    /// on the full channel, woke up once per message to fill it: two
    /// context switches a message, most of cadline's CPU in a paced replay.
    ///
    /// At most `MAX_TAKEN`: what is taken is held beside the channel's
    /// messages, so a fast pace with large messages would otherwise more
    /// than double the memory the channel's bound promises.
    pub fn batch(&self) -> usize {
        let lines = (self.rate * BATCH.as_secs_f64()).min(self.burst).ceil();
        (lines.max(1.0) as usize).min(MAX_TAKEN)
    }

    /// When the next line may be written: `None` if now. In debt, the
    /// answer is when `BATCH` worth of lines (at most `burst`) are due.
    pub fn wait_until(&mut self, now: Instant) -> Option<Instant> {
        self.refill(now);
        if self.tokens >= 0.0 {
            return None;
        }
        let batch = (self.rate * BATCH.as_secs_f64()).min(self.burst);
        // At least a microsecond: a debt of a rounding error still waits.
        let wait = Duration::from_secs_f64((batch - self.tokens) / self.rate);
        Some(now + wait.max(Duration::from_micros(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut p = Pace::new(100.0, 50, t0);
        for _ in 0..50 {
            assert_eq!(p.wait_until(t0), None);
            p.spend(1, t0);
        }
        assert_eq!(p.wait_until(t0), None, "the 50th line spent the last token");
        p.spend(1, t0);
        let at = p.wait_until(t0).expect("in debt");
        // The debt of one line, then 50 ms of lines (5 at 100/s).
        assert_eq!(at - t0, Duration::from_millis(60));
        // A second later the debt is repaid and the bucket full again, but
        // no fuller than the burst.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(p.wait_until(t1), None);
        p.spend(50, t1);
        assert_eq!(p.wait_until(t1), None);
        p.spend(1, t1);
        assert!(p.wait_until(t1).is_some());
    }

    #[test]
    fn a_home_that_sends_every_few_seconds_never_waits() {
        let t0 = Instant::now();
        let mut p = Pace::new(900.0, 1000, t0);
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_millis(5000 * i);
            assert_eq!(p.wait_until(now), None);
            p.spend(3, now);
        }
    }

    #[test]
    fn idle_time_refills_at_most_the_burst() {
        let t0 = Instant::now();
        let mut p = Pace::new(10.0, 20, t0);
        let later = t0 + Duration::from_secs(3600);
        p.spend(20, later);
        assert_eq!(p.wait_until(later), None);
        p.spend(1, later);
        // The debt of one line, then 50 ms of lines (half a line at 10/s).
        assert_eq!(
            p.wait_until(later).map(|t| t - later),
            Some(Duration::from_millis(150))
        );
    }

    #[test]
    fn a_sustained_stream_is_held_to_the_rate() {
        // Writes as soon as allowed for 10 simulated seconds.
        let t0 = Instant::now();
        let mut p = Pace::new(900.0, 1000, t0);
        let (mut now, mut lines) = (t0, 0u64);
        while now < t0 + Duration::from_secs(10) {
            match p.wait_until(now) {
                Some(at) => now = at,
                None => {
                    p.spend(2, now);
                    lines += 2;
                }
            }
        }
        // 1000 at once, then 900/s until `now` (the last wake-up may be a
        // little past 10 s): never more, and less only by the batch
        // still being waited for.
        let allowed = 1000.0 + 900.0 * (now - t0).as_secs_f64();
        assert!(lines as f64 <= allowed + 2.0, "{lines} > {allowed}");
        assert!(lines as f64 >= allowed - 45.0 - 2.0, "{lines} < {allowed}");
    }

    #[test]
    fn in_debt_the_writer_wakes_once_per_batch_not_per_line() {
        // A replay at 900 lines/s, 3 lines per message, for 10 simulated
        // seconds: about 20 wake-ups a second (one per 50 ms), not 300.
        let t0 = Instant::now();
        let mut p = Pace::new(900.0, 1000, t0);
        let (mut now, mut lines, mut wakes) = (t0, 0u64, 0u32);
        let mut largest = 0u64;
        let mut since_wake = 0u64;
        while now < t0 + Duration::from_secs(10) {
            match p.wait_until(now) {
                Some(at) => {
                    now = at;
                    wakes += 1;
                    largest = largest.max(since_wake);
                    since_wake = 0;
                }
                None => {
                    p.spend(3, now);
                    lines += 3;
                    since_wake += 3;
                }
            }
        }
        let allowed = 1000.0 + 900.0 * (now - t0).as_secs_f64();
        assert!(lines as f64 <= allowed + 3.0, "{lines} > {allowed}");
        assert!(lines as f64 >= allowed - 45.0 - 3.0, "{lines} < {allowed}");
        assert!((180..=210).contains(&wakes), "{wakes} wake-ups");
        // The first burst, then batches of 45 lines and a message over.
        assert!(largest <= 1002, "no batch beyond the burst: {largest}");
    }

    #[test]
    fn the_writer_takes_a_batch_of_messages_at_once_within_the_burst_and_max_taken() {
        let now = Instant::now();
        assert_eq!(Pace::new(745.0, 10_000, now).batch(), 38);
        assert_eq!(Pace::new(2_000.0, 50, now).batch(), 50);
        assert_eq!(Pace::new(100_000.0, 1_000, now).batch(), MAX_TAKEN);
        assert_eq!(Pace::new(1.0, 10, now).batch(), 1);
    }

    #[test]
    fn a_batch_is_never_more_than_the_burst() {
        // 50 ms at 10 000 lines/s is 500 lines, but the burst is 100.
        let t0 = Instant::now();
        let mut p = Pace::new(10_000.0, 100, t0);
        p.spend(101, t0);
        let at = p.wait_until(t0).expect("in debt");
        assert_eq!(at - t0, Duration::from_micros(10_100));
        assert_eq!(p.wait_until(at), None);
        p.spend(100, at);
        assert_eq!(p.wait_until(at), None, "the whole burst is due");
        p.spend(1, at);
        assert!(p.wait_until(at).is_some());
    }
}
