//! Property-based fuzzing of the flattener and the capture reader.
//!
//! Structure-aware generators build CAD-shaped JSON with random values,
//! nulls, missing keys, wrong types, extreme numbers and hostile strings on
//! random topics; byte-level mutations of the golden payloads cover what the
//! generators do not imagine. Invariants: no panic; every line parses as
//! line protocol (influxdb-line-protocol's parser plus InfluxDB 1.x's own
//! refusals checked by hand); every number out equals the number in, in
//! normalised units; no message leaks into another's line.
//!
//! `cargo test` runs a bounded number of cases. Run long with e.g.
//! `PROPTEST_CASES=200000 cargo test --release --test integration fuzz`.

use std::collections::BTreeMap;

use cadline::meter_time::TimestampSource;
use cadline::{FlattenOptions, Flattener};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const RECEIVED_NS: i64 = 1_772_366_400_000_000_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(256),
        ..ProptestConfig::default()
    }
}

/// A JSON value where a number belongs, and the number cadline must write
/// (before unit conversion) if any.
fn number() -> impl Strategy<Value = (Option<Value>, Option<f64>)> {
    prop_oneof![
        4 => (0i64..100_000_000, 0u32..7).prop_map(|(n, k)| {
            let text = format!("{}", n as f64 / 10f64.powi(k as i32));
            let v: f64 = serde_json::from_str(&text).expect("number");
            (Some(serde_json::from_str(&text).expect("json")), Some(v))
        }),
        1 => (-1_000_000i64..0).prop_map(|n| (Some(json!(n)), Some(n as f64))),
        1 => Just((Some(json!(0)), Some(0.0))),
        1 => prop_oneof![Just(1e300), Just(-1e300), Just(1e-300), Just(-8388.608), Just(123_456_789_012_345_680_000.0)]
            .prop_map(|v| (Some(json!(v)), Some(v))),
        1 => (0i64..10_000).prop_map(|n| (Some(json!(format!("{n}.5"))), Some(n as f64 + 0.5))),
        1 => Just((Some(Value::Null), None)),
        1 => Just((None, None)),
        1 => any::<String>().prop_filter("not numeric", |s| s.trim().parse::<f64>().is_err()).prop_map(|s| (Some(json!(s)), None)),
        1 => any::<bool>().prop_map(|b| (Some(json!(b)), None)),
        1 => Just((Some(json!([1, 2])), None)),
        1 => Just((Some(json!({"value": 1})), None)),
    ]
}

/// Text with everything line protocol finds hard.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z ,=\"\\\\\n\r\t\u{0}\u{7f}é😀-]{0,20}",
        Just(String::new()),
        Just("read pending".to_owned()),
        Just("---".to_owned()),
    ]
}

/// A unit and the factor cadline must apply, or `None` if the value must be
/// dropped for its unit.
fn energy_unit() -> impl Strategy<Value = (Option<Value>, Option<f64>)> {
    prop_oneof![
        4 => Just((Some(json!("kWh")), Some(1.0))),
        1 => Just((Some(json!("Wh")), Some(1e-3))),
        1 => Just((Some(json!("MWh")), Some(1e3))),
        1 => Just((Some(json!("")), Some(1.0))),
        1 => Just((None, Some(1.0))),
        1 => Just((Some(json!("therms")), None)),
    ]
}

fn power_unit() -> impl Strategy<Value = (Option<Value>, Option<f64>)> {
    prop_oneof![
        4 => Just((Some(json!("kW")), Some(1.0))),
        1 => Just((Some(json!("W")), Some(1e-3))),
        1 => Just((None, Some(1.0))),
        1 => Just((Some(json!("hp")), None)),
    ]
}

fn timestamp() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0u32..28, 0u32..24, 0u32..60).prop_map(|(d, h, m)| json!(format!("2026-02-{:02}T{h:02}:{m:02}:00Z", d + 1))),
        1 => Just(json!("1970-01-01T00:00:00Z")),
        1 => Just(json!("2099-01-01T00:00:00Z")),
        1 => hostile().prop_map(Value::String),
        1 => Just(Value::Null),
    ]
}

fn device() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[0-9A-F]{12}", 1 => r"[^/+#\\\s\x00-\x1f\x7f-\x9f]{1,16}"]
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), v);
    }
}

