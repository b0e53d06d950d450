//! The failing path of JSON reading: values serde_json cannot represent.
//!
//! serde_json refuses a whole document for one value it cannot hold: a
//! number beyond f64 (`1e400`), a string with a lone surrogate (`"\ud800"`),
//! an invalid escape (`"\x"`), bytes that are not UTF-8 or a raw control
//! character. The same value as text (`"1e400"`) costs only its field, so
//! one odd value must cost no more than that (issue 21 point 2).
//!
//! Only after serde_json has refused a payload, this scanner walks its
//! JSON structure once and replaces each such value with `null` (so the
//! field reads as absent, and a duplicated key's earlier value does not
//! come back: the last one was unreadable), padded with spaces to its
//! length, so that the document stays valid JSON and serde_json's error
//! positions stay true (a three-byte string, `"\xff"`, is the one value
//! shorter than `null`). A key that cannot be read names nothing: its whole
//! member is overwritten with spaces, with one of its commas. The flattener then reads the blanked copy, and
//! says in one note per member what was left out. A payload that is not
//! JSON in its structure (truncated, a missing comma) is left to
//! serde_json's own message. Valid payloads never come here: the fast path
//! is serde_json alone.

use std::fmt;

/// Why a member was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unrepresentable {
    /// A number beyond the range of a 64-bit float, as written.
    Number(String),
    /// A string with a UTF-16 surrogate escape that has no partner.
    LoneSurrogate(String),
    /// A string with an escape JSON does not have.
    BadEscape(String),
    /// A string whose bytes are not UTF-8.
    NotUtf8,
    /// A string with a raw control character (JSON wants it escaped).
    ControlCharacter(u8),
}

impl fmt::Display for Unrepresentable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unrepresentable::Number(text) => write!(
                f,
                "{text} is beyond what a number can hold (a 64-bit float)"
            ),
            Unrepresentable::LoneSurrogate(escape) => write!(
                f,
                "a string with a lone surrogate ({escape}), which no text can hold"
            ),
            Unrepresentable::BadEscape(escape) => {
                write!(f, "a string with an invalid escape ({escape})")
            }
            Unrepresentable::NotUtf8 => f.write_str("a string that is not UTF-8"),
            Unrepresentable::ControlCharacter(c) => write!(
                f,
                "a string with a raw control character (U+{c:04X}) that JSON wants escaped"
            ),
        }
    }
}

/// One member (or element) left out, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// Keys from the top, joined by `.` (`[n]` for an array element).
    pub path: String,
    /// Whether the member's key, rather than its value, is what could not
    /// be read.
    pub in_key: bool,
    pub why: Unrepresentable,
}

/// A payload with its unrepresentable members blanked out.
#[derive(Debug)]
pub struct Blanked {
    pub payload: Vec<u8>,
    /// The first [`NAMED`] members left out, named.
    pub left_out: Vec<LeftOut>,
    /// How many more were left out.
    pub more: usize,
}

/// Most members named; the rest are counted. Naming one costs the depth
/// of its path, so a hostile payload of many values deep down costs no
/// more than a few of them.
pub const NAMED: usize = 4;

/// Longest path or number quoted in a note.
const SHOWN: usize = 80;

