//! The flattener: `(topic, payload, arrival time)` to line protocol.
//!
//! Pure: no I/O, no clock, no globals. What cannot be written becomes a
//! [`Note`] for the caller to log, so one odd field costs one field, never
//! the message, and tests can check the notes as data.

pub mod context;
pub mod legacy_hex;
pub mod line_protocol;
pub mod meter;
pub mod meter_time;
pub mod reading;
pub mod sensor;
pub mod state;
pub mod tolerant;
pub mod topic;
pub mod units;
pub mod unrepresentable;
pub mod zigbee_register;

pub use crate::flatten::meter_time::Arrival;
use crate::flatten::meter_time::TimestampSource;
use crate::flatten::topic::{classify, Topic};

pub(crate) use context::Context;
pub use context::{excerpt, identity_value, is_placeholder, Identity, Level, Note};

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

impl Flattener {
    /// A flattener with these options.
    pub fn new(options: FlattenOptions) -> Self {
        Flattener { options }
    }

    /// Appends zero or more lines for one message to `out` and explains in
    /// `notes` anything left out. Returns the number of lines written.
    ///
    /// `received_ns` is the arrival time (Unix ns) read from this host's
    /// clock; it stamps the lines with `--timestamp receive`, and stands in
    /// for a meter time that is missing, a placeholder or more than an hour
    /// ahead. For a time the user gave (a capture's), see [`Self::flatten_at`].
    pub fn flatten<'a>(
        &self,
        topic: &'a str,
        payload: &'a [u8],
        received_ns: i64,
        out: &mut Vec<u8>,
        notes: &mut Vec<Note>,
    ) -> usize {
        self.flatten_at(topic, payload, Arrival::HostClock(received_ns), out, notes)
    }

    /// [`Self::flatten`] with the arrival time and whose clock it is: a
    /// capture's recorded time is [`Arrival::Recorded`], and is never judged
    /// by the rule for a wrong host clock.
    pub fn flatten_at<'a>(
        &self,
        topic: &'a str,
        payload: &'a [u8],
        arrival: Arrival,
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
        let mut ctx = Context::new(topic, kind_name(kind), arrival, &self.options, notes, out);
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
        flatten_kind(&mut ctx, kind, payload);
        if let Some(err) = ctx.take_json_error() {
            reread(&mut ctx, kind, payload, &err);
        }
        ctx.lines()
    }
}

/// Flattens one payload of `kind`.
fn flatten_kind(ctx: &mut Context<'_>, kind: Topic<'_>, payload: &[u8]) {
    match kind {
        Topic::Electricity { device } => meter::flatten(ctx, payload, device, false),
        Topic::Gas { device } => meter::flatten(ctx, payload, device, true),
        Topic::State { device } => state::flatten(ctx, payload, device),
        Topic::Sensor { device, sensor } => sensor::flatten(ctx, payload, device, sensor),
        Topic::LegacyHex { device } => legacy_hex::flatten(ctx, payload, device),
    }
}