/// A meter message and the fields it must produce (schema name → value in
/// normalised units; `None`: must be absent).
#[derive(Debug, Clone)]
struct MeterCase {
    gas: bool,
    device: String,
    payload: String,
    expect: BTreeMap<&'static str, Option<f64>>,
}

prop_compose! {
    fn meter_case()(
        gas in any::<bool>(),
        device in device(),
        ts in timestamp(),
        values in proptest::collection::vec(number(), 10),
        (units, factor) in energy_unit(),
        (punits, pfactor) in power_unit(),
        (eunits, efactor) in energy_unit(),
        mpan in hostile(),
        supplier in hostile(),
        vol_units in prop_oneof![Just(json!("m3")), Just(json!("kWh"))],
    ) -> MeterCase {
        let name = if gas { "gasmeter" } else { "electricitymeter" };
        let mut import = Map::new();
        let keys = ["cumulative", "day", "week", "month"];
        let mut expect = BTreeMap::new();
        for (i, key) in keys.iter().enumerate() {
            put(&mut import, key, values[i].0.clone());
            let mut want = values[i].1.zip(factor).map(|(v, f)| v * f);
            if *key == "cumulative" && want == Some(0.0) {
                want = None;
            }
            expect.insert(*key, want);
        }
        put(&mut import, "units", units);
        put(&mut import, "mpan", Some(json!(mpan)));
        put(&mut import, "supplier", Some(json!(supplier)));
        put(&mut import, "cumulativevol", values[4].0.clone());
        import.insert("cumulativevolunits".into(), json!("m3"));
        put(&mut import, "dayvol", values[5].0.clone());
        import.insert("dayweekmonthvolunits".into(), vol_units.clone());
        if gas {
            expect.insert("cumulativevol", values[4].1);
            expect.insert("dayvol", if vol_units == json!("m3") { values[5].1 } else { None });
        }
        import.insert("price".into(), {
            let mut p = Map::new();
            put(&mut p, "unitrate", values[6].0.clone());
            put(&mut p, "standingcharge", values[7].0.clone());
            Value::Object(p)
        });
        expect.insert("price.unitrate", values[6].1);
        expect.insert("price.standingcharge", values[7].1);
        let mut export = Map::new();
        put(&mut export, "cumulative", values[8].0.clone());
        put(&mut export, "units", eunits);
        expect.insert("export.cumulative", values[8].1.zip(efactor).map(|(v, f)| v * f));
        let mut power = Map::new();
        put(&mut power, "value", values[9].0.clone());
        put(&mut power, "units", punits);
        let p = values[9].1.zip(pfactor).map(|(v, f)| v * f);
        expect.insert("power", p.filter(|v| (v - -8388.608).abs() > 1e-6));
        let payload = json!({ name: { "timestamp": ts, "energy": { "import": import, "export": export }, "power": power } });
        MeterCase { gas, device, payload: payload.to_string(), expect }
    }
}

/// Checks what InfluxDB 1.x refuses, beyond the crate parser.
fn check_line(line: &str) -> Result<influxdb_line_protocol::ParsedLine<'_>, String> {
    if line.contains('\r') || line.contains('\n') {
        return Err(format!("raw CR/LF in {line:?}"));
    }
    let parsed = influxdb_line_protocol::parse_lines(line)
        .next()
        .ok_or("no line")?
        .map_err(|e| format!("{e}: {line:?}"))?;
    let m = parsed.series.measurement.as_str();
    if !["electricitymeter", "gasmeter", "cadstate", "glowsensorth1"].contains(&m) {
        return Err(format!("measurement {m:?}"));
    }
    if parsed.field_set.is_empty() {
        return Err("no fields".into());
    }
    for (k, v) in parsed.series.tag_set.iter().flatten() {
        if v.as_str().is_empty() || k.as_str() == "time" {
            return Err(format!("bad tag {k}={v}"));
        }
    }
    for (k, v) in &parsed.field_set {
        if k.as_str() == "time" {
            return Err("field named time".into());
        }
        if let influxdb_line_protocol::FieldValue::F64(f) = v {
            if !f.is_finite() {
                return Err(format!("non-finite {k}"));
            }
        }
    }
    if parsed.timestamp.is_none() {
        return Err("no timestamp".into());
    }
    Ok(parsed)
}

