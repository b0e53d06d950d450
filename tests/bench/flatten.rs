//! Flattener throughput beside its floor, measured in one run.
//!
//! `cargo bench --bench flatten` prints markdown tables: the flattener on a
//! realistic mix of CAD messages (electricity and gas every 10 s for 500
//! homes, STATE and sensor every minute, one home in ten without a gas meter
//! and so sending the null 1970 placeholder), serde_json parsing the same
//! bytes into nothing (the parse-only floor) and into a `serde_json::Value`
//! (a full DOM, for reference); the same per kind of message; and our
//! line-protocol writer beside the influxdb-line-protocol crate's builder
//! writing the same lines. Everything is single-threaded, from memory, with
//! one reused output buffer.
//!
//! Knobs (environment): `CADLINE_BENCH_MESSAGES` (default 100 000),
//! `CADLINE_BENCH_RUNS` (default 11; each figure is the median),
//! `CADLINE_BENCH_ONLY=flatten` or `=floor` (only that loop, for a profiler:
//! `perf record`, `valgrind --tool=callgrind`; `tests/bench/instructions.sh`
//! counts instructions per message of each, which noise cannot change). Machines are noisy: read the
//! ratios, which compare figures from the same run.

#![allow(clippy::cast_precision_loss)]

use std::hint::black_box;
use std::time::Instant;

use cadline::flatten::line_protocol::write_line;
use cadline::flatten::reading::{FieldValue, Reading};
use cadline::{FlattenOptions, Flattener, Level, Note};
use influxdb_line_protocol::LineProtocolBuilder;

/// 2026-03-02T00:00:00Z: after every timestamp in the mix (which spans
/// 2026-03-01), as arrival always is. (At noon, half the mix was "more than
/// an hour in the future" and the benchmark measured formatting warnings.)
const RECEIVED_NS: i64 = 1_772_409_600_000_000_000;
/// The issue's targets for the flattener on the mix.
const TARGET_MSG_PER_S: f64 = 800_000.0;
const TARGET_RATIO: f64 = 3.0;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What kind of message, for the per-kind table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Electricity,
    Gas,
    NullGas,
    State,
    Sensor,
}

const KINDS: [(Kind, &str); 5] = [
    (Kind::Electricity, "electricitymeter"),
    (Kind::Gas, "gasmeter (current firmware)"),
    (Kind::NullGas, "gasmeter, no gas meter (null, 1970)"),
    (Kind::State, "STATE"),
    (Kind::Sensor, "glowsensorth1"),
];

struct Message {
    kind: Kind,
    topic: String,
    payload: Vec<u8>,
}

