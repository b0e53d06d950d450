//! Reads `mosquitto_sub -v` output: `topic payload` per line.
//!
//! Generic over `BufRead` so the framing is tested with byte slices. Copes
//! with what real captures contain: CRLF line endings (saved on Windows),
//! blank lines, lines far too long to be a CAD message (read past, never
//! held in memory), and pretty-printed JSON payloads that `mosquitto_sub`
//! prints across several lines.

use std::io::{self, BufRead, Read};

/// One unit of a capture.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A message to flatten.
    Message { topic: String, payload: Vec<u8> },
    /// Something that is not a message, with the reason (for a warning).
    Skipped(String),
}

/// Splits a capture into frames.
pub struct CaptureReader<R> {
    inner: R,
    max_line: usize,
    /// A line read while looking for the end of a multi-line payload that
    /// turned out to start the next message.
    pending: Option<Vec<u8>>,
    line_no: u64,
}

enum Line {
    Text(Vec<u8>),
    TooLong,
}

impl<R: BufRead> CaptureReader<R> {
    /// `max_message_size` bounds a payload; a longer line is skipped.
    pub fn new(inner: R, max_message_size: usize) -> Self {
        CaptureReader {
            inner,
            // Room for the topic and the separating space.
            max_line: max_message_size.saturating_add(1024),
            pending: None,
            line_no: 0,
        }
    }

    /// Reads one line without its `\n`/`\r\n`, never buffering more than
    /// `max_line` bytes of it. `None` at end of input.
    ///
    /// `read_until` searches with the standard library's `memchr`; `take` is
    /// what bounds the memory.
    fn read_line(&mut self) -> io::Result<Option<Line>> {
        let mut line = Vec::new();
        // Room for a CRLF after the longest line we keep.
        let limit = u64::try_from(self.max_line)
            .unwrap_or(u64::MAX)
            .saturating_add(2);
        let n = (&mut self.inner).take(limit).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        let complete = line.last() == Some(&b'\n');
        if complete {
            line.pop();
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > self.max_line {
            if !complete {
                self.skip_rest_of_line()?;
            }
            return Ok(Some(Line::TooLong));
        }
        Ok(Some(Line::Text(line)))
    }

    /// Reads past the next `\n` without keeping anything (`skip_until`
    /// needs Rust 1.83; this is the rare path).
    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.inner.consume(i + 1);
                    return Ok(());
                }
                None => {
                    let n = buf.len();
                    self.inner.consume(n);
                }
            }
        }
    }

    fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let line = match self.pending.take() {
            Some(l) => l,
            None => loop {
                match self.read_line()? {
                    None => return Ok(None),
                    Some(Line::TooLong) => {
                        return Ok(Some(Frame::Skipped(format!(
                            "line {}: longer than {} bytes; skipped",
                            self.line_no, self.max_line
                        ))))
                    }
                    Some(Line::Text(l)) if l.iter().all(u8::is_ascii_whitespace) => {}
                    Some(Line::Text(l)) => break l,
                }
            },
        };
        let line_no = self.line_no;
        let Some(space) = line.iter().position(|&b| b == b' ') else {
            return Ok(Some(Frame::Skipped(format!(
                "line {line_no}: expected `topic payload` (mosquitto_sub -v output); skipped"
            ))));
        };
        let Ok(topic) = String::from_utf8(line[..space].to_vec()) else {
            return Ok(Some(Frame::Skipped(format!(
                "line {line_no}: topic is not UTF-8; skipped"
            ))));
        };
        // The line's own buffer becomes the payload: no second copy.
        let mut payload = line;
        payload.drain(..=space);
        // A pretty-printed payload continues on the following lines until
        // its brackets balance. A line that ends in a closing bracket is a
        // whole payload (every compact one does; a pretty printer's first
        // line ends in an opening bracket), so only other lines pay for
        // counting brackets, which was most of the stdin thread's time.
        let complete = matches!(payload.trim_ascii_end().last(), Some(b'}' | b']'));
        while !complete && json_depth(&payload) > 0 {
            match self.read_line()? {
                None => break,
                Some(Line::TooLong) => {
                    return Ok(Some(Frame::Skipped(format!(
                        "line {line_no}: payload longer than {} bytes; skipped",
                        self.max_line
                    ))))
                }
                Some(Line::Text(next)) if starts_message(&next) => {
                    self.pending = Some(next);
                    break;
                }
                Some(Line::Text(next)) => {
                    if payload.len() + next.len() + 1 > self.max_line {
                        return Ok(Some(Frame::Skipped(format!(
                            "line {line_no}: payload longer than {} bytes; skipped",
                            self.max_line
                        ))));
                    }
                    payload.push(b'\n');
                    payload.extend_from_slice(&next);
                }
            }
        }
        Ok(Some(Frame::Message { topic, payload }))
    }
}

