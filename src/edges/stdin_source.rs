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
