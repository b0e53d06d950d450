//! Reads `mosquitto_sub -v` output: `topic payload` per line.
//!
//! Generic over `BufRead` so the framing is tested with byte slices. Copes
//! with what real captures contain: CRLF line endings (saved on Windows),
//! blank lines, lines far too long to be a CAD message (read past, never
//! held in memory), pretty-printed JSON payloads that `mosquitto_sub`
//! prints across several lines, timestamped captures
//! (`mosquitto_sub -F '%I %t %p'` or `-F '%U %t %p'`, whose time becomes
//! the arrival time), and payload-only captures (`mosquitto_sub` without
//! `-v`), which are recognised and skipped with one warning naming `-v`.
//!
//! Every byte is looked at a bounded number of times whatever the shape of
//! the input: the bracket depth of a pretty-printed payload is a running
//! state fed one line at a time, never a rescan of what came before.
//!
//! A frame borrows its topic and payload. A compact message whose line is
//! whole in the read buffer, which is nearly every message of a capture, is
//! lent straight from that buffer: no copy, no allocation, one search for
//! its newline. Anything else (a line that spans the end of the buffer, a
//! pretty-printed payload, a line to skip) takes the general path, which
//! copies into buffers the reader keeps and reuses.

use std::io::{self, BufRead, Read};
use std::ops::Range;

/// One unit of a capture, borrowed from the reader until the next call.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A message to flatten.
    Message {
        topic: &'a str,
        payload: &'a [u8],
        /// The capture's own time for the message (Unix nanoseconds), when
        /// its line carried one (`-F '%I %t %p'`): the caller uses the time
        /// it read the line otherwise.
        arrival_ns: Option<i64>,
    },
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
    /// Bytes at the front of `inner`'s buffer lent out by the frame last
    /// returned: consumed when the next frame is asked for.
    lent: usize,
    /// The topic and payload of a frame taken by the general path (kept to
    /// be lent, and reused).
    topic: String,
    payload: Vec<u8>,
    /// The line of the first payload-only line, once one was seen: every
    /// later one is reported with the same text, so the repeat counter
    /// turns them into one warning and a count.
    payload_only_since: Option<u64>,
    /// Bytes given to bracket counting, for the test that proves it linear.
    scanned: u64,
}

enum Line {
    Text(Vec<u8>),
    TooLong,
}

