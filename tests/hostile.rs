//! Hostile ids and strings, flattened and written into a real InfluxDB:
//! every line cadline writes is accepted, whatever the input held, and what
//! cannot be written is named in a note instead.

use cadline::flatten::line_protocol::MAX_LINE_BYTES;
use cadline::flatten::{Flattener, Note};

use crate::rig::Influx;

/// Text that has broken line protocol writers: every C0 control, DEL, C1
/// controls, quotes, backslashes, separators, non-ASCII, and sizes from one
/// byte to far past InfluxDB's 64 KiB key limit.
fn hostile_texts() -> Vec<String> {
    let mut texts: Vec<String> = vec![
        "a,b=c d".into(),
        "\"quoted\" \\back\\slash\\".into(),
        "\\".into(),
        "ends with backslash\\".into(),
        "é😀\u{a0}£".into(),
        "nel\u{85}csi\u{9b}end".into(),
        "line\nbreak\r\nand\ttab".into(),
        "time".into(),
        "=".into(),
        ",".into(),
        " leading and trailing ".into(),
    ];
    texts.push((0u8..0x20).chain([0x7f]).map(char::from).collect());
    texts.push(('\u{80}'..='\u{9f}').collect());
    for len in [255, 1000, 4000, 5000, 65_536, 70_000] {
        texts.push("d".repeat(len));
        texts.push("\u{85},= \"\\".repeat(len / 6));
    }
    texts
}

