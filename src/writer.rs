//! The one thread that owns stdout.
//!
//! Messages from a source arrive over one bounded channel; the writer
//! flattens each into a reused buffer and writes it. It flushes whenever the
//! channel is empty: a burst costs one write syscall per buffer rather than
//! per line, yet a line is never held back once the stream goes quiet (a
//! person watching sees each reading, and Telegraf gets it before we exit).
//! MQTT acknowledgements run after the flush that carried their lines.

use std::io::{self, Write};

use crossbeam_channel::{select, Receiver, TryRecvError};

use crate::flatten::{Flattener, Note};
use crate::message::{Ack, Message};
use crate::messages;

/// What the writer did, for the exit summary and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub messages: u64,
    pub lines: u64,
}

/// Flattens and writes messages until the channel closes or `stop` fires,
/// then drains what is already queued and flushes. An error is a write to
/// `out` that failed (EPIPE when Telegraf or `head` has gone).
pub fn run<W: Write>(
    rx: &Receiver<Message>,
    stop: &Receiver<()>,
    flattener: &Flattener,
    out: W,
) -> io::Result<Stats> {
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    let mut buf = Vec::with_capacity(4096);
    let mut notes: Vec<Note> = Vec::new();
    let mut acks: Vec<Ack> = Vec::new();
    let mut stats = Stats::default();
    let mut stopping = false;
    loop {
        let message = match rx.try_recv() {
            Ok(m) => m,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) if stopping => break,
            Err(TryRecvError::Empty) => {
                out.flush()?;
                acks.drain(..).for_each(|ack| ack());
                select! {
                    recv(rx) -> m => match m {
                        Ok(m) => m,
                        Err(_) => break,
                    },
                    recv(stop) -> _ => {
                        stopping = true;
                        continue;
                    }
                }
            }
        };
        buf.clear();
        notes.clear();
        let lines = flattener.flatten(
            &message.topic,
            &message.payload,
            message.received_ns,
            &mut buf,
            &mut notes,
        );
        notes.iter().for_each(messages::note);
        out.write_all(&buf)?;
        stats.messages += 1;
        stats.lines += lines as u64;
        acks.extend(message.ack);
    }
    out.flush()?;
    acks.drain(..).for_each(|ack| ack());
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn message(topic: &str, payload: &str, ack: Option<Ack>) -> Message {
        Message {
            topic: topic.into(),
            payload: payload.into(),
            received_ns: 1_700_000_000_000_000_000,
            ack,
        }
    }

    #[test]
    fn writes_every_message_then_acks_after_the_flush() {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let acked = Arc::new(AtomicUsize::new(0));
        for i in 0..3 {
            let acked = acked.clone();
            let payload = format!(r#"{{"software":"v{i}","timestamp":"2023-01-01T00:00:00Z"}}"#);
            tx.send(message(
                "glow/A/STATE",
                &payload,
                Some(Box::new(move || {
                    acked.fetch_add(1, Ordering::SeqCst);
                })),
            ))
            .expect("channel open");
        }
        tx.send(message("glow/A/unknown", "{}", None))
            .expect("channel open");
        drop(tx);
        let mut out = Vec::new();
        let stats = run(&rx, &stop, &Flattener::default(), &mut out).expect("writes to a Vec");
        assert_eq!(
            stats,
            Stats {
                messages: 4,
                lines: 3
            }
        );
        assert_eq!(acked.load(Ordering::SeqCst), 3);
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text.lines().count(), 3);
        assert!(text
            .lines()
            .all(|l| l.starts_with("cadstate,device=A software=\"v")));
    }

    #[test]
    fn stop_drains_what_is_queued() {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        tx.send(message("glow/A/STATE", r#"{"software":"v1"}"#, None))
            .expect("open");
        drop(stop_tx);
        let mut out = Vec::new();
        let stats = run(&rx, &stop, &Flattener::default(), &mut out).expect("writes");
        assert_eq!(stats.lines, 1);
        drop(tx);
    }

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
    }

    #[test]
    fn a_closed_stdout_is_an_error_not_a_panic() {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        tx.send(message("glow/A/STATE", r#"{"software":"v1"}"#, None))
            .expect("open");
        drop(tx);
        let err = run(&rx, &stop, &Flattener::default(), Closed).expect_err("EPIPE");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
