//! The flattener: `(topic, payload, arrival time)` to line protocol.
//!
//! Pure: no I/O, no clock, no globals. What cannot be written becomes a
//! [`Note`] for the caller to log, so one odd field costs one field, never
//! the message, and tests can check the notes as data.

use std::borrow::Cow;
use std::fmt;

use crate::line_protocol::{write_line, LineError, MAX_LINE_BYTES};
use crate::meter_time::{
    parse_meter_timestamp, TimestampSource, EARLIEST_REAL_NS, HOST_CLOCK_FLOOR_NS, MAX_FUTURE_NS,
};
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
    /// readings, or no trustworthy time at all. Which clock is trusted:
    ///
    /// - The host clock is sane (at or after [`HOST_CLOCK_FLOOR_NS`]): the
    ///   meter's time, unless it is missing, unreadable, a placeholder or
    ///   more than an hour ahead of arrival; then the time of arrival, with a
    ///   note. `--timestamp receive` always takes arrival.
    /// - The host clock is evidently wrong (before that floor: a Pi before
    ///   NTP has synced): the meter's time as it is, whatever the mode, since
    ///   it comes from the smart-meter network; with no usable meter time,
    ///   nothing is written rather than a reading at a wrong time.
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
        let host_sane = self.received_ns >= HOST_CLOCK_FLOOR_NS;
        if !host_sane {
            return match meter {
                Ok(t) => {
                    self.note(
                        Level::Warn,
                        format_args!("the host clock reads before 2026, evidently wrong (not synced yet?); using the meter's time"),
                    );
                    Some(t)
                }
                Err(why) => {
                    self.note(
                        Level::Warn,
                        format_args!("the host clock reads before 2026, evidently wrong (not synced yet?), and the meter's time is {why}; nothing written"),
                    );
                    None
                }
            };
        }
        if self.options.timestamp == TimestampSource::Receive {
            return Some(self.received_ns);
        }
        match meter {
            Ok(t) if t > self.received_ns.saturating_add(MAX_FUTURE_NS) => {
                self.note(
                    Level::Warn,
                    format_args!(
                        "timestamp more than an hour in the future; using the time of arrival"
                    ),
                );
                Some(self.received_ns)
            }
            Ok(t) => Some(t),
            Err(Unusable::Missing) => {
                self.note(
                    Level::Debug,
                    format_args!("no timestamp; using the time of arrival"),
                );
                Some(self.received_ns)
            }
            Err(Unusable::Unreadable(text)) => {
                self.note(
                    Level::Warn,
                    format_args!(
                        "field timestamp: {} is not a readable time; using the time of arrival",
                        excerpt(text)
                    ),
                );
                Some(self.received_ns)
            }
            Err(Unusable::Placeholder) => {
                self.note(
                    Level::Warn,
                    format_args!(
                        "placeholder timestamp on a real reading; using the time of arrival"
                    ),
                );
                Some(self.received_ns)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12 point 3: identity tags only when the value has the shape.
    #[test]
    fn identities_only_when_they_have_the_shape_of_one() {
        use Identity::{Mpan, Mprn, Supplier};
        for (identity, value, want) in [
            (Mpan, "1900012345678", Some("1900012345678")),
            (Mpan, " 19 0001 2345 678 ", Some("1900012345678")),
            (Mpan, "19-0001-2345-678", Some("1900012345678")),
            (Mpan, "Metering PointID", None),
            (Mpan, "1234", None),
            (Mpan, "19000123456789", None),
            (Mpan, "***********", None),
            (Mpan, "abcd", None),
            (Mpan, "-1900012345678", None),
            (Mpan, "１９０００１２３４５６７８", None),
            (Mprn, "7654321098", Some("7654321098")),
            (Mprn, "123456", Some("123456")),
            (Mprn, "76543 21098", Some("7654321098")),
            (Mprn, "12345", None),
            (Mprn, "12345678901", None),
            (Mprn, "read pending", None),
            (Mprn, "---", None),
            (Supplier, "Octopus Energy", Some("Octopus Energy")),
            (Supplier, " SSE ", Some("SSE")),
            (Supplier, "---", None),
            (Supplier, "", None),
            (Supplier, "12345", None),
            (Supplier, "Metering PointID", None),
            (Supplier, "not available", None),
        ] {
            assert_eq!(
                identity_value(identity, value).ok().as_deref(),
                want,
                "{identity:?} {value:?}"
            );
        }
    }

    /// Issue 16: the `--meter-tags` rule lives in `identity_tag` alone.
    #[test]
    fn identity_tags_only_with_meter_tags() {
        for meter_tags in [false, true] {
            let options = FlattenOptions {
                meter_tags,
                ..FlattenOptions::default()
            };
            let (mut out, mut notes) = (Vec::new(), Vec::new());
            let mut ctx = Context {
                topic: "glow/A/SENSOR/electricitymeter",
                kind: "electricitymeter",
                received_ns: 0,
                options: &options,
                notes: &mut notes,
                out: &mut out,
                lines: 0,
            };
            let mut r = Reading::new("electricitymeter", 0);
            let mpan = Text::Value(Cow::Borrowed("1900012345678"));
            ctx.identity_tag(&mut r, Identity::Mpan, "energy.import.mpan", &mpan);
            let supplier = Text::Value(Cow::Borrowed("ACME Power"));
            ctx.identity_tag(
                &mut r,
                Identity::Supplier,
                "energy.import.supplier",
                &supplier,
            );
            let tags: Vec<_> = r.tags.iter().map(|(k, v)| (*k, v.as_ref())).collect();
            if meter_tags {
                assert_eq!(
                    tags,
                    [("mpan", "1900012345678"), ("supplier", "ACME Power")]
                );
            } else {
                assert!(tags.is_empty(), "{tags:?}");
            }
        }
    }

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

    const NS: i64 = 1_000_000_000;
    /// 2026-03-01T12:00:00Z, a sane host clock.
    const SANE: i64 = 1_772_366_400 * NS;
    /// 1969-12-31T23:59:59Z: a Pi that booted without a real-time clock.
    const BOOTED_1969: i64 = -NS;
    /// 2024-06-01: a clock restored from a stale saved time.
    const STALE_2024: i64 = 1_717_200_000 * NS;

    /// Flattens an electricity message stamped `timestamp` (JSON text,
    /// `null` for none) that arrived at `received_ns`: its line's time, or
    /// `None` when nothing was written, and the notes.
    fn stamped(timestamp: &str, received_ns: i64, receive: bool) -> (Option<i64>, Vec<String>) {
        let flattener = Flattener::new(FlattenOptions {
            timestamp: if receive {
                TimestampSource::Receive
            } else {
                TimestampSource::Meter
            },
            ..FlattenOptions::default()
        });
        let payload = format!(
            r#"{{"electricitymeter":{{"timestamp":{timestamp},"energy":{{"import":{{"cumulative":8123.449}}}}}}}}"#
        );
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        flattener.flatten(
            "glow/0A1B2C3D4E5F/SENSOR/electricitymeter",
            payload.as_bytes(),
            received_ns,
            &mut out,
            &mut notes,
        );
        let out = String::from_utf8(out).expect("UTF-8");
        let time = out.lines().next().map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|t| t.parse().ok())
                .expect("time")
        });
        (time, notes.into_iter().map(|n| n.text).collect())
    }

    /// Issue 15 point 7: with the host clock behind, correct meter times
    /// were replaced by the wrong arrival time ("more than an hour in the
    /// future"), and with the host clock in 1969 a line at 0 was written.
    #[test]
    fn a_wrong_host_clock_keeps_the_meter_time() {
        let meter = r#""2026-03-01T11:59:50Z""#;
        let meter_ns = SANE - 10 * NS;
        for host in [BOOTED_1969, 0, STALE_2024] {
            for receive in [false, true] {
                let (time, notes) = stamped(meter, host, receive);
                assert_eq!(time, Some(meter_ns), "host {host}, receive {receive}");
                assert!(notes.iter().any(|n| n.contains("host clock")), "{notes:?}");
            }
        }
    }

    #[test]
    fn a_wrong_host_clock_and_no_meter_time_writes_nothing() {
        for meter in [
            "null",
            r#""yesterday""#,
            r#""1970-01-01T00:00:00Z""#,
            r#""2014-12-31T23:59:59Z""#,
        ] {
            for host in [BOOTED_1969, STALE_2024] {
                let (time, notes) = stamped(meter, host, false);
                assert_eq!(time, None, "{meter} at {host}");
                assert!(
                    notes.iter().any(|n| n.contains("nothing written")),
                    "{notes:?}"
                );
            }
        }
    }

    #[test]
    fn a_sane_host_clock_judges_the_meter_time() {
        // Within the hour ahead: the meter's time.
        assert_eq!(
            stamped(r#""2026-03-01T12:59:59Z""#, SANE, false).0,
            Some(SANE + 3599 * NS)
        );
        // More than an hour ahead, unreadable, or before 2015: arrival.
        for meter in [
            r#""2026-03-01T13:00:01Z""#,
            r#""2023-02-31T00:00:00Z""#,
            r#""2014-12-31T23:59:59Z""#,
            "null",
        ] {
            assert_eq!(stamped(meter, SANE, false).0, Some(SANE), "{meter}");
        }
        // 2015 and after is a real time.
        assert_eq!(
            stamped(r#""2015-01-01T00:00:00Z""#, SANE, false).0,
            Some(1_420_070_400 * NS)
        );
        // --timestamp receive: arrival.
        assert_eq!(
            stamped(r#""2026-03-01T11:59:50Z""#, SANE, true).0,
            Some(SANE)
        );
    }

    #[test]
    fn no_line_is_ever_stamped_before_2015() {
        for host in [
            i64::MIN,
            -NS,
            0,
            EARLIEST_REAL_NS - 1,
            STALE_2024,
            SANE,
            i64::MAX,
        ] {
            for meter in [
                "null",
                r#""1970-01-01T00:00:00Z""#,
                r#""2026-03-01T11:59:50Z""#,
                r#""2099-01-01T00:00:00Z""#,
            ] {
                for receive in [false, true] {
                    if let (Some(t), _) = stamped(meter, host, receive) {
                        assert!(t >= EARLIEST_REAL_NS, "{meter} at {host}: {t}");
                    }
                }
            }
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
