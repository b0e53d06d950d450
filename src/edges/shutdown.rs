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
                match signal {
                    SIGTERM | SIGINT if shutdown.signalled.swap(true, Ordering::SeqCst) => {
                        crate::warn!("Second stop signal; exiting without waiting");
                        std::process::exit(130);
                    }
                    SIGTERM | SIGINT => {
                        let name = if signal == SIGTERM {
                            "SIGTERM"
                        } else {
                            "SIGINT"
                        };
                        crate::edges::messages::always(
                            crate::edges::messages::LogLevel::Info,
                            &format!("{name} received; flushing and exiting"),
                        );
                        shutdown.trigger();
                    }
                    other => crate::debug!("Signal {other} ignored"),
                }
            }
        })?;
    Ok(())
}

/// Treats stdin as Telegraf's control channel (MQTT mode): drains it (with
/// `signal = "STDIN"` Telegraf writes a newline each interval, and its writes
/// fail once the pipe is full) and triggers the shutdown at end of file.
pub fn watch_stdin(shutdown: Arc<Shutdown>) -> std::io::Result<()> {
    thread::Builder::new().name("stdin".into()).spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    crate::warn!("Reading stdin failed ({e}); treating it as closed");
                    break;
                }
            }
        }
        if !shutdown.is_triggered() {
            crate::edges::messages::always(
                crate::edges::messages::LogLevel::Info,
                "Stdin closed (Telegraf is stopping or reloading); flushing and exiting",
            );
        }
        shutdown.trigger();
    })?;
    Ok(())
}
