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
