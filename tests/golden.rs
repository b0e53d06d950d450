//! Golden cases: every folder in tests/cases/ is one message and what must
//! come out of it. Adding a case is adding a folder:
//!
//! - `topic`: the MQTT topic (one line);
//! - `payload.json`: the payload bytes, as the device sends them;
//! - `expected.lp`: the exact line protocol (empty: nothing is written);
//! - `expected.warn` (optional): one substring per line that the warnings
//!   must contain; without it, the message must produce no warning;
//! - `expected.notes` (optional): one substring per line that the notes of
//!   any level (warnings, info, debug) must contain, for what is left out
//!   without a warning;
//! - `options` (optional): `prefix=…`, `meter_tags=true`, `timestamp=receive`.
//!
//! Every case is stamped as if it arrived at 2026-03-01T12:00:00Z.

use std::fs;
use std::path::{Path, PathBuf};

use cadline::flatten::meter_time::TimestampSource;
use cadline::{FlattenOptions, Flattener, Level};

/// 2026-03-01T12:00:00Z in Unix nanoseconds.
pub const RECEIVED_NS: i64 = 1_772_366_400_000_000_000;

pub fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .expect("tests/cases exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no golden cases in {}", root.display());
    dirs
}

pub fn options(dir: &Path) -> FlattenOptions {
    let mut options = FlattenOptions::default();
    let Ok(text) = fs::read_to_string(dir.join("options")) else {
        return options;
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("prefix", v)) => options.prefix = v.to_owned(),
            Some(("meter_tags", v)) => options.meter_tags = v == "true",
            Some(("timestamp", "receive")) => options.timestamp = TimestampSource::Receive,
            other => panic!("{}: unknown option line {other:?}", dir.display()),
        }
    }
    options
}

/// Flattens the case's message: (output, warning texts, all note texts).
pub fn flatten_case(dir: &Path) -> (String, Vec<String>, Vec<String>) {
    let topic = fs::read_to_string(dir.join("topic")).expect("topic file");
    let payload = fs::read(dir.join("payload.json")).expect("payload.json");
    let flattener = Flattener::new(options(dir));
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    flattener.flatten(
        topic.trim_end(),
        &payload,
        RECEIVED_NS,
        &mut out,
        &mut notes,
    );
    let warnings = notes
        .iter()
        .filter(|n| n.level == Level::Warn)
        .map(|n| n.text.clone())
        .collect();
    let all = notes.iter().map(|n| n.text.clone()).collect();
    (
        String::from_utf8(out).expect("output is UTF-8"),
        warnings,
        all,
    )
}

fn check_case(dir: &Path) -> Result<(), String> {
    let (output, warnings, notes) = flatten_case(dir);
    let expected =
        fs::read_to_string(dir.join("expected.lp")).map_err(|e| format!("expected.lp: {e}"))?;
    if output != expected {
        return Err(format!(
            "output differs\n--- expected\n{expected}--- got\n{output}--- notes\n{}",
            notes.join("\n")
        ));
    }
    for line in output.lines() {
        if let Some(Err(e)) = influxdb_line_protocol::parse_lines(line).next() {
            return Err(format!("line does not parse as line protocol: {e}\n{line}"));
        }
    }
    match fs::read_to_string(dir.join("expected.warn")) {
        Ok(wanted) => {
            for want in wanted.lines().filter(|l| !l.trim().is_empty()) {
                if !warnings.iter().any(|w| w.contains(want)) {
                    return Err(format!(
                        "no warning contains {want:?}; warnings:\n{}",
                        warnings.join("\n")
                    ));
                }
            }
        }
        Err(_) if !warnings.is_empty() => {
            return Err(format!("unexpected warnings:\n{}", warnings.join("\n")));
        }
        Err(_) => {}
    }
    if let Ok(wanted) = fs::read_to_string(dir.join("expected.notes")) {
        for want in wanted.lines().filter(|l| !l.trim().is_empty()) {
            if !notes.iter().any(|n| n.contains(want)) {
                return Err(format!(
                    "no note contains {want:?}; notes:\n{}",
                    notes.join("\n")
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn every_golden_case() {
    let mut failures = Vec::new();
    let dirs = case_dirs();
    for dir in &dirs {
        if let Err(e) = check_case(dir) {
            failures.push(format!(
                "case {}: {e}",
                dir.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed:\n\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_warning_names_the_topic_and_is_one_short_line() {
    for dir in case_dirs() {
        let topic = fs::read_to_string(dir.join("topic")).expect("topic");
        let (_, _, notes) = flatten_case(&dir);
        for note in notes {
            assert!(
                !note.contains('\n') && note.len() < 400,
                "{}: {note:?}",
                dir.display()
            );
            assert!(
                note.contains(topic.trim_end())
                    || note.contains(&format!("{:?}", topic.trim_end())),
                "{}: {note}",
                dir.display()
            );
        }
    }
}
