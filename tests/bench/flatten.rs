//! Flattener throughput beside its floor, measured in one run.
//!
//! `cargo bench --bench flatten` prints a markdown table: the flattener on a
//! realistic mix of CAD messages (mostly electricity and gas, some STATE and
//! sensor messages, some null gas messages), serde_json parsing the same
//! bytes into nothing (the parse-only floor), and our line-protocol writer
//! beside the influxdb-line-protocol crate's builder writing the same lines.
//! Each figure is the median of `CADLINE_BENCH_RUNS` (default 9) runs over
//! `CADLINE_BENCH_MESSAGES` (default 200 000) messages. Machines are noisy:
//! read the ratios.

#![allow(clippy::cast_precision_loss)]

use std::hint::black_box;
use std::time::Instant;

use cadline::line_protocol::write_line;
use cadline::reading::{FieldValue, Reading};
use cadline::{FlattenOptions, Flattener, Level};
use influxdb_line_protocol::LineProtocolBuilder;

const RECEIVED_NS: i64 = 1_772_366_400_000_000_000;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One home's traffic: every 10 s an electricity and a gas message, every
/// minute a STATE and a sensor message; one home in ten has no gas meter
/// and sends the null placeholder instead.
fn mix(n: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0u64;
    while out.len() < n {
        let dev = format!("0A1B2C3D{:04X}", i % 500);
        let ts = format!(
            "2026-03-01T{:02}:{:02}:{:02}Z",
            (i / 360) % 24,
            (i / 6) % 60,
            (i * 10) % 60
        );
        out.push((
            format!("glow/{dev}/SENSOR/electricitymeter"),
            format!(
                r#"{{"electricitymeter":{{"timestamp":"{ts}","energy":{{"export":{{"cumulative":0.000,"units":"kWh"}},"import":{{"cumulative":{}.{:03},"day":{}.{:03},"week":41.205,"month":187.554,"units":"kWh","mpan":"read pending","supplier":"---","price":{{"unitrate":0.24510,"standingcharge":0.53220}}}}}},"power":{{"value":0.{:03},"units":"kW"}}}}}}"#,
                8000 + i / 100,
                i % 1000,
                7 + i % 20,
                i % 997,
                i % 1000
            )
            .into_bytes(),
        ));
        let gas = if i % 10 == 9 {
            r#"{"gasmeter":{"timestamp":"1970-01-01T00:00:00Z","energy":{"import":{"cumulative":null,"day":null,"week":null,"month":null,"units":"kWh","cumulativevol":null,"cumulativevolunits":"","dayvol":null,"weekvol":null,"monthvol":null,"dayweekmonthvolunits":"","mprn":"read pending","supplier":"---","price":{"unitrate":null,"standingcharge":null}}}}}"#.to_owned()
        } else {
            format!(
                r#"{{"gasmeter":{{"timestamp":"{ts}","energy":{{"import":{{"cumulative":{}.{:03},"day":12.5,"week":80.25,"month":301.0,"units":"kWh","cumulativevol":{}.{:03},"cumulativevolunits":"m3","dayvol":12.5,"weekvol":80.25,"monthvol":301.0,"dayweekmonthvolunits":"kWh","mprn":"---","supplier":"---","price":{{"unitrate":0.0621,"standingcharge":0.3105}}}}}}}}}}"#,
                20_000 + i / 50,
                i % 1000,
                1800 + i / 500,
                i % 1000
            )
        };
        out.push((format!("glow/{dev}/SENSOR/gasmeter"), gas.into_bytes()));
        if i % 6 == 0 {
            out.push((
                format!("glow/{dev}/STATE"),
                format!(r#"{{"software":"v2.1.0","timestamp":"{ts}","hardware":"GLOW-IHD-02-1v4-SMETS2","wifistamac":"{dev}","smetsversion":"SMETS2","eui":"00:11:22:33:44:55:66:77","zigbee":"1.2.5","han":{{"rssi":-{},"status":"joined","lqi":{}}}}}"#, 60 + i % 30, 40 + i % 100).into_bytes(),
            ));
            out.push((
                format!("glow/{dev}/SENSOR/glowsensorth1/00AA11BB22CC"),
                format!(r#"{{"glowsensorth1":{{"00AA11BB22CC":{{"timestamp":"{ts}","temperature":{{"value":20.{},"units":"°C"}},"humidity":{{"value":52,"units":"%"}},"battery":{{"value":80,"units":"%"}},"rssi":{{"value":-77,"units":"dBm"}},"status":"connected","advname":"GlowSensorTH_0001","customname":""}}}}}}"#, i % 10).into_bytes(),
            ));
        }
        i += 1;
    }
    out.truncate(n);
    out
}

/// Median seconds of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let n = knob("CADLINE_BENCH_MESSAGES", 200_000);
    let runs = knob("CADLINE_BENCH_RUNS", 9);
    let messages = mix(n);
    let bytes: usize = messages.iter().map(|(_, p)| p.len()).sum();
    // As cadline runs by default: notes below warnings are not even made.
    let flattener = Flattener::new(FlattenOptions {
        note_level: Level::Warn,
        ..FlattenOptions::default()
    });

    let mut out = Vec::with_capacity(1 << 16);
    let mut notes = Vec::new();
    let mut lines = 0;
    let flatten = median(runs, || {
        lines = 0;
        for (topic, payload) in &messages {
            out.clear();
            notes.clear();
            lines += flattener.flatten(topic, payload, RECEIVED_NS, &mut out, &mut notes);
            black_box(&out);
        }
    });
    let floor = median(runs, || {
        for (_, payload) in &messages {
            let _: serde::de::IgnoredAny =
                serde_json::from_slice(black_box(payload)).expect("valid JSON");
        }
    });

    // The same lines through both writers: readings built once, outside
    // the timing.
    let mut readings: Vec<Reading<'static>> = Vec::new();
    {
        let mut all = Vec::new();
        for (topic, payload) in &messages {
            flattener.flatten(topic, payload, RECEIVED_NS, &mut all, &mut notes);
        }
        let text = String::from_utf8(all).expect("UTF-8");
        for line in influxdb_line_protocol::parse_lines(&text) {
            let line = line.expect("our own output parses");
            let mut r = Reading::new(
                match line.series.measurement.as_str() {
                    "electricitymeter" => "electricitymeter",
                    "gasmeter" => "gasmeter",
                    "cadstate" => "cadstate",
                    _ => "glowsensorth1",
                },
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
    }
    let ours = median(runs, || {
        out.clear();
        for r in &readings {
            write_line(r, &mut out).expect("fields");
        }
        black_box(&out);
    });
    let ours_len = out.len();
    let mut buf = Vec::with_capacity(ours_len);
    let builder = median(runs, || {
        buf.clear();
        let mut b = LineProtocolBuilder::new_with(std::mem::take(&mut buf));
        for r in &readings {
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
            b = f.timestamp(r.time_ns).close_line();
        }
        buf = b.build();
        black_box(&buf);
    });
    assert_eq!(
        buf.len(),
        ours_len,
        "both writers must produce the same bytes"
    );
    assert_eq!(buf, out, "both writers must produce the same bytes");

    let ns = |secs: f64, count: usize| secs * 1e9 / count as f64;
    println!("cadline flatten benchmark: {n} messages ({:.0} bytes mean), {lines} lines, median of {runs} runs\n", bytes as f64 / n as f64);
    println!("| what | ns/message | messages/s | MB/s | ratio |");
    println!("|---|---:|---:|---:|---:|");
    let row = |what: &str, secs: f64, base: f64| {
        println!(
            "| {what} | {:.0} | {:.0} | {:.0} | {:.2}x |",
            ns(secs, n),
            n as f64 / secs,
            bytes as f64 / secs / 1e6,
            secs / base
        );
    };
    row("parse-only floor (serde_json → IgnoredAny)", floor, floor);
    row(
        "flattener (parse, normalise, write line protocol)",
        flatten,
        floor,
    );
    println!();
    println!(
        "| writer, same {} lines | ns/line | ratio |",
        readings.len()
    );
    println!("|---|---:|---:|");
    println!(
        "| cadline::line_protocol::write_line | {:.0} | 1.00x |",
        ns(ours, readings.len())
    );
    println!(
        "| influxdb_line_protocol::LineProtocolBuilder | {:.0} | {:.2}x |",
        ns(builder, readings.len()),
        builder / ours
    );
}

/// Field and tag keys as `&'static str` for `Reading` (a handful, once).
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}
