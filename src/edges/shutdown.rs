//! One shutdown path for every reason to stop.
//!
//! Telegraf stops an execd child by closing its stdin, then SIGTERM 5 s
//! later, then SIGKILL; Ctrl-C sends SIGINT. All of these, and a source
//! reaching its end, close one broadcast channel that every thread selects
//! on, so the writer drains, flushes and returns the same way each time.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

/// A one-shot broadcast: `trigger` closes the channel, and every
/// `receiver()` then sees it disconnected.
#[derive(Debug)]
pub struct Shutdown {
    tx: Mutex<Option<Sender<()>>>,
    rx: Receiver<()>,
    /// A stop *signal* has arrived. Only a second signal may skip the
    /// drain: `systemctl stop` on a unit without `KillMode=mixed` closes
    /// Telegraf's end of our stdin and sends us SIGTERM at the same moment,
    /// and that is one stop, not two.
    signalled: AtomicBool,
}

impl Shutdown {
    /// A shutdown not yet triggered.
    pub fn new() -> Arc<Self> {
        let (tx, rx) = crossbeam_channel::bounded(0);
        Arc::new(Shutdown {
            tx: Mutex::new(Some(tx)),
            rx,
            signalled: AtomicBool::new(false),
        })
    }

    /// Asks everything to stop. Idempotent.
    pub fn trigger(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }

    /// Whether `trigger` has been called.
    pub fn is_triggered(&self) -> bool {
        self.tx.lock().map_or(true, |tx| tx.is_none())
    }

    /// A receiver that becomes ready (disconnected) on shutdown; use it in
    /// `select!` or as an interruptible sleep with `recv_timeout`.
    pub fn receiver(&self) -> Receiver<()> {
        self.rx.clone()
    }
}

/// What a signal asks of the process (`Shutdown::on_signal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalAction {
    /// The first SIGTERM or SIGINT: the shutdown is triggered, and the
    /// drain begins.
    Stop(&'static str),
    /// A second SIGTERM or SIGINT: exit at once without draining.
    ExitNow,
    /// SIGHUP, SIGUSR1, SIGUSR2 (or anything else): logged and ignored.
    Ignore,
}

impl Shutdown {
    /// Decides what `signal` does, and triggers the shutdown on the first
    /// stop signal. Kept apart from the signal thread so that the rule
    /// (one stop, a second one exits) is tested without signalling the
    /// test process.
    pub fn on_signal(&self, signal: i32) -> SignalAction {
        match signal {
            SIGTERM | SIGINT if self.signalled.swap(true, Ordering::SeqCst) => {
                SignalAction::ExitNow
            }
            SIGTERM | SIGINT => {
                self.trigger();
                SignalAction::Stop(if signal == SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                })
            }
            _ => SignalAction::Ignore,
        }
    }
}

/// Handles signals on a dedicated thread: SIGTERM and SIGINT trigger the
/// shutdown (a second one exits at once, like fd's double Ctrl-C); SIGHUP,
/// SIGUSR1 and SIGUSR2, whose default action would kill us when Telegraf is
/// misconfigured with `signal = "SIGHUP"`, are logged and ignored.
pub fn watch_signals(shutdown: Arc<Shutdown>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2])?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match shutdown.on_signal(signal) {
                    SignalAction::ExitNow => {
                        crate::warn!("Second stop signal; exiting without waiting");
                        std::process::exit(130);
                    }
                    SignalAction::Stop(name) => crate::edges::messages::always(
                        crate::edges::messages::LogLevel::Info,
                        &format!("{name} received; flushing and exiting"),
                    ),
                    SignalAction::Ignore => crate::debug!("Signal {signal} ignored"),
                }
            }
        })?;
    Ok(())
}

/// Treats stdin as Telegraf's control channel (MQTT mode): drains it (with
/// `signal = "STDIN"` Telegraf writes a newline each interval, and its writes
/// fail once the pipe is full) and triggers the shutdown at end of file.
pub fn watch_stdin(shutdown: Arc<Shutdown>) -> std::io::Result<()> {
    watch_control(shutdown, std::io::stdin())
}

/// `watch_stdin` on any reader, so that a test can hand it one.
pub fn watch_control<R: Read + Send + 'static>(
    shutdown: Arc<Shutdown>,
    control: R,
) -> std::io::Result<()> {
    thread::Builder::new().name("stdin".into()).spawn(move || {
        if drain_control(control, &shutdown) {
            crate::edges::messages::always(
                crate::edges::messages::LogLevel::Info,
                "Stdin closed (Telegraf is stopping or reloading); flushing and exiting",
            );
        }
    })?;
    Ok(())
}

