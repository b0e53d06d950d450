//! The open-file limit (`ulimit -n`, systemd's `LimitNOFILE`), checked at
//! start.
//!
//! Below what cadline needs, a library fails where we cannot catch it:
//! rumqttc builds its runtime with `unwrap()` (client.rs:265 in 0.25.1) and
//! panicked at limits 6 to 8; at 9 every connection failed with "Too many
//! open files" for ever. Measured on the release binary: MQTT mode needs 10
//! descriptors (stdio, our copy of stdout, the signal pipe, the runtime's
//! epoll and eventfd, the socket), pipe mode 6. The minimums below leave
//! room for a DNS lookup and a reconnect's new socket.
//!
//! A soft limit below the minimum is raised when the hard limit allows
//! (what Go programs, Telegraf among them, do at start); otherwise cadline
//! refuses to start with one line naming the limit and how to raise it.

use rustix::process::{getrlimit, setrlimit, Resource};

/// Descriptors MQTT mode may hold at once, with room to spare.
pub const MQTT_MODE: u64 = 32;

/// Descriptors pipe mode (`--stdin`) may hold at once, with room to spare.
pub const PIPE_MODE: u64 = 16;

/// Makes sure at least `needed` descriptors may be open: `Ok` with nothing
/// to say, `Ok` with a debug note after raising the soft limit, or `Err`
/// with the line to print when the hard limit is too low.
pub fn ensure(needed: u64) -> Result<Option<String>, String> {
    let limit = getrlimit(Resource::Nofile);
    // `None` is unlimited.
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= needed {
        return Ok(None);
    }
    let hard = limit.maximum.unwrap_or(u64::MAX);
    if hard >= needed {
        let raised = rustix::process::Rlimit {
            current: Some(needed),
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return Ok(Some(format!(
                "Raised the open-file limit from {soft} to {needed} (the hard limit is {})",
                show(limit.maximum)
            )));
        }
    }
    Err(refusal(soft, hard, needed))
}

fn show(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

/// The one line for a limit that cannot be raised far enough.
fn refusal(soft: u64, hard: u64, needed: u64) -> String {
    format!(
        "The open-file limit is {soft} (hard limit {hard}) and cadline needs {needed}; \
         not starting. Raise it where cadline is started: `ulimit -n 1024` in the shell, \
         `LimitNOFILE=1024` in the systemd unit that runs Telegraf, or `--ulimit nofile=1024` \
         for a container"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_the_numbers_and_every_place_to_raise_it() {
        let line = refusal(7, 7, MQTT_MODE);
        for part in [
            "limit is 7",
            "needs 32",
            "ulimit -n",
            "LimitNOFILE",
            "nofile",
        ] {
            assert!(line.contains(part), "{part}: {line}");
        }
    }
}
