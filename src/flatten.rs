//! The flattener: `(topic, payload, arrival time)` to line protocol.
//!
//! Pure: no I/O, no clock, no globals. What cannot be written becomes a
//! [`Note`] for the caller to log, so one odd field costs one field, never
//! the message, and tests can check the notes as data.

use std::borrow::Cow;
use std::fmt;

use crate::line_protocol::{write_line, LineError, MAX_LINE_BYTES};
use crate::meter_time::{parse_meter_timestamp, TimestampSource, EARLIEST_REAL_NS, MAX_FUTURE_NS};
use crate::reading::Reading;
use crate::tolerant::{Num, Obj, Text};
use crate::topic::{classify, Topic};
use crate::units::UnknownUnit;
use crate::{legacy_hex, meter, sensor, state};

/// How serious a note is; maps onto Telegraf's `W! `, `I! `, `D! `.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warn,
    Info,
    Debug,
}

/// Something the caller should log about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub level: Level,
    pub text: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What the user chose that changes the output.
#[derive(Debug, Clone)]
pub struct FlattenOptions {
    /// Topic prefix the CAD publishes under (`glow`, `energy`, …).
    pub prefix: String,
    /// Whose clock stamps the lines.
    pub timestamp: TimestampSource,
    /// Write MPAN/MPRN and supplier as tags (personal data, off by default).
    pub meter_tags: bool,
    /// The least severe note worth producing: notes below it are not even
    /// formatted, which matters when a normal message carries one (every
    /// current gas message has an Info note about its "volume" fields).
    pub note_level: Level,
}

impl Default for FlattenOptions {
    fn default() -> Self {
        FlattenOptions {
            prefix: "glow".to_owned(),
            timestamp: TimestampSource::Meter,
            meter_tags: false,
            note_level: Level::Debug,
        }
    }
}

/// Turns CAD messages into line protocol.
#[derive(Debug, Clone, Default)]
pub struct Flattener {
    options: FlattenOptions,
}

/// Longest excerpt of foreign text quoted in a note: Telegraf stops reading
/// stderr after a 64 KiB line, and a person reads far less.
const EXCERPT: usize = 80;

/// A short, quoted, single-line excerpt of foreign text for a note.
/// `s` itself when short (real topics are), else its first `EXCERPT` bytes
/// and `…`: a note must never carry a hostile megabyte-long topic, since
/// notes are kept for counting repeats.
fn short(s: &str) -> Cow<'_, str> {
    if s.len() <= EXCERPT {
        return Cow::Borrowed(s);
    }
    let mut end = EXCERPT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &s[..end]))
}

pub fn excerpt(s: &str) -> String {
    let mut end = s.len().min(EXCERPT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let more = if end < s.len() { "…" } else { "" };
    format!("{:?}{more}", &s[..end])
}

impl Flattener {
    /// A flattener with these options.
    pub fn new(options: FlattenOptions) -> Self {
        Flattener { options }
    }

    /// Appends zero or more lines for one message to `out` and explains in
    /// `notes` anything left out. Returns the number of lines written.
    ///
    /// `received_ns` is the arrival time (Unix ns); it stamps the lines with
    /// `--timestamp receive`, and stands in for a meter time that is missing,
    /// a placeholder or more than an hour ahead.
    pub fn flatten<'a>(
        &self,
        topic: &'a str,
        payload: &'a [u8],
        received_ns: i64,
        out: &mut Vec<u8>,
        notes: &mut Vec<Note>,
    ) -> usize {
        let Some(kind) = classify(topic, &self.options.prefix) else {
            notes.push(Note {
                level: Level::Warn,
                text: format!(
                    "Unknown topic {}: not a Glow CAD topic under prefix {:?}; skipped",
                    excerpt(topic),
                    self.options.prefix
                ),
            });
            return 0;
        };
        let mut ctx = Context {
            topic,
            kind: kind_name(kind),
            received_ns,
            options: &self.options,
            notes,
            out,
            lines: 0,
        };
        let payload = payload.trim_ascii();
        if payload.is_empty() {
            ctx.note(Level::Debug, format_args!("empty payload; skipped"));
            return 0;
        }
        if payload.first() != Some(&b'{') {
            ctx.note(
                Level::Warn,
                format_args!("payload is not a JSON object; skipped"),
            );
            return 0;
        }
        match kind {
            Topic::Electricity { device } => meter::flatten(&mut ctx, payload, device, false),
            Topic::Gas { device } => meter::flatten(&mut ctx, payload, device, true),
            Topic::State { device } => state::flatten(&mut ctx, payload, device),
            Topic::Sensor { device, sensor } => sensor::flatten(&mut ctx, payload, device, sensor),
            Topic::LegacyHex { device } => legacy_hex::flatten(&mut ctx, payload, device),
        }
        ctx.lines
    }
}

