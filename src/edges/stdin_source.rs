//! Pipe mode's source: `mosquitto_sub -v` output on stdin.

use std::io::BufRead;

use crossbeam_channel::Sender;

use crate::edges::capture::{CaptureReader, Frame};
use crate::edges::message::{now_ns, Message};
use crate::edges::messages;
use crate::flatten::{Level, Note};

/// Reads captures from `input` and sends each message to the writer until
/// end of input (clean end: the caller drops the sender) or until the
/// writer has gone. A timestamped capture's own time is the arrival time,
/// so `--timestamp receive` means the same for an old capture as live.
pub fn run<R: BufRead>(
    input: R,
    max_message_size: usize,
    tx: &Sender<Message>,
) -> std::io::Result<()> {
    let mut reader = CaptureReader::new(input, max_message_size);
    while let Some(frame) = reader.next() {
        match frame? {
            Frame::Message { topic, payload } => {
                if payload.len() > max_message_size {
                    messages::note(&Note {
                        level: Level::Warn,
                        text: format!(
                            "Message on {topic:?} is {} bytes, over --max-message-size {max_message_size}; skipped",
                            payload.len()
                        ),
                    });
                    continue;
                }
                let message = Message {
                    topic,
                    payload,
                    received_ns: reader.arrival_ns().unwrap_or_else(now_ns),
                    ack: None,
                };
                if tx.send(message).is_err() {
                    break;
                }
            }
            Frame::Skipped(why) => messages::note(&Note {
                level: Level::Warn,
                text: format!("stdin {why}"),
            }),
        }
    }
    Ok(())
}