/// What the reader does with the lines that follow a payload's first line.
enum Continuation {
    /// Join them onto the payload.
    Keep,
    /// Read past them: the payload is over the limit, or has no topic.
    Discard,
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
            lent: 0,
            topic: String::new(),
            payload: Vec::new(),
            payload_only_since: None,
            scanned: 0,
        }
    }

    /// The next frame, `None` at the end of input. The frame borrows the
    /// reader: its bytes are released when the next one is asked for.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame<'_>>> {
        self.inner.consume(std::mem::take(&mut self.lent));
        if self.pending.is_none() {
            let buf = self.inner.fill_buf()?;
            if let Some(whole) = compact_message(buf, self.max_line) {
                self.line_no += 1;
                self.lent = whole.next;
                // A second look at the same buffer: `fill_buf` does not read
                // while the buffer holds bytes, and these are not consumed.
                let buf = self.inner.fill_buf()?;
                return Ok(Some(match std::str::from_utf8(&buf[whole.topic]) {
                    Ok(topic) => Frame::Message {
                        topic,
                        payload: &buf[whole.payload],
                        arrival_ns: whole.arrival_ns,
                    },
                    Err(_) => Frame::Skipped(not_utf8(self.line_no)),
                }));
            }
        }
        Ok(match self.general_frame()? {
            None => None,
            Some(Taken::Message { arrival_ns }) => Some(Frame::Message {
                topic: &self.topic,
                payload: &self.payload,
                arrival_ns,
            }),
            Some(Taken::Skipped(why)) => Some(Frame::Skipped(why)),
        })
    }

    /// Reads one line without its `\n`/`\r\n`, never buffering more than
    /// `max_line` bytes of it. `None` at end of input. A line over the
    /// limit is read past; when `depth` is given, its bytes are still
    /// counted, so a long line inside a pretty-printed payload does not
    /// lose track of where the payload ends.
    ///
    /// `read_until` searches with the standard library's `memchr`; `take` is
    /// what bounds the memory.
    fn read_line(&mut self, depth: Option<&mut JsonDepth>) -> io::Result<Option<Line>> {
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
            let mut depth = depth;
            if let Some(d) = depth.as_deref_mut() {
                self.scanned += line.len() as u64;
                d.new_line();
                d.feed(&line);
            }
            if !complete {
                self.skip_rest_of_line(depth)?;
            }
            return Ok(Some(Line::TooLong));
        }
        Ok(Some(Line::Text(line)))
    }

    /// Reads past the next `\n` without keeping anything, feeding the bytes
    /// to `depth` if given (`skip_until` needs Rust 1.83; this is the rare
    /// path).
    fn skip_rest_of_line(&mut self, mut depth: Option<&mut JsonDepth>) -> io::Result<()> {
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            let (end, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            if let Some(d) = depth.as_deref_mut() {
                d.feed(&buf[..end]);
                self.scanned += end as u64;
            }
            self.inner.consume(if done { end + 1 } else { end });
            if done {
                return Ok(());
            }
        }
    }

    /// Reads the lines after a payload's first line until its brackets
    /// balance, the input ends, or a line starts the next message (kept in
    /// `pending`). Returns whether the payload stayed within the limit.
    fn continue_payload(
        &mut self,
        payload: &mut Vec<u8>,
        depth: &mut JsonDepth,
        mut mode: Continuation,
    ) -> io::Result<bool> {
        let mut within_limit = true;
        while depth.is_open() {
            let line = self.read_line(Some(depth))?;
            match line {
                None => break,
                Some(Line::TooLong) => {
                    within_limit = false;
                    mode = Continuation::Discard;
                    payload.clear();
                }
                Some(Line::Text(next)) if starts_message(&next) => {
                    self.pending = Some(next);
                    break;
                }
                Some(Line::Text(next)) => {
                    self.scanned += next.len() as u64;
                    depth.new_line();
                    depth.feed(&next);
                    if let Continuation::Keep = mode {
                        if payload.len() + next.len() + 1 > self.max_line {
                            within_limit = false;
                            mode = Continuation::Discard;
                            // Nothing of it will be used: give the memory back.
                            *payload = Vec::new();
                        } else {
                            payload.push(b'\n');
                            payload.extend_from_slice(&next);
                        }
                    }
                }
            }
        }
        Ok(within_limit)
    }

    /// Any frame, the slow way: line by line into owned buffers, joining
    /// the lines of a pretty-printed payload. What it takes is left in
    /// `self.topic` and `self.payload`.
    fn general_frame(&mut self) -> io::Result<Option<Taken>> {
        let mut line = match self.pending.take() {
            Some(l) => l,
            None => loop {
                match self.read_line(None)? {
                    None => return Ok(None),
                    Some(Line::TooLong) => {
                        return Ok(Some(Taken::Skipped(format!(
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
        let mut arrival_ns = None;
        if let Some((arrival, rest)) = split_capture_time(&line) {
            arrival_ns = Some(arrival);
            line.drain(..rest);
        }
        if matches!(line.trim_ascii_start().first(), Some(b'{' | b'[')) {
            return self.payload_without_topic(line, line_no);
        }
        let Some(space) = line.iter().position(|&b| b == b' ') else {
            return Ok(Some(Taken::Skipped(format!(
                "line {line_no}: expected `topic payload` (mosquitto_sub -v output); skipped"
            ))));
        };
        let Ok(topic) = std::str::from_utf8(&line[..space]) else {
            return Ok(Some(Taken::Skipped(not_utf8(line_no))));
        };
        self.topic.clear();
        self.topic.push_str(topic);
        // The line's own buffer becomes the payload: no second copy.
        let mut payload = line;
        payload.drain(..=space);
        // A pretty-printed payload continues on the following lines until
        // its brackets balance. A line that ends in a closing bracket is a
        // whole payload (every compact one does; a pretty printer's first
        // line ends in an opening bracket), so only other lines pay for
        // counting brackets.
        let complete = matches!(payload.trim_ascii_end().last(), Some(b'}' | b']'));
        if !complete {
            let mut depth = JsonDepth::of_payload(&payload);
            self.scanned += payload.len() as u64;
            if !self.continue_payload(&mut payload, &mut depth, Continuation::Keep)? {
                return Ok(Some(Taken::Skipped(format!(
                    "line {line_no}: payload on {:?} longer than {} bytes (lines {line_no}-{}); skipped",
                    self.topic, self.max_line, self.line_no
                ))));
            }
        }
        self.payload = payload;
        Ok(Some(Taken::Message { arrival_ns }))
    }

    /// A line that starts with JSON: `mosquitto_sub` without `-v` prints
    /// payloads without their topics, and cadline cannot tell which device
    /// or meter they came from. Reads past the rest of a pretty-printed
    /// one, and reports every such line with the same text.
    fn payload_without_topic(&mut self, line: Vec<u8>, line_no: u64) -> io::Result<Option<Taken>> {
        let first = *self.payload_only_since.get_or_insert(line_no);
        if !matches!(line.trim_ascii_end().last(), Some(b'}' | b']')) {
            let mut depth = JsonDepth::of_payload(&line);
            self.scanned += line.len() as u64;
            let mut discarded = Vec::new();
            self.continue_payload(&mut discarded, &mut depth, Continuation::Discard)?;
        }
        Ok(Some(Taken::Skipped(format!(
            "has payloads without a topic from line {first}, as `mosquitto_sub` prints them \
             without -v; they are skipped: capture with `mosquitto_sub -v` (or -F '%I %t %p')"
        ))))
    }
}

impl<R: Read> CaptureReader<io::BufReader<R>> {
    /// Whether the next frame's first line can be had without waiting on
    /// the input: a line already read ahead, or a whole line in the read
    /// buffer. Pipe mode writes out what it has before a read that could
    /// wait, so a live `mosquitto_sub -v | cadline --stdin` never holds a
    /// line back, while a capture file is written in full buffers.
    pub fn has_line_ready(&self) -> bool {
        self.pending.is_some()
            || self
                .inner
                .buffer()
                .get(self.lent..)
                .is_some_and(|rest| memchr::memchr(b'\n', rest).is_some())
    }
}

/// What the general path took: a message (in the reader's own buffers) or
/// a reason to skip.
enum Taken {
    Message { arrival_ns: Option<i64> },
    Skipped(String),
}

/// Where the parts of a compact message are in a read buffer.
struct WholeLine {
    arrival_ns: Option<i64>,
    topic: Range<usize>,
    payload: Range<usize>,
    /// Where the next line starts: the bytes to consume.
    next: usize,
}

/// A compact `topic payload` line that is whole at the start of `buf`, with
/// nothing about it that needs the general path: not blank, not over
/// `max_line`, with a topic, and a payload that ends in a closing bracket
/// (so is not the first line of a pretty-printed one). `None` sends the
/// line to the general path, which reads it again and decides the same way
/// a line that is not whole in the buffer is decided.
fn compact_message(buf: &[u8], max_line: usize) -> Option<WholeLine> {
    let newline = memchr::memchr(b'\n', buf)?;
    let line = &buf[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > max_line || line.first().is_none_or(u8::is_ascii_whitespace) {
        return None;
    }
    let (arrival_ns, start) = match split_capture_time(line) {
        Some((arrival, rest)) => (Some(arrival), rest),
        None => (None, 0),
    };
    let rest = &line[start..];
    if matches!(rest.trim_ascii_start().first(), Some(b'{' | b'[')) {
        return None;
    }
    let space = start + memchr::memchr(b' ', rest)?;
    if !matches!(line[space + 1..].trim_ascii_end().last(), Some(b'}' | b']')) {
        return None;
    }
    Some(WholeLine {
        arrival_ns,
        topic: start..space,
        payload: space + 1..line.len(),
        next: newline + 1,
    })
}

/// Why a line whose topic is not UTF-8 is skipped, on either path.
fn not_utf8(line_no: u64) -> String {
    format!("line {line_no}: topic is not UTF-8; skipped")
}

/// The bytes `JsonDepth` acts on; every other byte is skipped by one
/// table lookup, since this scans every multi-line payload read from stdin.
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

/// How many `{`/`[` are open so far in a payload read line by line
/// (strings skipped). A running state, string and escape included, so that
/// each line is scanned once: rescanning the whole payload at every line
/// made a payload of n short lines cost n² (a 1 MB one took minutes).
#[derive(Debug, Default, Clone, Copy)]
struct JsonDepth {
    depth: i64,
    in_string: bool,
    escaped: bool,
}

impl JsonDepth {
    /// The state after a payload's first line. Only payloads that start as
    /// JSON objects or arrays can continue: anything else is closed at once.
    fn of_payload(first_line: &[u8]) -> JsonDepth {
        let mut d = JsonDepth::default();
        if matches!(first_line.trim_ascii_start().first(), Some(b'{' | b'[')) {
            d.feed(first_line);
        }
        d
    }

    fn is_open(&self) -> bool {
        self.depth > 0
    }

    /// The line ending between two lines of a payload: not a byte that a
    /// backslash before it escapes (as when the lines were one buffer).
    fn new_line(&mut self) {
        self.escaped = false;
    }

    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if !STRUCTURAL[usize::from(b)] {
                self.escaped = false;
                continue;
            }
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
        }
    }
}

/// Whether a line looks like the start of a new `topic payload` line rather
/// than the continuation of a JSON payload: a first word with a `/` in it
/// and no JSON punctuation, followed by a space (after a capture time, if
/// the line starts with one).
fn starts_message(line: &[u8]) -> bool {
    let line = match split_capture_time(line) {
        Some((_, rest)) => &line[rest..],
        None => line,
    };
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

/// The capture time at the start of a `mosquitto_sub -F '%I %t %p'` or
/// `-F '%U %t %p'` line, as Unix nanoseconds, and where the rest of the
/// line (the topic) starts. `None` when the first word is not such a time
/// or nothing follows it.
fn split_capture_time(line: &[u8]) -> Option<(i64, usize)> {
    // A topic rarely starts with a digit: most lines are decided by their
    // first byte, before any search for the space.
    if !line.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let space = memchr::memchr(b' ', line)?;
    let word = &line[..space];
    // What follows must be a topic (or, with `-F '%I %p'`, a payload):
    // a first word like `1234567890` alone (or before nothing) is not
    // taken for a time.
    let rest = &line[space + 1..];
    let next = rest.split(|&b| b == b' ').next().unwrap_or_default();
    if !next.contains(&b'/') && !matches!(rest.first(), Some(b'{' | b'[')) {
        return None;
    }
    let ns = parse_iso_8601(word).or_else(|| parse_unix_time(word))?;
    Some((ns, space + 1))
}

/// The value of ASCII digits (`None` if any byte is not one, or the value
/// does not fit). Callers pass 1 to 10 digits.
fn number(s: &[u8]) -> Option<i64> {
    s.iter().try_fold(0_i64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(i64::from(d - b'0'))
    })
}

/// `%U`: Unix seconds with a fraction, e.g. `1764577386.123456789`.
fn parse_unix_time(word: &[u8]) -> Option<i64> {
    let (secs, frac) = match word.iter().position(|&b| b == b'.') {
        Some(dot) => (&word[..dot], &word[dot + 1..]),
        None => (word, &b""[..]),
    };
    // Ten digits: 2001 to 2286, anything else is not a capture time.
    if secs.len() != 10 || frac.len() > 9 {
        return None;
    }
    let frac_ns = if frac.is_empty() {
        0
    } else {
        number(frac)? * 10_i64.pow(9 - u32::try_from(frac.len()).ok()?)
    };
    number(secs)?
        .checked_mul(1_000_000_000)?
        .checked_add(frac_ns)
}

/// An ISO 8601 time as `mosquitto_sub -F %I` prints it
/// (`2026-12-01T08:23:06+0000`), read by the same parser as a meter's
/// timestamp, with its calendar and offset rules.
fn parse_iso_8601(w: &[u8]) -> Option<i64> {
    if w.len() < 20 || w.get(10) != Some(&b'T') {
        return None;
    }
    crate::flatten::meter_time::parse_meter_timestamp(std::str::from_utf8(w).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as the test keeps it, after the reader has moved on.
    #[derive(Debug, PartialEq, Eq)]
    enum Got {
        Message { topic: String, payload: Vec<u8> },
        Skipped(String),
    }

    fn got(frame: Frame<'_>) -> (Got, Option<i64>) {
        match frame {
            Frame::Message {
                topic,
                payload,
                arrival_ns,
            } => (
                Got::Message {
                    topic: topic.to_owned(),
                    payload: payload.to_vec(),
                },
                arrival_ns,
            ),
            Frame::Skipped(why) => (Got::Skipped(why), None),
        }
    }

    fn frames_with_times<R: BufRead>(input: R, max: usize) -> Vec<(Got, Option<i64>)> {
        let mut reader = CaptureReader::new(input, max);
        let mut out = Vec::new();
        while let Some(frame) = reader.next_frame().expect("reading a slice cannot fail") {
            out.push(got(frame));
        }
        out
    }

    /// The frames of `input`, which must be the same whether lines are lent
    /// from the read buffer (the whole input is one buffer) or read by the
    /// general path (a read buffer smaller than a line).
    fn frames(input: &[u8], max: usize) -> Vec<Got> {
        let whole = frames_with_times(input, max);
        for capacity in [1, 7, 64] {
            let small = frames_with_times(io::BufReader::with_capacity(capacity, input), max);
            assert_eq!(small, whole, "read buffer of {capacity} bytes");
        }
        whole.into_iter().map(|(frame, _)| frame).collect()
    }

    fn msg(topic: &str, payload: &str) -> Got {
        Got::Message {
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
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend_from_slice(b"\nt/y {}\n");
        let out = frames(&input, 10);
        assert!(matches!(&out[0], Got::Skipped(why) if why.contains("longer than")));
        assert_eq!(out[1], msg("t/y", "{}"));
    }

    #[test]
    fn the_line_limit_is_exact_and_counts_no_line_ending() {
        // A limit of 10 bytes of payload allows lines of 10 + 1024 bytes.
        let line = |len: usize, end: &str| {
            let mut l = b"t/x ".to_vec();
            l.extend(std::iter::repeat_n(b'x', len - 4));
            l.extend_from_slice(end.as_bytes());
            l
        };
        for end in ["\n", "\r\n", ""] {
            let mut input = line(1034, end);
            input.extend_from_slice(b"\nt/y {}\n");
            let out = frames(&input, 10);
            assert!(
                matches!(&out[0], Got::Message { payload, .. } if payload.len() == 1030),
                "{end:?} {:?}",
                &out[0]
            );
            assert_eq!(out.last(), Some(&msg("t/y", "{}")));

            let mut input = line(1035, end);
            input.extend_from_slice(b"\nt/y {}\n");
            let out = frames(&input, 10);
            assert!(matches!(&out[0], Got::Skipped(why) if why.contains("longer than")));
            assert_eq!(out.last(), Some(&msg("t/y", "{}")));
        }
    }

    #[test]
    fn bracket_counting_is_linear_in_the_input() {
        // One payload of n short lines: every byte is counted once, however
        // many lines it spans (it was rescanned from the start per line).
        for n in [1_000usize, 10_000, 100_000] {
            let mut input = b"g/1/STATE {\n".to_vec();
            for i in 0..n {
                input.extend_from_slice(format!("  \"k{i}\": [1],\n").as_bytes());
            }
            input.extend_from_slice(b"  \"z\": 0\n}\n");
            let mut reader = CaptureReader::new(&input[..], 1 << 30);
            let frame = reader.next_frame().expect("no error").expect("a frame");
            assert!(
                matches!(&frame, Frame::Message { payload, .. } if payload.len() + 11 == input.len())
            );
            assert!(
                reader.scanned <= input.len() as u64,
                "{n} lines: {} bytes scanned for {} bytes of input",
                reader.scanned,
                input.len()
            );
        }
    }

    #[test]
    fn an_oversized_pretty_printed_payload_is_one_skip_naming_its_first_line() {
        let mut input = b"g/1/STATE {}\ng/1/SENSOR/electricitymeter {\n".to_vec();
        for i in 0..5000 {
            input.extend_from_slice(format!("  \"k{i}\": \"x}}]\",\n").as_bytes());
        }
        input.extend_from_slice(b"  \"z\": {\"a\": [0]}\n}\ng/2/STATE {}\n");
        let out = frames(&input, 1000);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(out[0], msg("g/1/STATE", "{}"));
        assert!(
            matches!(&out[1], Got::Skipped(why) if why.starts_with("line 2:") && why.contains("longer than") && why.contains("lines 2-5004")),
            "{:?}",
            out[1]
        );
        assert_eq!(out[2], msg("g/2/STATE", "{}"));
        // A line over the limit inside the payload: still one skip, and its
        // brackets still count.
        let mut input = b"g/1/STATE {\n  \"a\": \"".to_vec();
        input.extend(std::iter::repeat_n(b'{', 5000));
        input.extend_from_slice(b"\",\n  \"b\": [\n1]\n}\ng/2/STATE {}\n");
        let out = frames(&input, 100);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(matches!(&out[0], Got::Skipped(why) if why.starts_with("line 1:")));
        assert_eq!(out[1], msg("g/2/STATE", "{}"));
    }

    #[test]
    fn timestamped_captures_give_their_time_as_arrival() {
        // `date -u -d 2026-12-01T08:23:06Z +%s` says 1796113386.
        let input = b"2026-12-01T08:23:06+0000 g/1/STATE {\"a\": 1}\n\
            2026-12-01T09:23:07+01:00 g/2/STATE {\n  \"b\": 2\n}\n\
            1796113386.5 g/3/STATE {}\n\
            g/4/STATE {}\n";
        assert_eq!(
            frames_with_times(&input[..], 100),
            vec![
                (
                    msg("g/1/STATE", "{\"a\": 1}"),
                    Some(1_796_113_386_000_000_000)
                ),
                (
                    msg("g/2/STATE", "{\n  \"b\": 2\n}"),
                    Some(1_796_113_387_000_000_000)
                ),
                (msg("g/3/STATE", "{}"), Some(1_796_113_386_500_000_000)),
                (msg("g/4/STATE", "{}"), None),
            ]
        );
        // Not times: the first word is then a topic like any other.
        assert_eq!(split_capture_time(b"1796113386 not-a-topic {}"), None);
        for word in [
            "2026-02-30T08:23:06Z",
            "2026-12-01T24:00:00Z",
            "176457738",
            "12345678901",
        ] {
            assert_eq!(
                split_capture_time(format!("{word} g/1/STATE {{}}").as_bytes()),
                None,
                "{word}"
            );
        }
    }

    #[test]
    fn payload_only_captures_are_one_repeated_warning() {
        let input = b"{\"a\": 1}\n{\n  \"b\": {\n    \"c\": 2\n  }\n}\n{\"d\": 3}\ng/1/STATE {}\n";
        let out = frames(input, 100);
        assert_eq!(out.len(), 4, "{out:?}");
        let Got::Skipped(first) = &out[0] else {
            panic!("{out:?}")
        };
        assert!(
            first.contains("-v") && first.starts_with("has payloads without a topic from line 1,"),
            "{first}"
        );
        assert_eq!(out[1], out[0]);
        assert_eq!(out[2], out[0]);
        assert_eq!(out[3], msg("g/1/STATE", "{}"));
    }

    #[test]
    fn odd_lines() {
        let out = frames(b"no-space-here\n\xff\xfe {}\n", 100);
        assert!(matches!(&out[0], Got::Skipped(w) if w.contains("topic payload")));
        assert!(matches!(&out[1], Got::Skipped(w) if w.contains("UTF-8")));
    }

    /// The frames of `input` and how many bytes were given to bracket
    /// counting, read through a buffer of `capacity` bytes.
    fn scanned(input: &[u8], max: usize, capacity: usize) -> (Vec<Got>, u64) {
        let mut reader = CaptureReader::new(io::BufReader::with_capacity(capacity, input), max);
        let mut out = Vec::new();
        while let Some(frame) = reader.next_frame().expect("reading a slice cannot fail") {
            out.push(got(frame).0);
        }
        (out, reader.scanned)
    }

    #[test]
    fn every_byte_of_a_multi_line_payload_is_counted_once() {
        // The bytes of each payload line, without line endings, on every
        // path: a payload kept, one without a topic, and a line over the
        // limit inside a payload (read past in pieces when the buffer is
        // smaller than it).
        let kept = b"g/1/STATE {\n  \"a\": [1]\n}\n";
        let no_topic = b"{\n  \"b\": 2\n}\n";
        let mut long = b"g/2/STATE {\n  \"c\": \"".to_vec();
        long.extend(std::iter::repeat_n(b'x', 3000));
        long.extend_from_slice(b"\"\n}\n");
        for capacity in [16, 64, 8192] {
            assert_eq!(scanned(kept, 100, capacity).1, 1 + 10 + 1, "{capacity}");
            assert_eq!(scanned(no_topic, 100, capacity).1, 1 + 8 + 1, "{capacity}");
            let (out, n) = scanned(&long, 100, capacity);
            assert!(matches!(&out[..], [Got::Skipped(_)]), "{out:?}");
            assert_eq!(n, 1 + 3009 + 1, "{capacity}");
        }
    }

    #[test]
    fn lines_after_one_read_past_are_numbered_right() {
        let mut input = b"t/x ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend_from_slice(b"\nno-space-here\n");
        for capacity in [16, 8192] {
            let (out, _) = scanned(&input, 10, capacity);
            assert!(
                matches!(&out[..], [Got::Skipped(_), Got::Skipped(w)] if w.starts_with("line 2:")),
                "{capacity}: {out:?}"
            );
        }
    }

    #[test]
    fn a_long_compact_line_is_skipped_like_any_other() {
        // A limit of 10 bytes of payload allows lines of 10 + 1024 bytes;
        // these end in `}`, as compact messages do.
        let line = |len: usize| {
            let mut l = b"t/x {\"a\":\"".to_vec();
            l.extend(std::iter::repeat_n(b'x', len - 12));
            l.extend_from_slice(b"\"}\n");
            l
        };
        let exact = frames(&line(1034), 10);
        assert!(
            matches!(&exact[..], [Got::Message { payload, .. }] if payload.len() == 1030),
            "{exact:?}"
        );
        let over = frames(&line(1035), 10);
        assert!(
            matches!(&over[..], [Got::Skipped(why)] if why.contains("longer than")),
            "{over:?}"
        );
    }

    #[test]
    fn a_pretty_printed_payload_may_be_exactly_the_line_limit() {
        // `{`, one line, `}`: joined with their newlines, 1034 bytes (the
        // limit for --max-message-size 10) are kept, 1035 skipped.
        let payload = |len: usize| {
            let mut p = b"{\n\"".to_vec();
            p.extend(std::iter::repeat_n(b'x', len - 6));
            p.extend_from_slice(b"\"\n}");
            p
        };
        for (len, kept) in [(1034, true), (1035, false)] {
            let mut input = b"g/1/STATE ".to_vec();
            input.extend(payload(len));
            input.extend_from_slice(b"\ng/2/STATE {}\n");
            let out = frames(&input, 10);
            assert_eq!(out.len(), 2, "{out:?}");
            if kept {
                assert_eq!(
                    out[0],
                    msg(
                        "g/1/STATE",
                        &String::from_utf8(payload(len)).expect("utf-8")
                    )
                );
            } else {
                assert!(
                    matches!(&out[0], Got::Skipped(why) if why.contains("longer than")),
                    "{len}"
                );
            }
        }
    }

    #[test]
    fn escapes_in_strings_are_followed_across_lines() {
        // An escaped quote does not end a string; an escaped backslash
        // does not escape the quote after it; a backslash at the end of a
        // line (invalid JSON) escapes nothing on the next. Each payload is
        // followed by a line that is not a message: were the payload's end
        // missed, that line would be joined to it.
        let cases: [&[u8]; 3] = [
            b"g/1/STATE {\n  \"a\": \"say \\\"}\\\" ok\"\n}\nnot-a-message\n",
            b"g/1/STATE {\n  \"a\": \"x\\\\\",\n  \"b\": 1\n}\nnot-a-message\n",
            b"g/1/STATE {\n  \"a\": \"x\\\n\"\n}\nnot-a-message\n",
        ];
        for input in cases {
            let out = frames(input, 100);
            let text = String::from_utf8_lossy(input);
            let payload = &text["g/1/STATE ".len()..text.find("\nnot-a-message").expect("marker")];
            assert_eq!(out.len(), 2, "{text}: {out:?}");
            assert_eq!(out[0], msg("g/1/STATE", payload), "{text}");
            assert!(
                matches!(&out[1], Got::Skipped(w) if w.contains("topic payload")),
                "{text}"
            );
        }
    }

    #[test]
    fn unindented_payload_lines_are_not_taken_for_messages() {
        let input = b"g/1/STATE {\n\"a\": 1,\n\"b\": [2]\n}\ng/2/STATE {}\n";
        assert_eq!(
            frames(input, 100),
            vec![
                msg("g/1/STATE", "{\n\"a\": 1,\n\"b\": [2]\n}"),
                msg("g/2/STATE", "{}")
            ]
        );
    }

    #[test]
    fn a_line_is_ready_when_it_is_whole_in_the_buffer_or_read_ahead() {
        let input = b"a/b {}\nc/d {}\n";
        let mut reader = CaptureReader::new(io::BufReader::new(&input[..]), 100);
        assert!(reader.next_frame().expect("ok").is_some());
        assert!(reader.has_line_ready(), "c/d is whole in the buffer");
        assert!(reader.next_frame().expect("ok").is_some());
        assert!(!reader.has_line_ready(), "nothing left to read");
        // A truncated pretty-printed payload: the next message's line was
        // read ahead (the buffer itself is empty).
        let input = b"g/1/STATE {\"a\": [1,\ng/2/STATE {}\n";
        let mut reader =
            CaptureReader::new(io::BufReader::with_capacity(input.len(), &input[..]), 100);
        assert!(reader.next_frame().expect("ok").is_some());
        assert!(reader.has_line_ready(), "g/2 was read ahead");
        // A line not yet whole in the buffer is not ready.
        let input = b"a/b {}\nc/d {";
        let mut reader = CaptureReader::new(io::BufReader::new(&input[..]), 100);
        assert!(reader.next_frame().expect("ok").is_some());
        assert!(!reader.has_line_ready(), "c/d has no line end yet");
    }

    #[test]
    fn capture_times_to_the_nanosecond_with_a_utc_offset_only() {
        let time = |line: &str| split_capture_time(line.as_bytes()).map(|(ns, _)| ns);
        assert_eq!(
            time("1796113386.123456789 g/1/STATE {}"),
            Some(1_796_113_386_123_456_789)
        );
        assert_eq!(
            time("1796113386.1234567890 g/1/STATE {}"),
            None,
            "10 decimals"
        );
        assert_eq!(time("17961133a6 g/1/STATE {}"), None, "not digits");
        assert_eq!(time("1796113386.12a g/1/STATE {}"), None, "not digits");
        assert_eq!(
            time("2026-12-01T08:23:06Z g/1/STATE {}"),
            Some(1_796_113_386_000_000_000)
        );
        // mosquitto_sub's %I always has an offset: a time without one is
        // not taken for a capture time (it would be a guess at the zone).
        assert_eq!(time("2026-12-01T08:23:06 g/1/STATE {}"), None);
        assert_eq!(time("1796113386 "), None, "nothing after the time");
    }
}