/// One home's traffic: every 10 s an electricity and a gas message, every
/// minute a STATE and a sensor message; one home in ten has no gas meter
/// and sends the null placeholder instead. Shapes follow tests/cases.
fn mix(n: usize) -> Vec<Message> {
    let mut out = Vec::with_capacity(n);
    let mut push = |kind, topic: String, payload: String| {
        out.push(Message {
            kind,
            topic,
            payload: payload.into_bytes(),
        });
    };
    let mut i = 0u64;
    while i < n as u64 {
        let dev = format!("0A1B2C3D{:04X}", i % 500);
        let ts = format!(
            "2026-03-01T{:02}:{:02}:{:02}Z",
            (i / 360) % 24,
            (i / 6) % 60,
            (i * 10) % 60
        );
        push(
            Kind::Electricity,
            format!("glow/{dev}/SENSOR/electricitymeter"),
            format!(
                r#"{{"electricitymeter":{{"timestamp":"{ts}","energy":{{"export":{{"cumulative":0.000,"units":"kWh"}},"import":{{"cumulative":{}.{:03},"day":{}.{:03},"week":41.205,"month":187.554,"units":"kWh","mpan":"read pending","supplier":"---","price":{{"unitrate":0.24510,"standingcharge":0.53220}}}}}},"power":{{"value":0.{:03},"units":"kW"}}}}}}"#,
                8000 + i / 100,
                i % 1000,
                7 + i % 20,
                i % 997,
                i % 1000
            ),
        );
        if i % 10 == 9 {
            push(
                Kind::NullGas,
                format!("glow/{dev}/SENSOR/gasmeter"),
                r#"{"gasmeter":{"timestamp":"1970-01-01T00:00:00Z","energy":{"import":{"cumulative":null,"day":null,"week":null,"month":null,"units":"kWh","cumulativevol":null,"cumulativevolunits":"","dayvol":null,"weekvol":null,"monthvol":null,"dayweekmonthvolunits":"","mprn":"read pending","supplier":"---","price":{"unitrate":null,"standingcharge":null}}}}}"#.to_owned(),
            );
        } else {
            push(
                Kind::Gas,
                format!("glow/{dev}/SENSOR/gasmeter"),
                format!(
                    r#"{{"gasmeter":{{"timestamp":"{ts}","energy":{{"import":{{"cumulative":{}.{:03},"day":12.5,"week":80.25,"month":301.0,"units":"kWh","cumulativevol":{}.{:03},"cumulativevolunits":"m3","dayvol":12.5,"weekvol":80.25,"monthvol":301.0,"dayweekmonthvolunits":"kWh","mprn":"---","supplier":"---","price":{{"unitrate":0.0621,"standingcharge":0.3105}}}}}}}}}}"#,
                    20_000 + i / 50,
                    i % 1000,
                    1800 + i / 500,
                    i % 1000
                ),
            );
        }
        if i % 6 == 0 {
            push(
                Kind::State,
                format!("glow/{dev}/STATE"),
                format!(
                    r#"{{"software":"v2.1.0","timestamp":"{ts}","hardware":"GLOW-IHD-02-1v4-SMETS2","wifistamac":"{dev}","smetsversion":"SMETS2","eui":"00:11:22:33:44:55:66:77","zigbee":"1.2.5","han":{{"rssi":-{},"status":"joined","lqi":{}}}}}"#,
                    60 + i % 30,
                    40 + i % 100
                ),
            );
            push(
                Kind::Sensor,
                format!("glow/{dev}/SENSOR/glowsensorth1/00AA11BB22CC"),
                format!(
                    r#"{{"glowsensorth1":{{"00AA11BB22CC":{{"timestamp":"{ts}","temperature":{{"value":20.{},"units":"°C"}},"humidity":{{"value":52,"units":"%"}},"battery":{{"value":80,"units":"%"}},"rssi":{{"value":-77,"units":"dBm"}},"status":"connected","advname":"GlowSensorTH_0001","customname":""}}}}}}"#,
                    i % 10
                ),
            );
        }
        i += 1;
    }
    out.truncate(n);
    out
}

