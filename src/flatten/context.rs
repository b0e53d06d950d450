//! What the per-kind flatteners share, so that none of them imports the
//! flattener that calls it: the message's `Context` (where it came from, the
//! options, where lines and notes go), the `Note`s that explain what was
//! left out, excerpts of foreign text, and the rules for identities and
//! placeholders.

use std::borrow::Cow;
use std::fmt;

use crate::flatten::line_protocol::{write_line, LineError, MAX_LINE_BYTES};
use crate::flatten::meter_time::{
    parse_meter_timestamp, Arrival, TimestampSource, EARLIEST_REAL_NS, MAX_FUTURE_NS,
};
use crate::flatten::reading::Reading;
use crate::flatten::tolerant::{Num, Obj, Text};
use crate::flatten::units::UnknownUnit;
use crate::flatten::zigbee_register::{NotAReading, Register};
use crate::flatten::FlattenOptions;

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

/// What the per-kind flatteners share: where the message came from, the
/// options, and where lines and notes go.
pub(crate) struct Context<'a> {
    pub topic: &'a str,
    pub kind: &'static str,
    /// When the message arrived, and whose clock says so.
    pub arrival: Arrival,
    pub options: &'a FlattenOptions,
    notes: &'a mut Vec<Note>,
    out: &'a mut Vec<u8>,
    lines: usize,
    /// serde_json's refusal of the payload, for the flattener's failing
    /// path (`unrepresentable`).
    json_error: Option<serde_json::Error>,
}

impl<'a> Context<'a> {
    /// A context for one message of `kind`, writing to `out` and `notes`.
    pub(crate) fn new(
        topic: &'a str,
        kind: &'static str,
        arrival: Arrival,
        options: &'a FlattenOptions,
        notes: &'a mut Vec<Note>,
        out: &'a mut Vec<u8>,
    ) -> Self {
        Context {
            topic,
            kind,
            arrival,
            options,
            notes,
            out,
            lines: 0,
            json_error: None,
        }
    }

    /// Lines written so far for this message.
    pub(crate) fn lines(&self) -> usize {
        self.lines
    }
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

    /// Records that serde_json refused the payload. The flattener then
    /// reads it again without the values serde_json cannot represent, and
    /// only if that fails too is the message skipped
    /// ([`Self::report_invalid_json`]).
    pub fn invalid_json(&mut self, err: serde_json::Error) {
        self.json_error = Some(err);
    }

    /// serde_json's refusal of the payload, if the last read was refused.
    pub(crate) fn take_json_error(&mut self) -> Option<serde_json::Error> {
        self.json_error.take()
    }

    /// Says that the payload is not JSON we can read at all.
    pub(crate) fn report_invalid_json(&mut self, err: &serde_json::Error) {
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
        self.convert(path, raw, unit, normalise)
    }

    /// `quantity` for a meter register (see `zigbee_register`): Zigbee's
    /// invalid value for the register's width, as the CAD scaled it, is
    /// left out with a warning, whatever the unit.
    pub fn register(
        &mut self,
        path: &str,
        value: Num,
        unit: Option<&str>,
        normalise: fn(f64, Option<&str>) -> Result<f64, UnknownUnit>,
        register: Register,
    ) -> Option<f64> {
        let raw = self.num(path, value)?;
        if register.is_invalid_scaled(raw) {
            self.note(
                Level::Warn,
                format_args!(
                    "field {path}: {raw} is {}; left out",
                    NotAReading::Invalid(register)
                ),
            );
            return None;
        }
        self.convert(path, raw, unit, normalise)
    }

    /// `raw` from `path` converted by `normalise` with `unit`.
    fn convert(
        &mut self,
        path: &str,
        raw: f64,
        unit: Option<&str>,
        normalise: fn(f64, Option<&str>) -> Result<f64, UnknownUnit>,
    ) -> Option<f64> {
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
    /// readings, or no trustworthy time at all. Which clock is trusted:
    ///
    /// - The arrival time is trusted (see [`Arrival::distrusted`]: a host
    ///   clock at or after 2026, or any capture time from 2015 on): the
    ///   meter's time, unless it is missing, unreadable, a placeholder or
    ///   more than an hour ahead of arrival; then the time of arrival, with a
    ///   note. `--timestamp receive` always takes arrival.
    /// - The arrival time is evidently wrong (a Pi before NTP has synced):
    ///   the meter's time as it is, whatever the mode, since it comes from
    ///   the smart-meter network; with no usable meter time, nothing is
    ///   written rather than a reading at a wrong time.
    ///
    /// So no line is ever stamped before [`EARLIEST_REAL_NS`] (2015).
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
        let meter = match (timestamp, parsed) {
            (_, Some(t)) if t >= EARLIEST_REAL_NS => Ok(t),
            (None, _) => Err(Unusable::Missing),
            (Some(text), None) => Err(Unusable::Unreadable(text)),
            (Some(_), Some(_)) => Err(Unusable::Placeholder),
        };
        if let Some(wrong) = self.arrival.distrusted() {
            return match meter {
                Ok(t) => {
                    self.note(Level::Warn, format_args!("{wrong}; using the meter's time"));
                    Some(t)
                }
                Err(why) => {
                    self.note(
                        Level::Warn,
                        format_args!("{wrong}, and the meter's time is {why}; nothing written"),
                    );
                    None
                }
            };
        }
        let received_ns = self.arrival.ns();
        if self.options.timestamp == TimestampSource::Receive {
            return Some(received_ns);
        }
        match meter {
            Ok(t) if t > received_ns.saturating_add(MAX_FUTURE_NS) => {
                self.note(
                    Level::Warn,
                    format_args!(
                        "timestamp more than an hour in the future; using the time of arrival"
                    ),
                );
                Some(received_ns)
            }
            Ok(t) => Some(t),
            Err(Unusable::Missing) => {
                self.note(
                    Level::Debug,
                    format_args!("no timestamp; using the time of arrival"),
                );
                Some(received_ns)
            }
            Err(Unusable::Unreadable(text)) => {
                self.note(
                    Level::Warn,
                    format_args!(
                        "field timestamp: {} is not a readable time; using the time of arrival",
                        excerpt(text)
                    ),
                );
                Some(received_ns)
            }
            Err(Unusable::Placeholder) => {
                self.note(
                    Level::Warn,
                    format_args!(
                        "placeholder timestamp on a real reading; using the time of arrival"
                    ),
                );
                Some(received_ns)
            }
        }
    }

