//! Baselines for pipe mode, on the same capture file that `cadline --stdin`
//! reads in `tests/bench/run.sh`:
//!
//! - `pipe_floor read < capture`: the parse-only floor reading the capture:
//!   stdin through a 64 KiB buffer, each line split at its first space and
//!   its payload parsed by serde_json into nothing (`IgnoredAny`). What any
//!   pipe mode must at least do; its wall and CPU time are the floor.
//! - `pipe_floor memory capture`: the capture loaded into memory, then the
//!   flattener alone over every message (median of 5 passes), and the
//!   parse-only floor over the same bytes: CPU per message with no I/O and
//!   no threads, to set beside `cadline --stdin`'s CPU per message.
//! - `pipe_floor flatten capture PASSES`: the flattener alone over the
//!   loaded capture PASSES times, untimed: for callgrind, which counts the
//!   instructions of PASSES=1 minus PASSES=0 (`tests/bench/instructions.sh`).

#![allow(clippy::cast_precision_loss)]

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read};
use std::time::Instant;

use cadline::{FlattenOptions, Flattener, Level, Note};
use serde::de::IgnoredAny;

/// After every timestamp the capture generator writes (2026-03-01).
const RECEIVED_NS: i64 = 1_772_409_600_000_000_000;

fn split(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = line.iter().position(|&b| b == b' ')?;
    Some((&line[..space], &line[space + 1..]))
}

fn read_floor() {
    let mut input = BufReader::with_capacity(64 * 1024, std::io::stdin().lock());
    let mut line = Vec::new();
    let (mut parsed, mut failed) = (0u64, 0u64);
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Some((_, payload)) = split(line.trim_ascii_end()) else {
            continue;
        };
        match serde_json::from_slice::<IgnoredAny>(payload) {
            Ok(_) => parsed += 1,
            Err(_) => failed += 1,
        }
    }
    eprintln!("parsed {parsed} payloads ({failed} not JSON)");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The capture's messages, loaded: (topic, payload).
fn load(path: &str) -> Vec<(String, Vec<u8>)> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    bytes
        .split(|&b| b == b'\n')
        .filter_map(split)
        .map(|(t, p)| (String::from_utf8_lossy(t).into_owned(), p.to_vec()))
        .collect()
}

/// The flattener `cadline --stdin` uses by default.
fn flattener() -> Flattener {
    Flattener::new(FlattenOptions {
        prefix: "glow".into(),
        note_level: Level::Warn,
        ..FlattenOptions::default()
    })
}

fn flatten_passes(path: &str, passes: usize) {
    let messages = load(path);
    let flattener = flattener();
    let (mut out, mut notes) = (Vec::with_capacity(64 * 1024), Vec::<Note>::new());
    for _ in 0..passes {
        for (topic, payload) in &messages {
            out.clear();
            notes.clear();
            black_box(flattener.flatten(topic, payload, RECEIVED_NS, &mut out, &mut notes));
        }
    }
}

fn memory(path: &str) {
    let messages = load(path);
    let n = messages.len() as f64;
    let flattener = flattener();
    let (mut out, mut notes) = (Vec::with_capacity(64 * 1024), Vec::<Note>::new());
    let mut flatten_ns = Vec::new();
    let mut floor_ns = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for (topic, payload) in &messages {
            out.clear();
            notes.clear();
            black_box(flattener.flatten(topic, payload, RECEIVED_NS, &mut out, &mut notes));
        }
        flatten_ns.push(t.elapsed().as_nanos() as f64 / n);
        let t = Instant::now();
        for (_, payload) in &messages {
            black_box(serde_json::from_slice::<IgnoredAny>(payload).is_ok());
        }
        floor_ns.push(t.elapsed().as_nanos() as f64 / n);
    }
    println!(
        "{} messages: flattener alone {:.0} ns/message, parse-only floor {:.0} ns/message (medians of 5, in memory)",
        messages.len(),
        median(flatten_ns),
        median(floor_ns)
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("read") => read_floor(),
        Some("memory") => memory(args.get(1).map_or("capture", String::as_str)),
        Some("flatten") => flatten_passes(
            args.get(1).map_or("capture", String::as_str),
            args.get(2).and_then(|p| p.parse().ok()).unwrap_or(1),
        ),
        _ => eprintln!(
            "usage: pipe_floor read < capture | pipe_floor memory capture | pipe_floor flatten capture PASSES"
        ),
    }
}
