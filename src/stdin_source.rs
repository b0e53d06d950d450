//! Pipe mode's source: `mosquitto_sub -v` output on stdin.

use std::io::BufRead;

use crossbeam_channel::Sender;

use crate::capture::{CaptureReader, Frame};
use crate::flatten::{Level, Note};
use crate::message::{now_ns, Message};
use crate::messages;

/// Reads captures from `input` and sends each message to the writer until
/// end of input (clean end: the caller drops the sender) or until the
/// writer has gone.
pub fn run<R: BufRead>(
    input: R,
    max_message_size: usize,
    tx: &Sender<Message>,
) -> std::io::Result<()> {
    for frame in CaptureReader::new(input, max_message_size) {
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
                    received_ns: now_ns(),
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
