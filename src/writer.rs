//! The one thread that owns stdout.
//!
//! Messages from a source arrive over one bounded channel; the writer
//! flattens each into a reused buffer and writes it. It flushes whenever the
//! channel is empty: a burst costs one write syscall per buffer rather than
//! per line, yet a line is never held back once the stream goes quiet (a
//! person watching sees each reading, and Telegraf gets it before we exit).
//! MQTT acknowledgements run after the flush that carried their lines; one
//! the connection cannot take yet is retried, never waited for.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, TryRecvError};

use crate::flatten::{Flattener, Note};
use crate::message::{retry_acks, Ack, Message};
use crate::messages;

/// How soon to try again to hand over acks the connection could not take,
/// when no message arrives meanwhile. Only while some are waiting: an idle
/// writer with nothing to acknowledge sleeps until the next message.
const ACK_RETRY: Duration = Duration::from_millis(5);

/// How long the last acks may take to be handed over at the end (the
/// connection thread keeps draining its queue until `main` closes it).
const LAST_ACKS: Duration = Duration::from_millis(500);

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
                retry_acks(&mut acks);
                let retry = if acks.is_empty() {
                    crossbeam_channel::never()
                } else {
                    crossbeam_channel::after(ACK_RETRY)
                };
                select! {
                    recv(rx) -> m => match m {
                        Ok(m) => m,
                        Err(_) => break,
                    },
                    recv(stop) -> _ => {
                        stopping = true;
                        continue;
                    }
                    recv(retry) -> _ => continue,
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
    let deadline = Instant::now() + LAST_ACKS;
    retry_acks(&mut acks);
    while !acks.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        retry_acks(&mut acks);
    }
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
            received_ns: 1_772_366_400_000_000_000,
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
                    true
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
    fn an_ack_the_connection_cannot_take_yet_is_retried_not_waited_for() {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let (attempts, acked) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let payload = r#"{"software":"v1","timestamp":"2023-01-01T00:00:00Z"}"#;
        let (a, b) = (attempts.clone(), acked.clone());
        // A connection whose queue is full for the first three tries.
        let ack: Ack = Box::new(move || {
            if a.fetch_add(1, Ordering::SeqCst) < 3 {
                return false;
            }
            b.fetch_add(1, Ordering::SeqCst);
            true
        });
        tx.send(message("glow/A/STATE", payload, Some(ack)))
            .expect("open");
        let writer = std::thread::spawn(move || {
            let mut out = Vec::new();
            run(&rx, &stop, &Flattener::default(), &mut out).map(|_| out)
        });
        // The writer takes the next message while the ack is still waiting.
        tx.send(message("glow/A/STATE", payload, None))
            .expect("open");
        let deadline = Instant::now() + Duration::from_secs(5);
        while acked.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(tx);
        let out = writer.join().expect("no panic").expect("writes");
        assert_eq!(String::from_utf8(out).expect("utf-8").lines().count(), 2);
        assert_eq!(acked.load(Ordering::SeqCst), 1, "acknowledged exactly once");
        assert_eq!(attempts.load(Ordering::SeqCst), 4);
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