impl<R: BufRead> Iterator for CaptureReader<R> {
    type Item = io::Result<Frame>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

/// The bytes `json_depth` acts on; every other byte is skipped by one
/// table lookup, since this scans every payload read from stdin.
const STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t
};

/// How many `{`/`[` are open at the end of `json` (strings skipped). Only
/// payloads that start as JSON objects or arrays can continue.
fn json_depth(json: &[u8]) -> i64 {
    let trimmed = json.trim_ascii_start();
    if !matches!(trimmed.first(), Some(b'{' | b'[')) {
        return 0;
    }
    let (mut depth, mut in_string, mut escaped) = (0i64, false, false);
    for &b in trimmed {
        if !STRUCTURAL[usize::from(b)] {
            escaped = false;
            continue;
        }
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// Whether a line looks like the start of a new `topic payload` line rather
/// than the continuation of a JSON payload: a first word with a `/` in it
/// and no JSON punctuation, followed by a space.
fn starts_message(line: &[u8]) -> bool {
    let Some(space) = line.iter().position(|&b| b == b' ') else {
        return false;
    };
    let word = &line[..space];
    !word.is_empty()
        && word.contains(&b'/')
        && !word
            .iter()
            .any(|b| matches!(b, b'"' | b'{' | b'}' | b'[' | b']' | b',' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        CaptureReader::new(input, max)
            .collect::<io::Result<Vec<_>>>()
            .expect("reading a slice cannot fail")
    }

    fn msg(topic: &str, payload: &str) -> Frame {
        Frame::Message {
            topic: topic.into(),
            payload: payload.as_bytes().to_vec(),
        }
    }

    #[test]
    fn lf_and_crlf_and_blank_lines() {
        let input = b"a/b {\"x\":1}\r\n\r\n\nc/d {\"y\":2}\nlast/t {}";
        assert_eq!(
            frames(input, 100),
            vec![
                msg("a/b", "{\"x\":1}"),
                msg("c/d", "{\"y\":2}"),
                msg("last/t", "{}")
            ]
        );
    }

    #[test]
    fn pretty_printed_payloads_are_joined() {
        let input = b"g/1/STATE {\n  \"a\": \"}\",\n  \"b\": [1]\n}\ng/2/STATE {}\n";
        assert_eq!(
            frames(input, 100),
            vec![
                msg("g/1/STATE", "{\n  \"a\": \"}\",\n  \"b\": [1]\n}"),
                msg("g/2/STATE", "{}")
            ]
        );
    }

    #[test]
    fn a_truncated_payload_does_not_swallow_the_next_message() {
        let input = b"g/1/STATE {\"a\": [1,\ng/2/STATE {}\n";
        assert_eq!(
            frames(input, 100),
            vec![msg("g/1/STATE", "{\"a\": [1,"), msg("g/2/STATE", "{}")]
        );
    }

    #[test]
    fn long_lines_are_skipped_and_reading_goes_on() {
        let mut input = b"t/x ".to_vec();
        input.extend(std::iter::repeat(b'x').take(5000));
        input.extend_from_slice(b"\nt/y {}\n");
        let out = frames(&input, 10);
        assert!(matches!(&out[0], Frame::Skipped(why) if why.contains("longer than")));
        assert_eq!(out[1], msg("t/y", "{}"));
    }

    #[test]
    fn the_line_limit_is_exact_and_counts_no_line_ending() {
        // A limit of 10 bytes of payload allows lines of 10 + 1024 bytes.
        let line = |len: usize, end: &str| {
            let mut l = b"t/x ".to_vec();
            l.extend(std::iter::repeat(b'x').take(len - 4));
            l.extend_from_slice(end.as_bytes());
            l
        };
        for end in ["\n", "\r\n", ""] {
            let mut input = line(1034, end);
            input.extend_from_slice(b"\nt/y {}\n");
            let out = frames(&input, 10);
            assert!(
                matches!(&out[0], Frame::Message { payload, .. } if payload.len() == 1030),
                "{end:?} {:?}",
                &out[0]
            );
            assert_eq!(out.last(), Some(&msg("t/y", "{}")));

            let mut input = line(1035, end);
            input.extend_from_slice(b"\nt/y {}\n");
            let out = frames(&input, 10);
            assert!(matches!(&out[0], Frame::Skipped(why) if why.contains("longer than")));
            assert_eq!(out.last(), Some(&msg("t/y", "{}")));
        }
    }

    #[test]
    fn odd_lines() {
        let out = frames(b"no-space-here\n\xff\xfe {}\n", 100);
        assert!(matches!(&out[0], Frame::Skipped(w) if w.contains("topic payload")));
        assert!(matches!(&out[1], Frame::Skipped(w) if w.contains("UTF-8")));
    }
}