/// Times each of `fs` once per round, `runs` rounds, interleaved so that a
/// noisy neighbour slows all of them alike. Returns, per function, the
/// median seconds and the median of its ratio to `fs[0]` within a round.
fn interleaved(runs: usize, fs: &mut [&mut dyn FnMut()]) -> Vec<(f64, f64)> {
    let mut times = vec![Vec::new(); fs.len()];
    for _ in 0..runs.max(1) {
        for (f, t) in fs.iter_mut().zip(&mut times) {
            let start = Instant::now();
            f();
            t.push(start.elapsed().as_secs_f64());
        }
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    times
        .iter()
        .map(|t| {
            let ratios = t.iter().zip(&times[0]).map(|(a, b)| a / b).collect();
            (med(t.clone()), med(ratios))
        })
        .collect()
}

/// Flattens every message, as the writer thread does: one reused buffer,
/// cleared per message. Returns the lines written.
fn flatten_all(flattener: &Flattener, messages: &[&Message], out: &mut Vec<u8>) -> usize {
    let mut notes: Vec<Note> = Vec::new();
    let mut lines = 0;
    for m in messages {
        out.clear();
        notes.clear();
        lines += flattener.flatten(&m.topic, &m.payload, RECEIVED_NS, out, &mut notes);
        black_box(&*out);
    }
    lines
}

fn floor_all(messages: &[&Message]) {
    for m in messages {
        let _: serde::de::IgnoredAny =
            serde_json::from_slice(black_box(&m.payload)).expect("valid JSON");
    }
}

fn dom_all(messages: &[&Message]) {
    for m in messages {
        let v: serde_json::Value =
            serde_json::from_slice(black_box(&m.payload)).expect("valid JSON");
        black_box(v);
    }
}

fn main() {
    let n = knob("CADLINE_BENCH_MESSAGES", 100_000);
    let runs = knob("CADLINE_BENCH_RUNS", 11);
    let owned = mix(n);
    let messages: Vec<&Message> = owned.iter().collect();
    let bytes: usize = messages.iter().map(|m| m.payload.len()).sum();
    // As cadline runs by default (--log-level warn): notes below warnings
    // are not even formatted.
    let flattener = Flattener::new(FlattenOptions {
        note_level: Level::Warn,
        ..FlattenOptions::default()
    });
    let mut out = Vec::with_capacity(1 << 16);

    match std::env::var("CADLINE_BENCH_ONLY").as_deref() {
        Ok("flatten") => {
            let mut lines = 0;
            for _ in 0..runs {
                lines += flatten_all(&flattener, &messages, &mut out);
            }
            println!("flattened {n} messages {runs} times: {lines} lines");
            return;
        }
        Ok("floor") => {
            for _ in 0..runs {
                floor_all(&messages);
            }
            println!("parsed {n} messages {runs} times");
            return;
        }
        _ => {}
    }

    // Warm caches and the allocator once, outside the timing.
    let lines = flatten_all(&flattener, &messages, &mut out);
    let timed = interleaved(
        runs,
        &mut [
            &mut || floor_all(&messages),
            &mut || {
                black_box(flatten_all(&flattener, &messages, &mut out));
            },
            &mut || dom_all(&messages),
        ],
    );
    let [(floor, _), (flatten, ratio), (dom, dom_ratio)] = timed[..] else {
        unreachable!("three timings")
    };

    let ns = |secs: f64, count: usize| secs * 1e9 / count as f64;
    println!(
        "cadline flatten benchmark: {n} messages in memory ({:.0} bytes mean payload), \
         {lines} lines, single thread, median of {runs} interleaved runs; ratio = median \
         of the per-run ratios\n",
        bytes as f64 / n as f64
    );
    println!("| what (`cargo bench --bench flatten`) | ns/message | messages/s | MB/s | ratio to floor |");
    println!("|---|---:|---:|---:|---:|");
    let row = |what: &str, secs: f64, ratio: f64| {
        println!(
            "| {what} | {:.0} | {:.0} | {:.0} | {ratio:.2}x |",
            ns(secs, n),
            n as f64 / secs,
            bytes as f64 / secs / 1e6,
        );
    };
    row(
        "parse-only floor: `serde_json::from_slice::<IgnoredAny>`",
        floor,
        1.0,
    );
    row(
        "**cadline flattener** (parse, normalise, write line protocol)",
        flatten,
        ratio,
    );
    row(
        "reference: `serde_json::from_slice::<serde_json::Value>` (DOM)",
        dom,
        dom_ratio,
    );
    let rate = n as f64 / flatten;
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!();
    println!(
        "Targets: ≥ {TARGET_MSG_PER_S:.0} messages/s: {} ({rate:.0}); ≤ {TARGET_RATIO:.0}x the floor: {} ({ratio:.2}x).",
        verdict(rate >= TARGET_MSG_PER_S),
        verdict(ratio <= TARGET_RATIO)
    );

    // Per kind: where the mix's time goes.
    println!();
    println!("| kind | share of mix | bytes | floor ns | flattener ns | ratio | share of flattener time |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut per_kind = Vec::new();
    for (kind, name) in KINDS {
        let subset: Vec<&Message> = owned.iter().filter(|m| m.kind == kind).collect();
        if subset.is_empty() {
            continue;
        }
        let sub_bytes: usize = subset.iter().map(|m| m.payload.len()).sum();
        let timed = interleaved(
            runs,
            &mut [&mut || floor_all(&subset), &mut || {
                black_box(flatten_all(&flattener, &subset, &mut out));
            }],
        );
        let [(floor, _), (flat, ratio)] = timed[..] else {
            unreachable!("two timings")
        };
        per_kind.push((name, subset.len(), sub_bytes, floor, flat, ratio));
    }
    let total: f64 = per_kind.iter().map(|k| k.4).sum();
    for (name, count, sub_bytes, floor, flat, ratio) in per_kind {
        println!(
            "| {name} | {:.1} % | {:.0} | {:.0} | {:.0} | {ratio:.2}x | {:.1} % |",
            100.0 * count as f64 / n as f64,
            sub_bytes as f64 / count as f64,
            ns(floor, count),
            ns(flat, count),
            100.0 * flat / total
        );
    }

    // The same lines through both writers: readings built once, outside
    // the timing, from cadline's own output read back with the crate's
    // parser.
    let mut all = Vec::new();
    let mut notes = Vec::new();
    for m in &messages {
        flattener.flatten(&m.topic, &m.payload, RECEIVED_NS, &mut all, &mut notes);
    }
    let readings = readings_of(&String::from_utf8(all).expect("UTF-8"));
    let mut buf = Vec::with_capacity(out.capacity());
    let timed = interleaved(
        runs,
        &mut [
            &mut || {
                out.clear();
                for r in &readings {
                    write_line(r, &mut out).expect("fields");
                }
                black_box(&out);
            },
            &mut || {
                buf.clear();
                let mut b = LineProtocolBuilder::new_with(std::mem::take(&mut buf));
                for r in &readings {
                    b = build_line(b, r);
                }
                buf = b.build();
                black_box(&buf);
            },
        ],
    );
    assert_eq!(buf, out, "both writers must produce the same bytes");
    let out_bytes = out.len();

    let count = readings.len();
    println!();
    println!(
        "| writer, the same {count} lines ({:.0} bytes mean), readings built beforehand | ns/line | lines/s | MB/s out | ratio |",
        out_bytes as f64 / count as f64
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, (secs, ratio)) in [
        ("`cadline::flatten::line_protocol::write_line`", timed[0]),
        ("influxdb-line-protocol `LineProtocolBuilder`", timed[1]),
    ] {
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {ratio:.2}x |",
            ns(secs, count),
            count as f64 / secs,
            out_bytes as f64 / secs / 1e6,
        );
    }
}

/// One reading through the crate's builder, as its API requires: tags,
/// then a first field, then the other fields, then the timestamp.
fn build_line(
    b: LineProtocolBuilder<Vec<u8>, influxdb_line_protocol::builder::BeforeMeasurement>,
    r: &Reading<'_>,
) -> LineProtocolBuilder<Vec<u8>, influxdb_line_protocol::builder::BeforeMeasurement> {
    let mut m = b.measurement(r.measurement);
    for (k, v) in &r.tags {
        m = m.tag(k, v);
    }
    let mut fields = r.fields.iter();
    let (k0, v0) = fields.next().expect("every line has a field");
    let mut f = match v0 {
        FieldValue::Float(x) => m.field(k0, *x),
        FieldValue::Int(x) => m.field(k0, *x),
        FieldValue::Str(s) => m.field(k0, s.as_ref()),
    };
    for (k, v) in fields {
        f = match v {
            FieldValue::Float(x) => f.field(k, *x),
            FieldValue::Int(x) => f.field(k, *x),
            FieldValue::Str(s) => f.field(k, s.as_ref()),
        };
    }
    f.timestamp(r.time_ns).close_line()
}

/// Readings equal to what the flattener wrote, from its output text.
fn readings_of(text: &str) -> Vec<Reading<'static>> {
    let mut readings = Vec::new();
    for line in influxdb_line_protocol::parse_lines(text) {
        let line = line.expect("our own output parses");
        let mut r = Reading::new(
            leak(line.series.measurement.as_str()),
            line.timestamp.unwrap_or(0),
        );
        for (k, v) in line.series.tag_set.iter().flatten() {
            r.tags.push((leak(k.as_str()), v.to_string().into()));
        }
        for (k, v) in &line.field_set {
            let value = match v {
                influxdb_line_protocol::FieldValue::F64(f) => FieldValue::Float(*f),
                influxdb_line_protocol::FieldValue::I64(i) => FieldValue::Int(*i),
                influxdb_line_protocol::FieldValue::String(s) => {
                    FieldValue::Str(s.to_string().into())
                }
                other => panic!("unexpected field {other:?}"),
            };
            r.fields.push((leak(k.as_str()), value));
        }
        readings.push(r);
    }
    readings
}

/// Measurement, field and tag keys as `&'static str` for `Reading`: a few
/// strings per line, once, outside the timing.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}