fn flatten(flattener: &Flattener, topic: &str, payload: &[u8]) -> String {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let n = flattener.flatten(topic, payload, RECEIVED_NS, &mut out, &mut notes);
    let text = String::from_utf8(out).expect("output is UTF-8");
    assert_eq!(
        text.lines().count(),
        n,
        "returned count differs from lines written"
    );
    assert!(text.is_empty() || text.ends_with('\n'));
    for note in &notes {
        assert!(
            !note.text.contains('\n') && note.text.len() < 2000,
            "note {:?}",
            note.text
        );
    }
    text
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn options() -> impl Strategy<Value = FlattenOptions> {
    (any::<bool>(), any::<bool>()).prop_map(|(meter_tags, receive)| FlattenOptions {
        meter_tags,
        timestamp: if receive {
            TimestampSource::Receive
        } else {
            TimestampSource::Meter
        },
        ..FlattenOptions::default()
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn meter_numbers_out_equal_numbers_in(case in meter_case(), opts in options()) {
        let kind = if case.gas { "gasmeter" } else { "electricitymeter" };
        let topic = format!("glow/{}/SENSOR/{kind}", case.device);
        let text = flatten(&Flattener::new(opts), &topic, case.payload.as_bytes());
        let lines: Vec<&str> = text.lines().collect();
        prop_assert!(lines.len() <= 1);
        let any_expected = case.expect.values().any(Option::is_some);
        prop_assert_eq!(lines.len() == 1, any_expected, "payload {}\nout {}", case.payload, text);
        if let Some(line) = lines.first() {
            let parsed = check_line(line).map_err(TestCaseError::fail)?;
            prop_assert_eq!(parsed.series.measurement.as_str(), kind);
            let device = parsed.series.tag_set.iter().flatten().find(|(k, _)| k.as_str() == "device").map(|(_, v)| v.to_string());
            prop_assert_eq!(device.as_deref(), Some(case.device.as_str()));
            for (field, want) in &case.expect {
                let got = parsed.field_set.iter().find(|(k, _)| k.as_str() == *field).map(|(_, v)| match v {
                    influxdb_line_protocol::FieldValue::F64(f) => *f,
                    other => panic!("{field} is not a float: {other:?}"),
                });
                match (want, got) {
                    (Some(w), Some(g)) => prop_assert!(close(*w, g), "{}: want {} got {}\n{}\n{}", field, w, g, case.payload, line),
                    (None, None) => {}
                    _ => prop_assert!(false, "{}: want {:?} got {:?}\n{}\n{}", field, want, got, case.payload, line),
                }
            }
        }
    }

    #[test]
    fn nothing_leaks_between_messages(a in meter_case(), b in meter_case()) {
        let flattener = Flattener::default();
        let topic = |c: &MeterCase| format!("glow/{}/SENSOR/{}", c.device, if c.gas { "gasmeter" } else { "electricitymeter" });
        let alone_a = flatten(&flattener, &topic(&a), a.payload.as_bytes());
        let alone_b = flatten(&flattener, &topic(&b), b.payload.as_bytes());
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        flattener.flatten(&topic(&a), a.payload.as_bytes(), RECEIVED_NS, &mut out, &mut notes);
        flattener.flatten(&topic(&b), b.payload.as_bytes(), RECEIVED_NS, &mut out, &mut notes);
        prop_assert_eq!(String::from_utf8(out).expect("utf-8"), alone_a + &alone_b);
    }

    #[test]
    fn state_and_sensor_lines_are_valid(
        dev in device(), ts in timestamp(), strings in proptest::collection::vec(hostile(), 8),
        rssi in number(), lqi in number(), sensor in device(), temp in number(), unit in hostile(),
    ) {
        let mut han = Map::new();
        put(&mut han, "rssi", rssi.0.clone());
        put(&mut han, "lqi", lqi.0);
        han.insert("status".into(), json!(strings[0]));
        let state = json!({"timestamp": ts, "software": strings[1], "hardware": strings[2], "ethmac": strings[3],
            "wifistamac": strings[4], "zigbee": strings[5], "smetsversion": strings[6], "han": han});
        let text = flatten(&Flattener::default(), &format!("glow/{dev}/STATE"), state.to_string().as_bytes());
        for line in text.lines() {
            let parsed = check_line(line).map_err(TestCaseError::fail)?;
            if let Some(v) = rssi.1.filter(|v| v.fract() == 0.0 && v.abs() < 9e15) {
                let got = parsed.field_set.iter().find(|(k, _)| k.as_str() == "han.rssi").map(|(_, v)| v.clone());
                prop_assert_eq!(got, Some(influxdb_line_protocol::FieldValue::I64(v as i64)));
            }
        }
        let mut entry = Map::new();
        entry.insert("timestamp".into(), ts);
        let mut t = Map::new();
        put(&mut t, "value", temp.0);
        t.insert("units".into(), json!(unit));
        entry.insert("temperature".into(), Value::Object(t));
        entry.insert("status".into(), json!(strings[7]));
        let payload = json!({"glowsensorth1": {sensor.clone(): entry}});
        let text = flatten(&Flattener::default(), &format!("glow/{dev}/SENSOR/glowsensorth1/{sensor}"), payload.to_string().as_bytes());
        for line in text.lines() {
            check_line(line).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn legacy_hex_lines_are_valid(values in proptest::collection::vec("[0-9A-Fa-fxyz]{0,14}", 12), gmtime in prop_oneof![Just(json!(1_620_153_000)), Just(json!("x")), Just(Value::Null)]) {
        let mtr = |v: &[String]| json!({"0702": {"03": {"00": v[0], "01": v[1], "02": v[2], "07": v[3]}, "00": {"00": v[4], "01": v[5]}, "04": {"00": v[6], "01": v[7], "30": v[8], "40": v[9]}, "0C": {"01": v[10]}}, "0708": {"01": {"01": v[11]}}});
        let payload = json!({"elecMtr": mtr(&values), "gasMtr": mtr(&values), "gmtime": gmtime, "pan": {"rssi": values[0], "lqi": values[1], "status": values[2]}, "hversion": values[3]});
        for opts in [FlattenOptions::default(), FlattenOptions { meter_tags: true, ..FlattenOptions::default() }] {
            let text = flatten(&Flattener::new(opts), "SMART/HILD/0A1B2C3D4E5F", payload.to_string().as_bytes());
            for line in text.lines() {
                check_line(line).map_err(TestCaseError::fail)?;
            }
        }
    }

    #[test]
    fn random_topics_and_bytes_never_break_the_output(topic in "[a-zA-Z0-9/+#_ \u{0}-\u{1f}é]{0,40}", payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        for t in [topic.as_str(), "glow/A/SENSOR/electricitymeter", "glow/A/SENSOR/gasmeter", "glow/A/STATE", "glow/A/SENSOR/glowsensorth1/B", "SMART/HILD/A"] {
            let text = flatten(&Flattener::default(), t, &payload);
            for line in text.lines() {
                check_line(line).map_err(TestCaseError::fail)?;
            }
        }
    }

    #[test]
    fn mutated_golden_payloads_never_break_the_output(seed in any::<u64>(), edits in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..4), 1..8)) {
        let dirs = crate::golden::case_dirs();
        let dir = &dirs[(seed as usize) % dirs.len()];
        let topic = std::fs::read_to_string(dir.join("topic")).expect("topic");
        let mut payload = std::fs::read(dir.join("payload.json")).expect("payload");
        for (at, byte, op) in edits {
            let i = at as usize % (payload.len() + 1);
            match op {
                0 if i < payload.len() => payload[i] = byte,
                1 => payload.insert(i, byte),
                2 if i < payload.len() => { payload.remove(i); }
                _ => payload.truncate(i),
            }
        }
        let text = flatten(&Flattener::new(crate::golden::options(dir)), topic.trim_end(), &payload);
        for line in text.lines() {
            check_line(line).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn the_capture_reader_frames_anything(input in proptest::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'{'), Just(b'}'), Just(b'/'), Just(b'"')], 0..600), max in 1usize..100) {
        use cadline::capture::{CaptureReader, Frame};
        for frame in CaptureReader::new(&input[..], max) {
            match frame.expect("reading a slice cannot fail") {
                Frame::Message { topic, payload } => {
                    prop_assert!(!topic.contains('\n') && !topic.contains(' '));
                    prop_assert!(payload.len() <= max + 1024);
                }
                Frame::Skipped(why) => prop_assert!(!why.contains('\n')),
            }
        }
    }
}
