//! Pipe mode: `mosquitto_sub -v` output on stdin, flattened and written on
//! one thread.
//!
//! MQTT mode needs two threads (the connection must be polled while stdout
//! is slow, and acknowledgements come back from the writer); pipe mode has
//! nothing to acknowledge and nothing to keep alive, so reading, flattening
//! and writing happen in one loop with no hand-over between threads. Output
//! is written when a full buffer is ready, and whenever the next line is
//! not already in the read buffer: before a read that may wait, nothing is
//! held back.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, TryRecvError};

use crate::edges::capture::{CaptureReader, Frame};
use crate::edges::message::now_ns;
use crate::edges::messages;
use crate::edges::writer::{write_lines, Stats, BUFFER};
use crate::flatten::line_protocol::MAX_LINE_BYTES;
use crate::flatten::{Arrival, Flattener, Level, Note};

/// Reads captures from `input`, flattens each message and writes its lines
/// to `out` until the end of input or until `stop` fires (then what is
/// already flattened is written, and no more is read). An error is a write
/// that failed (EPIPE when `head` has gone); a read that fails is logged and
/// ends the input. A
/// timestamped capture's own time is the arrival time, so `--timestamp
/// receive` means the same for an old capture as live; it is the time the
/// user gave, not this host's clock, so the rule for a wrong host clock
/// never judges it ([`Arrival::Recorded`]).
///
/// `waiting` is true while everything read has been written and the next
/// read may wait for input: a stop then has nothing to drain.
pub fn run<R: Read, W: Write>(
    input: io::BufReader<R>,
    max_message_size: usize,
    flattener: &Flattener,
    mut out: W,
    whole_line_writes: bool,
    stop: &Receiver<()>,
    waiting: &AtomicBool,
) -> io::Result<Stats> {
    let mut reader = CaptureReader::new(input, max_message_size);
    let mut buf: Vec<u8> = Vec::with_capacity(BUFFER + 2 * MAX_LINE_BYTES);
    let mut notes: Vec<Note> = Vec::new();
    let mut stats = Stats::default();
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                crate::error!("Reading stdin failed: {e}");
                break;
            }
        };
        waiting.store(false, Ordering::SeqCst);
        match frame {
            Frame::Message {
                topic,
                payload,
                arrival_ns,
            } => {
                if payload.len() > max_message_size {
                    messages::note(&Note {
                        level: Level::Warn,
                        text: format!(
                            "Message on {topic:?} is {} bytes, over --max-message-size {max_message_size}; skipped",
                            payload.len()
                        ),
                    });
                } else {
                    notes.clear();
                    let arrival =
                        arrival_ns.map_or_else(|| Arrival::HostClock(now_ns()), Arrival::Recorded);
                    let lines = flattener.flatten_at(topic, payload, arrival, &mut buf, &mut notes);
                    notes.iter().for_each(messages::note);
                    stats.messages += 1;
                    stats.lines += lines as u64;
                }
            }
            Frame::Skipped(why) => messages::note(&Note {
                level: Level::Warn,
                text: format!("stdin {why}"),
            }),
        }
        let stopping = matches!(stop.try_recv(), Err(TryRecvError::Disconnected));
        let ready = reader.has_line_ready();
        if buf.len() >= BUFFER || !ready || stopping {
            write_lines(&mut out, &buf, whole_line_writes)?;
            out.flush()?;
            buf.clear();
        }
        if stopping {
            return Ok(stats);
        }
        if !ready {
            waiting.store(true, Ordering::SeqCst);
        }
    }
    write_lines(&mut out, &buf, whole_line_writes)?;
    out.flush()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(i: usize, padding: usize) -> String {
        format!(
            r#"{{"software":"v{i}","timestamp":"2023-01-01T00:00:00Z"{}}}"#,
            " ".repeat(padding)
        )
    }

    /// Runs pipe mode over `capture` to a Vec, with `stop` already fired
    /// or never fired.
    fn pipe(capture: &str, max_message_size: usize, stopped: bool) -> (Stats, String) {
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        // Dropping the sender is the stop; kept, it never fires.
        let _kept = (!stopped).then_some(stop_tx);
        let mut out = Vec::new();
        let stats = run(
            io::BufReader::new(capture.as_bytes()),
            max_message_size,
            &Flattener::default(),
            &mut out,
            true,
            &stop,
            &AtomicBool::new(false),
        )
        .expect("writes to a Vec");
        (stats, String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn a_stop_with_lines_in_the_read_buffer_writes_every_line_it_counted() {
        // SIGTERM during a large piped input: the next messages are already
        // read, so the loop would not write yet; what it flattened and
        // counted must still reach stdout before it returns.
        let capture: String = (0..50)
            .map(|i| format!("glow/A/STATE {}\n", state(i, 0)))
            .collect();
        let (stats, out) = pipe(&capture, 10_000, true);
        assert!(stats.lines >= 1, "{stats:?}");
        assert_eq!(
            out.lines().count() as u64,
            stats.lines,
            "counted but not written: {out:?}"
        );
        assert!(
            out.starts_with("cadstate,device=A software=\"v0\""),
            "{out:?}"
        );
    }

    /// A live `mosquitto_sub -v`: each chunk the test sends is one read,
    /// and a read blocks until the next chunk (end of input once the
    /// sender is dropped).
    struct Live(crossbeam_channel::Receiver<Vec<u8>>);
    impl Read for Live {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Ok(chunk) = self.0.recv() else {
                return Ok(0);
            };
            assert!(chunk.len() <= buf.len(), "a test chunk larger than a read");
            buf[..chunk.len()].copy_from_slice(&chunk);
            Ok(chunk.len())
        }
    }

    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn within_5s(what: &str, done: impl Fn() -> bool) {
        let start = std::time::Instant::now();
        while !done() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(5),
                "{what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn a_live_line_is_written_before_the_next_read_waits_and_then_it_is_waiting() {
        // Telegraf must get each reading as it comes, not when 64 KiB have
        // gathered or the input ends; and once all is written, a stop has
        // nothing to drain (`waiting`).
        let (feed, input) = crossbeam_channel::unbounded::<Vec<u8>>();
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let waiting = std::sync::Arc::new(AtomicBool::new(false));
        let out = Shared::default();
        let pipe = {
            let (out, waiting) = (out.clone(), waiting.clone());
            std::thread::spawn(move || {
                run(
                    io::BufReader::new(Live(input)),
                    10_000,
                    &Flattener::default(),
                    out,
                    true,
                    &stop,
                    &waiting,
                )
            })
        };
        let text = || String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
        for i in 1..=2 {
            feed.send(format!("glow/A/STATE {}\n", state(i, 0)).into_bytes())
                .expect("open");
            within_5s(&format!("line {i} held back while the input waits"), || {
                text().contains(&format!("software=\"v{i}\""))
            });
            within_5s("all written, yet not waiting", || {
                waiting.load(Ordering::SeqCst)
            });
        }
        drop(feed);
        let stats = pipe.join().expect("no panic").expect("writes");
        assert_eq!(
            stats,
            Stats {
                messages: 2,
                lines: 2
            }
        );
        assert_eq!(text().lines().count(), 2);
    }

    #[test]
    fn a_payload_of_exactly_max_message_size_is_written_and_one_byte_more_is_skipped() {
        let exact = state(1, 20);
        let limit = exact.len();
        let over = state(2, 21);
        assert_eq!(over.len(), limit + 1);
        let capture = format!("glow/A/STATE {exact}\nglow/A/STATE {over}\n");
        let (stats, out) = pipe(&capture, limit, false);
        assert!(
            out.contains("software=\"v1\""),
            "{limit} bytes at --max-message-size {limit} skipped: {out:?}"
        );
        assert!(
            !out.contains("software=\"v2\""),
            "{} bytes at --max-message-size {limit} written",
            limit + 1
        );
        assert_eq!(
            stats,
            Stats {
                messages: 1,
                lines: 1
            }
        );
    }
}