/// Reads `control` to its end (or to a read error other than EINTR, which
/// is treated as the end), then triggers the shutdown. Returns whether this
/// end is what started the stop (nothing had triggered it before), which
/// is when it is worth saying so.
pub fn drain_control(mut control: impl Read, shutdown: &Shutdown) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match control.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                crate::warn!("Reading stdin failed ({e}); treating it as closed");
                break;
            }
        }
    }
    let first = !shutdown.is_triggered();
    shutdown.trigger();
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{self, Cursor};
    use std::time::Duration;

    /// Whether the shutdown's receiver reports the stop within 5 s.
    fn stops_within_5s(shutdown: &Shutdown) -> bool {
        matches!(
            shutdown.receiver().recv_timeout(Duration::from_secs(5)),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        )
    }

    #[test]
    fn a_shutdown_starts_untriggered_and_trigger_is_seen_by_every_receiver() {
        let shutdown = Shutdown::new();
        let early = shutdown.receiver();
        assert!(!shutdown.is_triggered());
        assert!(matches!(
            early.recv_timeout(Duration::from_millis(20)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout)
        ));
        shutdown.trigger();
        shutdown.trigger();
        assert!(shutdown.is_triggered());
        assert!(early.recv().is_err());
        assert!(shutdown.receiver().recv().is_err());
    }

    #[test]
    fn the_first_stop_signal_drains_and_the_second_exits_at_once() {
        for (first, name, second) in [(SIGTERM, "SIGTERM", SIGINT), (SIGINT, "SIGINT", SIGTERM)] {
            let shutdown = Shutdown::new();
            assert_eq!(shutdown.on_signal(first), SignalAction::Stop(name));
            assert!(shutdown.is_triggered());
            assert_eq!(shutdown.on_signal(second), SignalAction::ExitNow);
        }
    }

    #[test]
    fn hup_and_usr_signals_are_ignored_and_stop_nothing() {
        let shutdown = Shutdown::new();
        for signal in [SIGHUP, SIGUSR1, SIGUSR2] {
            assert_eq!(shutdown.on_signal(signal), SignalAction::Ignore);
        }
        assert!(!shutdown.is_triggered());
        // Nor do they count as a first stop: SIGTERM still drains.
        assert_eq!(shutdown.on_signal(SIGTERM), SignalAction::Stop("SIGTERM"));
    }

    #[test]
    fn a_stop_after_the_stdin_stop_still_drains() {
        // systemctl stop: Telegraf's end of stdin closes and SIGTERM
        // arrives at once; that is one stop, not a second.
        let shutdown = Shutdown::new();
        assert!(drain_control(Cursor::new(Vec::new()), &shutdown));
        assert_eq!(shutdown.on_signal(SIGTERM), SignalAction::Stop("SIGTERM"));
    }

    /// A control channel that yields its steps one read at a time and
    /// counts the reads made.
    struct Steps {
        steps: Vec<io::Result<usize>>,
        reads: Arc<Mutex<usize>>,
    }

    impl Read for Steps {
        fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
            if let Ok(mut reads) = self.reads.lock() {
                *reads += 1;
            }
            if self.steps.is_empty() {
                return Ok(0);
            }
            self.steps.remove(0)
        }
    }

    #[test]
    fn control_input_is_drained_to_its_end_then_the_stop_is_triggered() {
        let shutdown = Shutdown::new();
        let reads = Arc::new(Mutex::new(0));
        let steps = Steps {
            steps: vec![
                Ok(1),
                Err(io::Error::from(io::ErrorKind::Interrupted)),
                Ok(4096),
                Ok(1),
            ],
            reads: reads.clone(),
        };
        assert!(
            drain_control(steps, &shutdown),
            "stdin's end started this stop"
        );
        assert!(shutdown.is_triggered());
        // Every newline Telegraf wrote was read, EINTR was retried, and the
        // end of file was the fifth read.
        assert_eq!(*reads.lock().unwrap_or_else(|e| e.into_inner()), 5);
    }

    #[test]
    fn a_read_error_is_taken_as_the_end() {
        let shutdown = Shutdown::new();
        let reads = Arc::new(Mutex::new(0));
        let steps = Steps {
            steps: vec![
                Ok(1),
                Err(io::Error::from(io::ErrorKind::BrokenPipe)),
                Ok(1),
            ],
            reads: reads.clone(),
        };
        assert!(drain_control(steps, &shutdown));
        assert!(shutdown.is_triggered());
        assert_eq!(*reads.lock().unwrap_or_else(|e| e.into_inner()), 2);
    }

    #[test]
    fn stdin_closing_after_a_signal_does_not_claim_the_stop() {
        let shutdown = Shutdown::new();
        assert_eq!(shutdown.on_signal(SIGINT), SignalAction::Stop("SIGINT"));
        assert!(!drain_control(Cursor::new(b"\n".to_vec()), &shutdown));
        assert!(shutdown.is_triggered());
    }

    #[test]
    fn the_control_thread_stops_everything_when_its_input_ends() {
        let shutdown = Shutdown::new();
        watch_control(shutdown.clone(), Cursor::new(b"\n\n".to_vec())).expect("spawn");
        assert!(stops_within_5s(&shutdown));
    }

    #[test]
    fn a_real_sigterm_and_sighup_reach_the_signal_thread() {
        // The only test that signals the test process itself: once
        // watch_signals has returned, SIGTERM and SIGHUP are caught (an
        // uncaught one would end the whole test binary).
        let shutdown = Shutdown::new();
        watch_signals(shutdown.clone()).expect("signal handlers");
        signal_hook::low_level::raise(SIGHUP).expect("raise SIGHUP");
        signal_hook::low_level::raise(SIGUSR1).expect("raise SIGUSR1");
        assert!(matches!(
            shutdown.receiver().recv_timeout(Duration::from_millis(100)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout)
        ));
        signal_hook::low_level::raise(SIGTERM).expect("raise SIGTERM");
        assert!(stops_within_5s(&shutdown));
    }
}
