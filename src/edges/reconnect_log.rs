//! Which connection failures and reconnects are worth a line on stderr.
//!
//! A broker down for a night is thousands of failed attempts: the first
//! few are logged one by one, then every `LOG_EVERY`th, and a failure with
//! a cause not seen just before is always logged, however many came
//! before it. "Reconnected" is said only when the failure before it was:
//! a storm of short connections (two instances with one client id) is
//! then not two lines per cycle. Kept apart from the MQTT loop so that
//! each rule is a unit test, not a broker run.

/// Failures logged one by one before only every `LOG_EVERY`th is.
pub const LOUD_FAILURES: u32 = 3;
/// After `LOUD_FAILURES`, one failure in this many is logged.
pub const LOG_EVERY: u32 = 20;

/// Whether the `n`th failure in a row (counted from 1) is logged when its
/// cause is no news. Also throttles the refused-subscription error.
pub fn loud(n: u32) -> bool {
    n <= LOUD_FAILURES || n % LOG_EVERY == 0
}

/// What has been logged about the connection so far.
#[derive(Debug, Default)]
pub struct ReconnectLog {
    /// The cause of the last failure; empty after a stable connection.
    last_cause: String,
    /// Whether the last failure was logged.
    failure_logged: bool,
    /// Whether any connection was made yet.
    ever_connected: bool,
}

impl ReconnectLog {
    /// A connection that lasted: the next failure is news, whatever its
    /// cause.
    pub fn stable(&mut self) {
        self.last_cause.clear();
    }

    /// The `n`th failure in a row, of `cause` (its text without timings):
    /// `None` when it is not to be logged, else what to add at the end of
    /// its line (the announcement that later ones are thinned out).
    pub fn failed(&mut self, cause: &str, n: u32) -> Option<String> {
        let new_cause = cause != self.last_cause;
        cause.clone_into(&mut self.last_cause);
        self.failure_logged = loud(n) || new_cause;
        if !self.failure_logged {
            return None;
        }
        Some(if n == LOUD_FAILURES {
            format!("; further failures are logged every {LOG_EVERY} attempts")
        } else {
            String::new()
        })
    }

    /// A connection made after `failures` failed attempts: `None` when not
    /// worth a line, else how the line starts ("Connected",
    /// "Reconnected", "Reconnected ... after 4 failed attempts" is made of
    /// the verb and the suffix returned here).
    pub fn connected(&mut self, failures: u32) -> Option<(&'static str, String)> {
        let say = !self.ever_connected || self.failure_logged;
        let verb = if self.ever_connected || failures > 0 {
            "Reconnected"
        } else {
            "Connected"
        };
        self.ever_connected = true;
        say.then(|| {
            let after = match failures {
                0 => String::new(),
                n => format!(" after {n} failed attempts"),
            };
            (verb, after)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_three_failures_then_every_twentieth_are_loud() {
        let loud_ones: Vec<u32> = (1..=100).filter(|&n| loud(n)).collect();
        assert_eq!(loud_ones, vec![1, 2, 3, 20, 40, 60, 80, 100]);
    }

    #[test]
    fn a_repeated_cause_is_thinned_out_and_the_third_says_so() {
        let mut log = ReconnectLog::default();
        let said: Vec<(u32, String)> = (1..=41)
            .filter_map(|n| log.failed("connection refused", n).map(|s| (n, s)))
            .collect();
        let quiet = "; further failures are logged every 20 attempts".to_owned();
        assert_eq!(
            said,
            vec![
                (1, String::new()),
                (2, String::new()),
                (3, quiet),
                (20, String::new()),
                (40, String::new()),
            ]
        );
    }

    #[test]
    fn a_new_cause_is_always_logged_and_the_same_cause_after_it_is_not() {
        let mut log = ReconnectLog::default();
        for n in 1..=5 {
            log.failed("connection refused", n);
        }
        assert_eq!(log.failed("not authorised", 6), Some(String::new()));
        assert_eq!(log.failed("not authorised", 7), None);
        assert_eq!(log.failed("connection refused", 8), Some(String::new()));
    }

    #[test]
    fn after_a_stable_connection_the_same_cause_is_news_again() {
        let mut log = ReconnectLog::default();
        for n in 1..=5 {
            log.failed("connection reset", n);
        }
        assert_eq!(log.failed("connection reset", 6), None);
        log.stable();
        // The backoff was reset with it, but even a count past the loud
        // ones is logged: the cause is news after a connection that lasted.
        assert_eq!(log.failed("connection reset", 7), Some(String::new()));
    }

    #[test]
    fn the_first_connection_is_connected_and_later_ones_reconnected() {
        let mut log = ReconnectLog::default();
        assert_eq!(log.connected(0), Some(("Connected", String::new())));
        log.failed("connection reset", 1);
        assert_eq!(
            log.connected(1),
            Some(("Reconnected", " after 1 failed attempts".to_owned()))
        );
    }

    #[test]
    fn a_first_connection_after_failures_is_a_reconnect_with_the_count() {
        let mut log = ReconnectLog::default();
        for n in 1..=4 {
            log.failed("connection refused", n);
        }
        // The fourth failure was not logged, but the first connection is
        // always said.
        assert_eq!(
            log.connected(4),
            Some(("Reconnected", " after 4 failed attempts".to_owned()))
        );
    }

    #[test]
    fn a_reconnect_after_a_failure_not_logged_is_not_said_either() {
        let mut log = ReconnectLog::default();
        log.connected(0);
        for n in 1..=4 {
            log.failed("connection reset", n);
        }
        assert_eq!(log.connected(4), None);
        // A logged failure (the twentieth) makes the next one worth saying.
        log.failed("connection reset", 20);
        assert_eq!(
            log.connected(20),
            Some(("Reconnected", " after 20 failed attempts".to_owned()))
        );
    }
}