fn kind_name(kind: Topic<'_>) -> &'static str {
    match kind {
        Topic::Electricity { .. } => "electricitymeter",
        Topic::Gas { .. } => "gasmeter",
        Topic::State { .. } => "STATE",
        Topic::Sensor { .. } => "glowsensorth1",
        Topic::LegacyHex { .. } => "legacy hex",
    }
}

/// What the per-kind flatteners share: where the message came from, the
/// options, and where lines and notes go.
pub(crate) struct Context<'a> {
    pub topic: &'a str,
    pub kind: &'static str,
    pub received_ns: i64,
    pub options: &'a FlattenOptions,
    notes: &'a mut Vec<Note>,
    out: &'a mut Vec<u8>,
    lines: usize,
}

impl Context<'_> {
    /// Writes one reading as a line (nothing if no field survived).
    pub fn emit(&mut self, reading: &Reading<'_>) {
        match write_line(reading, self.out) {
            Ok(()) => self.lines += 1,
            Err(LineError::NoFields) => {}
            Err(LineError::TooLong(len)) => self.note(
                Level::Warn,
                format_args!(
                    "its {} line would be {len} bytes, over the {MAX_LINE_BYTES}-byte limit \
                     (an id or string far longer than any device sends); left out",
                    reading.measurement
                ),
            ),
        }
    }

    /// Records a note about this message, prefixed with its kind and topic.
    /// Takes `format_args!` so that a note nobody will print costs nothing.
    pub fn note(&mut self, level: Level, what: fmt::Arguments<'_>) {
        if level > self.options.note_level {
            return;
        }
        self.notes.push(Note {
            level,
            text: format!("{} payload on {}: {what}", self.kind, short(self.topic)),
        });
    }

    /// Records that the payload is not JSON we can read at all.
    pub fn invalid_json(&mut self, err: &serde_json::Error) {
        self.note(Level::Warn, format_args!("invalid JSON ({err}); skipped"));
    }

    /// A number from `path`, warning if it is the wrong type. Missing and
    /// `null` are silent: firmware leaves fields out, and null means "no
    /// reading".
    pub fn num(&mut self, path: &str, value: Num) -> Option<f64> {
        match value {
            Num::Value(v) if v.is_finite() => Some(v),
            Num::Value(_) => {
                self.note(
                    Level::Warn,
                    format_args!("field {path}: not a finite number; left out"),
                );
                None
            }
            Num::Invalid(found) => {
                self.note(
                    Level::Warn,
                    format_args!("field {path}: expected a number, found {found}; left out"),
                );
                None
            }
            Num::Missing | Num::Null => None,
        }
    }

    /// A nested object from `path`, warning if it is not an object.
    pub fn obj<'t, T>(&mut self, path: &str, value: &'t Obj<T>) -> Option<&'t T> {
        match value {
            Obj::Value(v) => Some(v),
            Obj::Invalid(found) => {
                self.note(
                    Level::Warn,
                    format_args!("field {path}: expected an object, found {found}; left out"),
                );
                None
            }
            Obj::Missing | Obj::Null => None,
        }
    }

    /// Text from `path` as a value to keep (borrowed from the payload when
    /// it had no escapes), warning if it is the wrong type.
    pub fn text_value<'p>(&mut self, path: &str, value: &Text<'p>) -> Option<Cow<'p, str>> {
        self.text(path, value)?;
        match value {
            Text::Value(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// Text from `path`, warning if it is the wrong type.
    pub fn text<'t>(&mut self, path: &str, value: &'t Text<'_>) -> Option<&'t str> {
        match value {
            Text::Value(s) => Some(s),
            Text::Invalid(found) => {
                self.note(
                    Level::Warn,
                    format_args!("field {path}: expected a string, found {found}; left out"),
                );
                None
            }
            Text::Missing | Text::Null => None,
        }
    }

    /// A number from `path` converted by `normalise` with `unit`; a unit we
    /// cannot convert drops the field with a warning.
    pub fn quantity(
        &mut self,
        path: &str,
        value: Num,
        unit: Option<&str>,
        normalise: fn(f64, Option<&str>) -> Result<f64, UnknownUnit>,
    ) -> Option<f64> {
        let raw = self.num(path, value)?;
        match normalise(raw, unit) {
            Ok(v) if v.is_finite() => Some(v),
            Ok(_) => {
                self.note(
                    Level::Warn,
                    format_args!("field {path}: out of range after unit conversion; left out"),
                );
                None
            }
            Err(e) => {
                self.note(Level::Warn, format_args!("field {path}: {e}; left out"));
                None
            }
        }
    }

    /// An integer (RSSI, LQI) from `path`: a whole number that fits `i64`.
    #[allow(clippy::cast_possible_truncation)]
    pub fn int(&mut self, path: &str, value: Num) -> Option<i64> {
        let v = self.num(path, value)?;
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            Some(v as i64)
        } else {
            self.note(
                Level::Warn,
                format_args!("field {path}: expected a whole number, found {v}; left out"),
            );
            None
        }
    }

    /// The time to stamp a reading with, from the meter's `timestamp` text.
    ///
    /// `None` means "emit nothing": the 1970 placeholder on a message with no
    /// readings. Otherwise falls back to the arrival time, with a note, when
    /// the meter's time is missing, unreadable, a placeholder or more than an
    /// hour ahead of ours.
    pub fn time(&mut self, timestamp: Option<&str>, has_readings: bool) -> Option<i64> {
        let parsed = timestamp.and_then(parse_meter_timestamp);
        if !has_readings {
            let why = match parsed {
                Some(t) if t < EARLIEST_REAL_NS => {
                    "placeholder timestamp and no readings (is a meter paired?)"
                }
                _ => "no readings",
            };
            self.note(Level::Warn, format_args!("{why}; nothing written"));
            return None;
        }
        if self.options.timestamp == TimestampSource::Receive {
            return Some(self.received_ns);
        }
        let t = match (timestamp, parsed) {
            (None, _) => {
                self.note(
                    Level::Debug,
                    format_args!("no timestamp; using the time of arrival"),
                );
                return Some(self.received_ns);
            }
            (Some(text), None) => {
                self.note(
                    Level::Warn,
                    format_args!(
                        "field timestamp: {} is not a UTC time; using the time of arrival",
                        excerpt(text)
                    ),
                );
                return Some(self.received_ns);
            }
            (Some(_), Some(t)) => t,
        };
        if t < EARLIEST_REAL_NS {
            self.note(
                Level::Warn,
                format_args!("placeholder timestamp on a real reading; using the time of arrival"),
            );
            Some(self.received_ns)
        } else if t > self.received_ns.saturating_add(MAX_FUTURE_NS) {
            self.note(
                Level::Warn,
                format_args!(
                    "timestamp more than an hour in the future; using the time of arrival"
                ),
            );
            Some(self.received_ns)
        } else {
            Some(t)
        }
    }

    /// Adds a meter-identity tag (MPAN, MPRN, supplier) when `--meter-tags`
    /// is on and the value is real rather than a placeholder.
    pub fn identity_tag<'r>(
        &mut self,
        reading: &mut Reading<'r>,
        key: &'static str,
        path: &str,
        value: &Text<'r>,
    ) {
        if !self.options.meter_tags {
            return;
        }
        if let Some(v) = self.text(path, value) {
            if !is_placeholder(v) {
                reading.tag(key, v.trim().to_owned());
            }
        }
    }
}

/// Values devices send instead of a real MPAN/MPRN/supplier.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    v.is_empty()
        || [
            "read pending",
            "empty",
            "not available",
            "n/a",
            "none",
            "null",
            "unknown",
        ]
        .iter()
        .any(|p| v.eq_ignore_ascii_case(p))
        || v.chars()
            .all(|c| matches!(c, '-' | '—' | '–' | '*' | '_' | '?' | ' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        for p in [
            "read pending",
            "---",
            "",
            "EMPTY",
            "not available",
            "—",
            "***********",
            " ",
        ] {
            assert!(is_placeholder(p), "{p:?}");
        }
        for real in ["1013000046890", "Octopus Energy", "SSE"] {
            assert!(!is_placeholder(real), "{real:?}");
        }
    }

    #[test]
    fn excerpts_are_short_single_lines() {
        let long = "x\n".repeat(1000);
        let e = excerpt(&long);
        assert!(e.len() < 200);
        assert!(!e.contains('\n'));
        assert_eq!(excerpt("é"), "\"é\"");
    }
}
