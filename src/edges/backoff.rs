//! Reconnect delays: capped exponential backoff with jitter.
//!
//! rumqttc's `Connection` reconnects the moment it is polled again after an
//! error, so without this a dead broker means a tight loop. Jitter keeps a
//! building's worth of cadline instances from reconnecting in lockstep after
//! the broker restarts.

use std::time::Duration;

/// Delay schedule for reconnect attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
    rng: u64,
}

impl Backoff {
    /// Starts at `base`, doubles per failure, never exceeds `cap`. `seed`
    /// varies the jitter between processes.
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Backoff {
            base,
            cap,
            failures: 0,
            rng: seed | 1,
        }
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure and returns how long to wait before the next try:
    /// uniformly between half and all of the capped exponential delay.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.failures.min(20));
        let full = exp.min(self.cap);
        self.failures = self.failures.saturating_add(1);
        // xorshift64: plenty for jitter, no crate needed.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let fraction = 0.5 + (self.rng % 1000) as f64 / 2000.0;
        full.mul_f64(fraction)
    }

    /// Called once connected: the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_jitters_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30), 42);
        let delays: Vec<Duration> = (0..12).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let full = Duration::from_millis(500)
                .saturating_mul(1 << i)
                .min(Duration::from_secs(30));
            assert!(
                *d >= full / 2 && *d <= full,
                "attempt {i}: {d:?} vs {full:?}"
            );
        }
        assert!(delays[11] >= Duration::from_secs(15));
        assert_eq!(b.failures(), 12);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(500));
    }

    #[test]
    fn jitter_differs_between_seeds() {
        let mut a = Backoff::new(Duration::from_secs(10), Duration::from_secs(60), 1);
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(60), 99);
        let da: Vec<_> = (0..5).map(|_| a.next_delay()).collect();
        let db: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert_ne!(da, db);
    }
}