/// The failing path, taken only when serde_json refused the payload (the
/// fast path, valid JSON, never comes here): the members holding values
/// serde_json cannot represent are blanked out, the rest is read again,
/// and each member left out is named. A payload whose fault is anything
/// else keeps serde_json's own message and is skipped.
fn reread(ctx: &mut Context<'_>, kind: Topic<'_>, payload: &[u8], err: &serde_json::Error) {
    let Some(blanked) = unrepresentable::blank(payload) else {
        ctx.report_invalid_json(err);
        return;
    };
    flatten_kind(ctx, kind, &blanked.payload);
    if let Some(err) = ctx.take_json_error() {
        ctx.report_invalid_json(&err);
        return;
    }
    // Paths as the other notes give them: inside the meter or sensor
    // object, without its name.
    let envelope = kind_name(kind);
    for left_out in &blanked.left_out {
        let path = left_out.path.as_str();
        let path = path
            .strip_prefix(envelope)
            .and_then(|p| p.strip_prefix('.').or(p.is_empty().then_some("")))
            .unwrap_or(path);
        let why = &left_out.why;
        if left_out.in_key {
            let place = if path.is_empty() {
                "the top level"
            } else {
                path
            };
            ctx.note(
                Level::Warn,
                format_args!("a key in {place} cannot be read: {why}; its member left out"),
            );
        } else {
            ctx.note(Level::Warn, format_args!("field {path}: {why}; left out"));
        }
    }
    if blanked.more > 0 {
        ctx.note(
            Level::Warn,
            format_args!(
                "{} more values that cannot be represented; left out",
                blanked.more
            ),
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flatten::meter_time::EARLIEST_REAL_NS;
    use crate::flatten::reading::Reading;
    use crate::flatten::tolerant::Text;
    use std::borrow::Cow;

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
            let mut ctx = Context::new(
                "glow/A/SENSOR/electricitymeter",
                "electricitymeter",
                Arrival::HostClock(0),
                &options,
                &mut notes,
                &mut out,
            );
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
        stamped_at(timestamp, Arrival::HostClock(received_ns), receive)
    }

    /// `stamped`, with the arrival time and whose clock it is.
    fn stamped_at(timestamp: &str, arrival: Arrival, receive: bool) -> (Option<i64>, Vec<String>) {
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
        flattener.flatten_at(
            "glow/0A1B2C3D4E5F/SENSOR/electricitymeter",
            payload.as_bytes(),
            arrival,
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

    /// Issue 21 point 1: a capture's recorded time is the arrival time the
    /// user gave, whatever its year. It stamps the line with `--timestamp
    /// receive`, stands in for a missing meter time, and judges the meter's
    /// time as a sane host clock does; the same instant read from the host
    /// clock is judged by the host-clock rule. Only a recorded time before
    /// 2015 (no CAD existed) is refused, and the note blames the capture.
    #[test]
    fn a_capture_time_is_never_judged_by_the_host_clock_rule() {
        // 2025-06-11T20:38:00Z (`date -u -d 2025-06-11T20:38:00Z +%s`).
        let capture = 1_749_674_280 * NS;
        let meter = r#""2025-06-11T20:37:55Z""#;
        let recorded = Arrival::Recorded(capture);
        assert_eq!(stamped_at(meter, recorded, true), (Some(capture), vec![]));
        assert_eq!(
            stamped_at(meter, recorded, false),
            (Some(capture - 5 * NS), vec![])
        );
        let (time, notes) = stamped_at("null", recorded, false);
        assert_eq!(time, Some(capture), "{notes:?}");
        let (time, notes) = stamped_at(r#""2025-06-11T21:38:01Z""#, recorded, false);
        assert_eq!(time, Some(capture), "{notes:?}");
        assert!(
            notes.iter().any(|n| n.contains("more than an hour")),
            "{notes:?}"
        );

        // The same instant from the host clock: evidently wrong.
        let host = Arrival::HostClock(capture);
        assert_eq!(stamped_at(meter, host, true).0, Some(capture - 5 * NS));
        assert_eq!(stamped_at("null", host, false).0, None);

        // A recorded time before 2015.
        for before_2015 in [0, -NS, EARLIEST_REAL_NS - NS] {
            let (time, notes) = stamped_at(meter, Arrival::Recorded(before_2015), true);
            assert_eq!(time, Some(capture - 5 * NS));
            assert!(
                notes
                    .iter()
                    .any(|n| n.contains("the capture's time reads before 2015")),
                "{notes:?}"
            );
            assert_eq!(
                stamped_at("null", Arrival::Recorded(before_2015), true).0,
                None
            );
        }
        assert_eq!(
            stamped_at(meter, Arrival::Recorded(EARLIEST_REAL_NS), true).0,
            Some(EARLIEST_REAL_NS)
        );
    }

    /// The note says why the meter's time could not stand in for the host
    /// clock's: that is what a user fixes (pair the meter, update firmware).
    #[test]
    fn a_wrong_host_clock_and_no_meter_time_writes_nothing() {
        for (meter, why) in [
            ("null", "the meter's time is missing; nothing written"),
            (
                r#""yesterday""#,
                r#"the meter's time is unreadable ("yesterday"); nothing written"#,
            ),
            (
                r#""1970-01-01T00:00:00Z""#,
                "the meter's time is a placeholder; nothing written",
            ),
            (
                r#""2014-12-31T23:59:59Z""#,
                "the meter's time is a placeholder; nothing written",
            ),
        ] {
            for host in [BOOTED_1969, STALE_2024] {
                let (time, notes) = stamped(meter, host, false);
                assert_eq!(time, None, "{meter} at {host}");
                assert!(notes.iter().any(|n| n.ends_with(why)), "{notes:?}");
            }
        }
    }

    /// The notes of a message that has a timestamp but no reading: only a
    /// time before 2015 (the 1970 placeholder) is called a placeholder and
    /// points at pairing; 2015-01-01T00:00:00Z is the first real time, as
    /// it is for a message with readings.
    #[test]
    fn no_readings_is_blamed_on_pairing_only_with_a_placeholder_time() {
        let flattener = Flattener::default();
        for (timestamp, why) in [
            (
                "1970-01-01T00:00:00Z",
                "placeholder timestamp and no readings (is a meter paired?); nothing written",
            ),
            (
                "2014-12-31T23:59:59Z",
                "placeholder timestamp and no readings (is a meter paired?); nothing written",
            ),
            ("2015-01-01T00:00:00Z", "no readings; nothing written"),
            ("2026-03-01T11:59:50Z", "no readings; nothing written"),
        ] {
            let payload = format!(
                r#"{{"electricitymeter":{{"timestamp":"{timestamp}","energy":{{"import":{{"cumulative":null}}}}}}}}"#
            );
            let (mut out, mut notes) = (Vec::new(), Vec::new());
            flattener.flatten(
                "glow/0A1B2C3D4E5F/SENSOR/electricitymeter",
                payload.as_bytes(),
                SANE,
                &mut out,
                &mut notes,
            );
            assert!(out.is_empty(), "{timestamp}");
            let texts: Vec<_> = notes.iter().map(|n| n.text.as_str()).collect();
            assert_eq!(
                texts,
                [format!(
                    "electricitymeter payload on glow/0A1B2C3D4E5F/SENSOR/electricitymeter: {why}"
                )],
                "{timestamp}"
            );
        }
    }

    /// A user reads which kind of message a note is about before the topic.
    #[test]
    fn a_note_names_the_kind_of_message_and_its_topic() {
        let flattener = Flattener::default();
        for (topic, kind) in [
            (
                "glow/0A1B2C3D4E5F/SENSOR/electricitymeter",
                "electricitymeter",
            ),
            ("glow/0A1B2C3D4E5F/SENSOR/gasmeter", "gasmeter"),
            ("glow/0A1B2C3D4E5F/STATE", "STATE"),
            ("glow/0A1B2C3D4E5F/SENSOR/glowsensorth1/77", "glowsensorth1"),
            ("SMART/HILD/0A1B2C3D4E5F", "legacy hex"),
        ] {
            let (mut out, mut notes) = (Vec::new(), Vec::new());
            flattener.flatten(topic, b"[1, 2]", SANE, &mut out, &mut notes);
            let texts: Vec<_> = notes.iter().map(|n| n.text.as_str()).collect();
            assert_eq!(
                texts,
                [format!(
                    "{kind} payload on {topic}: payload is not a JSON object; skipped"
                )]
            );
        }
    }

    /// A device id far longer than any real one is cut in the note at a
    /// character boundary, at most 80 bytes of the topic then `…`: the note
    /// stays one short line, and is remembered for counting repeats.
    #[test]
    fn a_long_topic_is_cut_short_in_a_note() {
        // "glow/" and 2-byte characters: byte 80 falls inside one.
        let device = "é".repeat(60);
        let topic = format!("glow/{device}/SENSOR/electricitymeter");
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        Flattener::default().flatten(&topic, b"[]", SANE, &mut out, &mut notes);
        let texts: Vec<_> = notes.iter().map(|n| n.text.as_str()).collect();
        let shown = format!("glow/{}…", "é".repeat(37));
        assert_eq!(
            texts,
            [format!(
                "electricitymeter payload on {shown}: payload is not a JSON object; skipped"
            )]
        );
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
        // Cut at 80 bytes, back to a character boundary, and marked as cut.
        let cut = format!("{}é and more", "a".repeat(79));
        assert_eq!(excerpt(&cut), format!("{:?}…", "a".repeat(79)));
        let whole = "a".repeat(80);
        assert_eq!(excerpt(&whole), format!("{whole:?}"));
    }
}