    /// Adds a meter-identity tag (MPAN, MPRN, supplier) when `--meter-tags`
    /// is on and the value has the shape of one (see [`identity_value`]);
    /// anything else is left out with a debug note that does not quote it.
    ///
    /// The one place that owns the `--meter-tags` rule: every payload kind
    /// (local meters, the hex feed) writes identity tags only through here.
    pub fn identity_tag<'r>(
        &mut self,
        reading: &mut Reading<'r>,
        identity: Identity,
        path: &str,
        value: &Text<'r>,
    ) {
        if !self.options.meter_tags {
            return;
        }
        let Some(v) = self.text(path, value) else {
            return;
        };
        match identity_value(identity, v) {
            Ok(tag) => reading.tag(identity.key(), tag),
            Err(why) => self.note(Level::Debug, format_args!("field {path}: {why}; left out")),
        }
    }
}

/// The meter identities cadline can tag a line with (`--meter-tags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// Electricity meter point: the 13-digit MPAN core.
    Mpan,
    /// Gas meter point: the MPRN, 6 to 10 digits.
    Mprn,
    /// The energy supplier's name.
    Supplier,
}

impl Identity {
    /// The tag key.
    pub fn key(self) -> &'static str {
        match self {
            Identity::Mpan => "mpan",
            Identity::Mprn => "mprn",
            Identity::Supplier => "supplier",
        }
    }
}

/// The tag value for an identity, or why `value` is not one.
///
/// Devices send placeholders where they have no identity (`read pending`,
/// `---`, `Metering PointID`, `***********`, a 4-digit test value…), and no
/// list of them is ever complete; so an MPAN or MPRN is written only when it
/// has the shape of one: 13 digits (MPAN core) or 6 to 10 digits (MPRN),
/// with the spaces and hyphens printed bills and some devices put between
/// groups, and is written as its digits alone so one meter is one tag
/// value. A supplier is written when it is a name: it has a letter and is
/// not a known placeholder.
pub fn identity_value(identity: Identity, value: &str) -> Result<String, &'static str> {
    let v = value.trim();
    match identity {
        Identity::Mpan | Identity::Mprn => {
            let (lengths, why) = if identity == Identity::Mpan {
                (13..=13, "not an MPAN core (13 digits)")
            } else {
                (6..=10, "not an MPRN (6 to 10 digits)")
            };
            if !v
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b' ' || b == b'-')
                || v.starts_with('-')
                || v.ends_with('-')
            {
                return Err(why);
            }
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            if lengths.contains(&digits.len()) {
                Ok(digits)
            } else {
                Err(why)
            }
        }
        Identity::Supplier => {
            if is_placeholder(v) || !v.chars().any(char::is_alphabetic) {
                Err("a placeholder, not a supplier's name")
            } else {
                Ok(v.to_owned())
            }
        }
    }
}

/// Why a meter timestamp cannot stamp a reading.
enum Unusable<'t> {
    Missing,
    Unreadable(&'t str),
    /// Before 2015: the 1970 placeholder, or a clock the meter never set.
    Placeholder,
}

impl fmt::Display for Unusable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::Missing => f.write_str("missing"),
            Unusable::Unreadable(text) => write!(f, "unreadable ({})", excerpt(text)),
            Unusable::Placeholder => f.write_str("a placeholder"),
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
            "pending",
            "metering pointid",
            "metering point id",
            "supplier",
            "redacted",
            "test",
        ]
        .iter()
        .any(|p| v.eq_ignore_ascii_case(p))
        || v.chars()
            .all(|c| matches!(c, '-' | '—' | '–' | '*' | '_' | '?' | ' '))
}