/// Topic-safe versions (MQTT topics cannot hold `+`, `#` or `/` in a level,
/// and the broker refuses NUL), so ids exercise the writer, not the router.
fn as_id(text: &str) -> String {
    text.chars()
        .map(|c| {
            if matches!(c, '/' | '+' | '#' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// (topic, payload, whether a line must come of it).
fn messages() -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for text in hostile_texts() {
        // A STATE string well within the line limit is always written
        // (escaped or cleaned); ids may be refused as ids.
        let short = text.len() < 1000;
        let json = serde_json::to_string(&text).expect("a JSON string");
        let id = as_id(&text);
        out.push((
            format!("glow/{id}/SENSOR/electricitymeter"),
            r#"{"electricitymeter":{"timestamp":"2026-03-01T12:00:00Z","energy":{"import":{"cumulative":1.5,"units":"kWh"}}}}"#.to_owned(),
            false,
        ));
        out.push((
            "glow/DEV1/STATE".to_owned(),
            format!(
                r#"{{"software":{json},"hardware":{json},"timestamp":"2026-03-01T12:00:00Z"}}"#
            ),
            short,
        ));
        out.push((
            format!("glow/DEV1/SENSOR/glowsensorth1/{id}"),
            format!(r#"{{"temperature":20.5,"status":{json},"timestamp":"2026-03-01T12:00:00Z"}}"#),
            false,
        ));
    }
    out
}

#[test]
fn every_line_from_hostile_ids_and_strings_is_accepted_by_influxdb() {
    let influx = Influx::start();
    influx.create_db("hostile");
    let flattener = Flattener::default();
    let (mut written, mut left_out) = (0, 0);
    for (topic, payload, must_write) in messages() {
        let (mut out, mut notes) = (Vec::new(), Vec::<Note>::new());
        let n = flattener.flatten(
            &topic,
            payload.as_bytes(),
            1_772_366_400_000_000_000,
            &mut out,
            &mut notes,
        );
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text.lines().count(), n);
        for line in text.lines() {
            assert!(line.len() < MAX_LINE_BYTES, "{} bytes", line.len());
            assert!(
                !line.chars().any(char::is_control),
                "control character in {line:?}"
            );
            // One line per request: a refusal names exactly this line.
            if let Err(e) = influx.write("hostile", line) {
                panic!("InfluxDB refused {:?}…: {e}", &line[..line.len().min(200)]);
            }
            written += 1;
        }
        assert!(
            n > 0 || !must_write,
            "nothing written for {payload:.200}: {notes:?}"
        );
        if n == 0 {
            // Nothing written: a note says why, and it is short.
            assert!(
                !notes.is_empty(),
                "{topic:.80}: nothing written and no note"
            );
            assert!(notes.iter().all(|n| n.text.len() < 2000), "a long note");
            left_out += 1;
        }
    }
    // The 65 536- and 70 000-byte texts cannot be written at all.
    assert!(
        written > 0 && left_out >= 4,
        "{written} written, {left_out} left out"
    );
}

/// Any text at all, of any length up to past the line limit: C0, DEL and
/// C1 controls, separators, quotes, backslashes and non-ASCII favoured.
fn any_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let atom = prop_oneof![
        4 => r"[a-zA-Z0-9]{1,8}",
        2 => r"[ ,=\x22\\]",
        2 => r"[\x00-\x1f\x7f]",
        2 => r"[\u{80}-\u{9f}]",
        1 => r"[é£\u{a0}😀\u{2028}]",
    ];
    prop_oneof![
        8 => proptest::collection::vec(atom, 0..40).prop_map(|v| v.concat()),
        1 => (1usize..6000).prop_map(|n| "x".repeat(n)),
        1 => (1usize..1200).prop_map(|n| "\u{85}\\,\"".repeat(n)),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    /// The fuzz property behind the test above: whatever text stands in a
    /// device id, a sensor id or a STATE string, every line is within the
    /// limit, carries no control character and parses; a message that
    /// gives no line says why. The lines are kept for the InfluxDB check.
    #[test]
    fn any_text_as_ids_and_strings_gives_valid_lines_or_a_note(id in any_text(), text in any_text()) {
        let json = serde_json::to_string(&text).expect("a JSON string");
        let id = as_id(&id);
        let flattener = Flattener::default();
        for (topic, payload) in [
            (format!("glow/{id}/STATE"), format!(r#"{{"software":{json},"timestamp":"2026-03-01T12:00:00Z"}}"#)),
            (format!("glow/DEV1/SENSOR/glowsensorth1/{id}"), format!(r#"{{"temperature":20.5,"status":{json},"timestamp":"2026-03-01T12:00:00Z"}}"#)),
        ] {
            let (mut out, mut notes) = (Vec::new(), Vec::<Note>::new());
            let n = flattener.flatten(&topic, payload.as_bytes(), 1_772_366_400_000_000_000, &mut out, &mut notes);
            let written = String::from_utf8(out).expect("utf-8");
            proptest::prop_assert_eq!(written.lines().count(), n);
            proptest::prop_assert!(n > 0 || !notes.is_empty(), "nothing and no note for {:.100}", topic);
            for line in written.lines() {
                proptest::prop_assert!(line.len() < MAX_LINE_BYTES);
                proptest::prop_assert!(!line.chars().any(char::is_control), "{:?}", line);
                let parsed: Vec<_> = influxdb_line_protocol::parse_lines(line).collect();
                proptest::prop_assert!(parsed.len() == 1 && parsed[0].is_ok(), "{:?}: {:?}", line, parsed);
                FUZZED.lock().expect("lock").push(line.to_owned());
            }
        }
    }
}

/// Lines the property produced, written into a real InfluxDB below.
static FUZZED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

#[test]
fn lines_from_random_hostile_text_are_accepted_by_influxdb() {
    // Its own run of the property's generator, so this test does not
    // depend on the order tests run in.
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let flattener = Flattener::default();
    let mut lines = Vec::new();
    for _ in 0..300 {
        let (id, text) = (
            any_text().new_tree(&mut runner).expect("tree").current(),
            any_text().new_tree(&mut runner).expect("tree").current(),
        );
        let json = serde_json::to_string(&text).expect("a JSON string");
        // The text in a STATE string (always written when it fits) and
        // the id as a TH sensor's id (refused as an id when it is not one).
        for (topic, payload) in [
            (
                "glow/DEV1/STATE".to_owned(),
                format!(r#"{{"software":{json},"timestamp":"2026-03-01T12:00:00Z"}}"#),
            ),
            (
                format!("glow/DEV1/SENSOR/glowsensorth1/{}", as_id(&id)),
                r#"{"temperature":20.5,"timestamp":"2026-03-01T12:00:00Z"}"#.to_owned(),
            ),
        ] {
            let (mut out, mut notes) = (Vec::new(), Vec::<Note>::new());
            flattener.flatten(
                &topic,
                payload.as_bytes(),
                1_772_366_400_000_000_000,
                &mut out,
                &mut notes,
            );
            lines.extend(
                String::from_utf8(out)
                    .expect("utf-8")
                    .lines()
                    .map(str::to_owned),
            );
        }
    }
    lines.extend(FUZZED.lock().expect("lock").drain(..));
    assert!(lines.len() > 100, "{} lines", lines.len());
    let influx = Influx::start();
    influx.create_db("random");
    for chunk in lines.chunks(200) {
        if let Err(e) = influx.write("random", &chunk.join("\n")) {
            panic!("InfluxDB refused a batch: {e}");
        }
    }
}