/// Blanks out every member of `payload` holding a value that JSON allows
/// in its structure but serde_json cannot represent. `None` when there is
/// none: the payload's fault is elsewhere, and serde_json's message for
/// it stands.
pub fn blank(payload: &[u8]) -> Option<Blanked> {
    let mut s = Scanner {
        b: payload,
        i: 0,
        out: payload.to_vec(),
        left_out: Vec::new(),
        more: 0,
        nulls: Vec::new(),
        stack: Vec::new(),
    };
    // A fault in the structure stops the scan: what was blanked before it
    // stays blanked, and serde_json names the fault.
    let _ = s.run();
    if s.left_out.is_empty() {
        None
    } else {
        let mut payload = Vec::with_capacity(s.out.len() + s.nulls.len());
        let mut from = 0;
        for (start, end) in s.nulls {
            payload.extend_from_slice(&s.out[from..start]);
            payload.extend_from_slice(b"null");
            from = end;
        }
        payload.extend_from_slice(&s.out[from..]);
        Some(Blanked {
            payload,
            left_out: s.left_out,
            more: s.more,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// An object's key, or its end (`first`: no member yet).
    KeyOrEnd {
        first: bool,
    },
    Colon,
    /// A value in an object, or an element (or the end) in an array.
    Value {
        first: bool,
    },
    CommaOrEnd,
}

/// One open object or array.
struct Frame {
    object: bool,
    expect: Expect,
    /// Where the current member (its key) or element starts.
    start: usize,
    /// The current member's key as shown in a path, or the element index.
    segment: String,
    index: usize,
    /// Why the current member or element is left out, if it is.
    bad: Option<(bool, Unrepresentable)>,
    /// Where the current value is, when it is the one left out.
    value: (usize, usize),
    /// Inside a member already left out: nothing here is noted again.
    dead: bool,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    out: Vec<u8>,
    left_out: Vec<LeftOut>,
    more: usize,
    /// Where a value shorter than `null` is: `null` replaces it.
    nulls: Vec<(usize, usize)>,
    stack: Vec<Frame>,
}

/// A fault in the JSON structure: the scan stops.
struct Structure;

impl Scanner<'_> {
    fn skip_whitespace(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn run(&mut self) -> Result<(), Structure> {
        self.skip_whitespace();
        self.value()?;
        while !self.stack.is_empty() {
            self.skip_whitespace();
            let c = *self.b.get(self.i).ok_or(Structure)?;
            let top = self.stack.last_mut().ok_or(Structure)?;
            match (top.object, top.expect, c) {
                (true, Expect::KeyOrEnd { first: true }, b'}')
                | (false, Expect::Value { first: true }, b']') => {
                    self.i += 1;
                    self.stack.pop();
                    self.value_done();
                }
                (true, Expect::KeyOrEnd { .. }, b'"') => {
                    top.start = self.i;
                    let dead = top.dead;
                    let (end, why) = scan_string(self.b, self.i)?;
                    let key = &self.b[self.i + 1..end - 1];
                    let top = self.stack.last_mut().ok_or(Structure)?;
                    top.segment = segment(key);
                    top.bad = why.filter(|_| !dead).map(|w| (true, w));
                    top.expect = Expect::Colon;
                    self.i = end;
                }
                (true, Expect::Colon, b':') => {
                    self.i += 1;
                    top.expect = Expect::Value { first: false };
                }
                (_, Expect::Value { .. }, _) => {
                    if !top.object {
                        top.start = self.i;
                        top.segment = format!("[{}]", top.index);
                        top.bad = None;
                    }
                    self.value()?;
                }
                (_, Expect::CommaOrEnd, b',') => {
                    self.finish_member(Some(self.i));
                    self.i += 1;
                    let top = self.stack.last_mut().ok_or(Structure)?;
                    top.index += 1;
                    top.expect = if top.object {
                        Expect::KeyOrEnd { first: false }
                    } else {
                        Expect::Value { first: false }
                    };
                }
                (true, Expect::CommaOrEnd, b'}') | (false, Expect::CommaOrEnd, b']') => {
                    self.finish_member(None);
                    self.i += 1;
                    self.stack.pop();
                    self.value_done();
                }
                _ => return Err(Structure),
            }
        }
        self.skip_whitespace();
        if self.i == self.b.len() {
            Ok(())
        } else {
            Err(Structure)
        }
    }

    /// Reads one value at `self.i`: a scalar whole, or the opening of an
    /// object or array (pushed).
    fn value(&mut self) -> Result<(), Structure> {
        let dead = self.stack.last().is_some_and(|f| f.dead || f.bad.is_some());
        let c = *self.b.get(self.i).ok_or(Structure)?;
        let start = self.i;
        let why = match c {
            b'{' | b'[' => {
                self.i += 1;
                self.stack.push(Frame {
                    object: c == b'{',
                    expect: if c == b'{' {
                        Expect::KeyOrEnd { first: true }
                    } else {
                        Expect::Value { first: true }
                    },
                    start: self.i,
                    segment: String::new(),
                    index: 0,
                    bad: None,
                    value: (0, 0),
                    dead,
                });
                return Ok(());
            }
            b'"' => {
                let (end, why) = scan_string(self.b, self.i)?;
                self.i = end;
                why
            }
            b'-' | b'0'..=b'9' => {
                let end = scan_number(self.b, self.i)?;
                let text = &self.b[self.i..end];
                self.i = end;
                let beyond = std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .is_some_and(f64::is_infinite);
                beyond.then(|| Unrepresentable::Number(shown(text)))
            }
            _ => {
                let rest = &self.b[self.i..];
                let word = [&b"true"[..], b"false", b"null"]
                    .into_iter()
                    .find(|w| rest.starts_with(w))
                    .ok_or(Structure)?;
                self.i += word.len();
                None
            }
        };
        if let (Some(why), Some(top)) = (why, self.stack.last_mut()) {
            if !dead {
                top.bad = Some((false, why));
                top.value = (start, self.i);
            }
        }
        self.value_done();
        Ok(())
    }

    /// The value of the innermost open member or element is complete.
    fn value_done(&mut self) {
        if let Some(top) = self.stack.last_mut() {
            top.expect = Expect::CommaOrEnd;
        }
    }

    /// The current member or element of the innermost frame ends here:
    /// before the comma at `comma`, or before its container's end. If it is
    /// left out, it is blanked with one comma: the one after it, else the
    /// one before it (none if it was alone).
    fn finish_member(&mut self, comma: Option<usize>) {
        let depth = self.stack.len();
        let Some(top) = self.stack.last_mut() else {
            return;
        };
        let Some((in_key, why)) = top.bad.take() else {
            return;
        };
        if !in_key {
            let (start, end) = top.value;
            self.out[start..end].fill(b' ');
            if end - start >= 4 {
                self.out[start..start + 4].copy_from_slice(b"null");
            } else {
                self.nulls.push((start, end));
            }
        } else {
            let start = top.start;
            self.blank_member(start, comma);
        }
        if self.left_out.len() == NAMED {
            self.more += 1;
            return;
        }
        let mut path = String::new();
        for (n, frame) in self.stack[..depth].iter().enumerate() {
            if n + 1 == depth && in_key {
                break;
            }
            if !path.is_empty() && frame.object {
                path.push('.');
            }
            path.push_str(&frame.segment);
        }
        self.left_out.push(LeftOut {
            path: cut(path),
            in_key,
            why,
        });
    }

    /// Overwrites a member from `start` to its end with spaces, with one
    /// comma: the one after it, else the one before it (none if alone).
    fn blank_member(&mut self, start: usize, comma: Option<usize>) {
        let end = comma.map_or(self.i, |c| c + 1);
        self.out[start..end].fill(b' ');
        if comma.is_none() {
            let before = self.out[..start]
                .iter()
                .rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
            if let Some(j) = before.filter(|&j| self.out[j] == b',') {
                self.out[j] = b' ';
            }
        }
    }
}

/// A string at `at` (its opening quote): where it ends (after the closing
/// quote), and what in it cannot be represented, if anything.
fn scan_string(b: &[u8], at: usize) -> Result<(usize, Option<Unrepresentable>), Structure> {
    let mut j = at + 1;
    let mut why = None;
    loop {
        let c = *b.get(j).ok_or(Structure)?;
        match c {
            b'"' => break,
            b'\\' => {
                let e = *b.get(j + 1).ok_or(Structure)?;
                match e {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                    b'u' => match hex4(b, j + 2) {
                        Some(0xD800..=0xDBFF)
                            if b.get(j + 6..j + 8) == Some(b"\\u")
                                && hex4(b, j + 8)
                                    .is_some_and(|u| (0xDC00..=0xDFFF).contains(&u)) =>
                        {
                            j += 12;
                        }
                        Some(0xD800..=0xDFFF) => {
                            why.get_or_insert_with(|| {
                                Unrepresentable::LoneSurrogate(shown(&b[j..j + 6]))
                            });
                            j += 6;
                        }
                        Some(_) => j += 6,
                        None => {
                            why.get_or_insert_with(|| {
                                Unrepresentable::BadEscape(shown(&b[j..(j + 6).min(b.len())]))
                            });
                            j += 2;
                        }
                    },
                    _ => {
                        why.get_or_insert_with(|| {
                            Unrepresentable::BadEscape(shown(&b[j..(j + 2).min(b.len())]))
                        });
                        j += 2;
                    }
                }
            }
            0x00..=0x1F => {
                why.get_or_insert(Unrepresentable::ControlCharacter(c));
                j += 1;
            }
            _ => j += 1,
        }
    }
    if why.is_none() && std::str::from_utf8(&b[at + 1..j]).is_err() {
        why = Some(Unrepresentable::NotUtf8);
    }
    Ok((j + 1, why))
}

/// Four hex digits at `at`, as a UTF-16 code unit.
fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at + 4)?;
    let text = std::str::from_utf8(digits).ok()?;
    if !text.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// A number at `at` by JSON's grammar: where it ends.
fn scan_number(b: &[u8], at: usize) -> Result<usize, Structure> {
    let digits = |mut j: usize| {
        let from = j;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        (j > from).then_some(j).ok_or(Structure)
    };
    let mut j = at;
    if b.get(j) == Some(&b'-') {
        j += 1;
    }
    j = if b.get(j) == Some(&b'0') {
        j + 1
    } else {
        digits(j)?
    };
    if b.get(j) == Some(&b'.') {
        j = digits(j + 1)?;
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        j += 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        j = digits(j)?;
    }
    Ok(j)
}

/// A key as a path segment: its text (escapes as written), control
/// characters and bytes that are not UTF-8 shown escaped.
fn segment(key: &[u8]) -> String {
    let text = String::from_utf8_lossy(&key[..key.len().min(SHOWN)]);
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if plain && !text.is_empty() {
        text.into_owned()
    } else {
        format!("{:?}", text.as_ref())
    }
}

/// Foreign bytes shown in a note as written (an escape stays `\ud800`),
/// control characters escaped, at most `SHOWN` bytes.
fn shown(bytes: &[u8]) -> String {
    let mut text = String::new();
    for c in String::from_utf8_lossy(bytes).chars() {
        if c.is_control() {
            text.extend(c.escape_debug());
        } else {
            text.push(c);
        }
    }
    cut(text)
}

/// `text` cut to at most `SHOWN` bytes at a character boundary, marked.
fn cut(mut text: String) -> String {
    if text.len() > SHOWN {
        let mut end = SHOWN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blanked(json: &[u8]) -> (String, Vec<(String, bool, String)>) {
        let b = blank(json).expect("something to blank");
        // The length is kept, but for `null` in place of a shorter value.
        assert!(
            (json.len()..=json.len() + b.left_out.len()).contains(&b.payload.len()),
            "length changed"
        );
        let v: serde_json::Value =
            serde_json::from_slice(&b.payload).expect("the blanked payload is JSON");
        (
            v.to_string(),
            b.left_out
                .into_iter()
                .map(|l| (l.path, l.in_key, l.why.to_string()))
                .collect(),
        )
    }

    #[test]
    fn each_kind_of_value_costs_its_member() {
        for (json, want, path, why) in [
            (
                &br#"{"m":{"a":1e400,"b":2}}"#[..],
                r#"{"m":{"a":null,"b":2}}"#,
                "m.a",
                "1e400 is beyond what a number can hold (a 64-bit float)",
            ),
            (
                br#"{"m":{"b":2,"a":-1E+309}}"#,
                r#"{"m":{"a":null,"b":2}}"#,
                "m.a",
                "-1E+309 is beyond",
            ),
            (
                br#"{"s":"x\ud800y","b":true}"#,
                r#"{"b":true,"s":null}"#,
                "s",
                r"a string with a lone surrogate (\ud800)",
            ),
            (
                br#"{"b":null,"s":"\udc00"}"#,
                r#"{"b":null,"s":null}"#,
                "s",
                "lone surrogate",
            ),
            (
                br#"{"s":"\x41","b":[1]}"#,
                r#"{"b":[1],"s":null}"#,
                "s",
                r"an invalid escape (\x)",
            ),
            (
                br#"{"s":"\u12G4","b":1}"#,
                r#"{"b":1,"s":null}"#,
                "s",
                "an invalid escape",
            ),
            (
                b"{\"s\":\"a\xffb\",\"b\":1}",
                r#"{"b":1,"s":null}"#,
                "s",
                "a string that is not UTF-8",
            ),
            (
                b"{\"s\":\"\xff\",\"b\":1}",
                r#"{"b":1,"s":null}"#,
                "s",
                "a string that is not UTF-8",
            ),
            (
                b"{\"s\":\"a\tb\",\"b\":1}",
                r#"{"b":1,"s":null}"#,
                "s",
                "raw control character (U+0009)",
            ),
            (
                br#"{"a":[1,1e999,2]}"#,
                r#"{"a":[1,null,2]}"#,
                "a[1]",
                "1e999",
            ),
        ] {
            let (got, left_out) = blanked(json);
            assert_eq!(got, want, "{}", String::from_utf8_lossy(json));
            assert_eq!(left_out.len(), 1, "{left_out:?}");
            assert_eq!(left_out[0].0, path);
            assert!(left_out[0].2.contains(why), "{}", left_out[0].2);
        }
    }

    /// A duplicated key whose last value cannot be read is left out: its
    /// earlier value does not come back.
    #[test]
    fn the_last_of_a_duplicated_key_still_wins() {
        let (got, _) = blanked(br#"{"s":"old","s":"\ud800"}"#);
        assert_eq!(got, r#"{"s":null}"#);
    }

    #[test]
    fn values_and_members_next_to_each_other_keep_the_json_valid() {
        for (json, want) in [
            (&br#"{"a":1e400,"b":1e400}"#[..], r#"{"a":null,"b":null}"#),
            (
                br#"{"x":1,"a":1e400,"b":1e400}"#,
                r#"{"a":null,"b":null,"x":1}"#,
            ),
            (br#"{"a":1e400}"#, r#"{"a":null}"#),
            (br#"[1e400, 1e400 ,3]"#, "[null,null,3]"),
            (
                br#"{ "a" : { "x" : 1e400 } , "b" : "\ud800" }"#,
                r#"{"a":{"x":null},"b":null}"#,
            ),
            (br#"{"x":1,"\q":2}"#, r#"{"x":1}"#),
            (br#"{"\q":2,"y":3}"#, r#"{"y":3}"#),
            (br#"{"\q":2,"\q":3}"#, "{}"),
            (br#"{"x":1,"\q":2,"\q":3}"#, r#"{"x":1}"#),
            (b"[\"\xff\",\"\t\",1]", "[null,null,1]"),
        ] {
            assert_eq!(blanked(json).0, want, "{}", String::from_utf8_lossy(json));
        }
    }

    #[test]
    fn a_bad_key_costs_its_member_once() {
        let (got, left_out) = blanked(br#"{"e":{"k\ud800":{"x":1e400},"y":1}}"#);
        assert_eq!(got, r#"{"e":{"y":1}}"#);
        assert_eq!(left_out.len(), 1, "{left_out:?}");
        assert_eq!(left_out[0].0, "e");
        assert!(left_out[0].1);
    }

    #[test]
    fn valid_json_and_broken_structure_are_left_alone() {
        for json in [
            &br#"{"a":1e308,"b":"\ud83d\ude00","c":-0.0,"d":1e-400}"#[..],
            br#"{"a":1e400"#,
            br#"{"a" 1e400}"#,
            br#"{"a":NaN}"#,
            b"",
        ] {
            assert!(blank(json).is_none(), "{}", String::from_utf8_lossy(json));
        }
        // A fault in the structure after a bad value: the value is blanked,
        // and serde_json then names the fault where it is.
        let b = blank(br#"{"a":1e400,"b":[1,}"#).expect("blanked");
        let err = serde_json::from_slice::<serde_json::Value>(&b.payload).expect_err("still bad");
        assert_eq!(err.column(), 19, "{err}");
    }
}
