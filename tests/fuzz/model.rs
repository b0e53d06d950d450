//! The model of the schema: CAD-shaped JSON generators for every kind, each
//! computing, from the README's schema and independently of the crate, the
//! exact lines that must come out. The properties in `mod.rs` use it.

use std::collections::BTreeMap;

use cadline::flatten::meter_time::TimestampSource;
use cadline::{FlattenOptions, Flattener, Level};
use proptest::collection::vec;
use proptest::prelude::*;

/// Arrival time of every message: 2026-03-01T12:00:00Z.
pub(crate) const R: i64 = 1_772_366_400_000_000_000;
pub(crate) const NS: i64 = 1_000_000_000;
/// 2015-01-01: before it a meter time is a placeholder (no CAD existed).
pub(crate) const EARLIEST: i64 = 1_420_070_400 * NS;
/// 2026-01-01: a host clock before it is evidently wrong (README, Time).
pub(crate) const HOST_FLOOR: i64 = 1_767_225_600 * NS;
/// How far ahead of arrival a meter time may be.
pub(crate) const HOUR: i64 = 3600 * NS;
pub(crate) const FT3: f64 = 0.028_316_846_592;

// ---------------------------------------------------------------------------
// A tiny JSON writer, so the tests control the exact text of every number,
// key order, layout and escapes.

#[derive(Debug, Clone)]
pub(crate) enum J {
    /// A literal: number text, `true`, `null`...
    Raw(String),
    Str(String),
    Obj(Vec<(String, J)>),
}

/// How a payload is laid out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub(crate) pretty: bool,
    pub(crate) reverse_keys: bool,
    pub(crate) escape_keys: bool,
}

pub(crate) fn style() -> impl Strategy<Value = Style> {
    (
        prop::bool::weighted(0.2),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(pretty, reverse_keys, escape_keys)| Style {
            pretty,
            reverse_keys,
            escape_keys,
        })
}

pub(crate) fn raw(s: &str) -> J {
    J::Raw(s.to_owned())
}

pub(crate) fn s(s: &str) -> J {
    J::Str(s.to_owned())
}

/// An object from `(key, value)` pairs; `None` values are left out.
pub(crate) fn obj(entries: Vec<(&str, Option<J>)>) -> J {
    J::Obj(
        entries
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect(),
    )
}

impl J {
    pub(crate) fn render(&self, st: Style) -> String {
        let mut out = String::new();
        self.write(st, 1, &mut out);
        out
    }

    pub(crate) fn write(&self, st: Style, depth: usize, out: &mut String) {
        let newline = |out: &mut String, depth: usize| {
            if st.pretty {
                out.push('\n');
                out.push_str(&"  ".repeat(depth));
            }
        };
        match self {
            J::Raw(r) => out.push_str(r),
            J::Str(s) => out.push_str(&serde_json::to_string(s).expect("string")),
            J::Obj(entries) => {
                out.push('{');
                let mut order: Vec<&(String, J)> = entries.iter().collect();
                if st.reverse_keys {
                    order.reverse();
                }
                for (i, (k, v)) in order.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth);
                    match k.chars().next() {
                        Some(c) if st.escape_keys && c.is_ascii_alphanumeric() => {
                            let rest = serde_json::to_string(&k[1..]).expect("key");
                            out.push_str(&format!("\"\\u{:04x}{}", c as u32, &rest[1..]));
                        }
                        _ => out.push_str(&serde_json::to_string(k).expect("key")),
                    }
                    out.push(':');
                    if st.pretty {
                        out.push(' ');
                    }
                    v.write(st, depth + 1, out);
                }
                if !entries.is_empty() {
                    newline(out, depth - 1);
                }
                out.push('}');
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Values and what must come out of them.

/// What a numeric JSON value must become.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum N {
    /// A finite number (before unit conversion).
    V(f64),
    /// null, missing, the wrong type, not finite, or a value serde_json
    /// cannot represent (a number beyond f64, a string it refuses): the
    /// field is left out, and only it.
    Absent,
}

pub(crate) fn num_from_text(text: String) -> (Option<J>, N) {
    let v: f64 = text.parse().expect("generated number text parses");
    let n = if v.is_finite() { N::V(v) } else { N::Absent };
    (Some(J::Raw(text)), n)
}

/// `digits` with a decimal point `decimals` places from the right.
pub(crate) fn decimal_text(digits: u64, decimals: usize, negative: bool) -> String {
    let mut d = format!("{digits:0>width$}", width = decimals + 1);
    if decimals > 0 {
        d.insert(d.len() - decimals, '.');
    }
    if negative {
        d.insert(0, '-');
    }
    d
}

/// A JSON string serde_json refuses to read, though its place in the
/// document is clear: a lone surrogate escape, an escape JSON does not
/// have, a raw control character (issue 21 point 2).
pub(crate) fn unrepresentable_string() -> BoxedStrategy<String> {
    (
        "[a-zA-Z0-9 é]{0,6}",
        prop_oneof![
            Just(r"\ud800".to_owned()),
            Just(r"\uDFFF".to_owned()),
            Just(r"\ud83d\u0041".to_owned()),
            Just(r"\ud83d".to_owned()),
            Just(r"\x41".to_owned()),
            Just(r"\u12G4".to_owned()),
            Just(r"\'".to_owned()),
            (0u8..0x20).prop_map(|c| char::from(c).to_string()),
        ],
        "[a-zA-Z0-9 é]{0,6}",
    )
        .prop_map(|(a, bad, b)| format!("\"{a}{bad}{b}\""))
        .boxed()
}

/// Text that no unit table and no number parser accepts.
pub(crate) fn junk() -> BoxedStrategy<String> {
    prop_oneof![
        r#"x[a-zA-Z0-9 ,="'\\\n\r\t\x00\x01\x7f\u{85}\u{2028}é😀.-]{0,16}"#,
        any::<String>().prop_map(|s| format!("x{s}")),
    ]
    .boxed()
}

/// A value where a number belongs, and what it must become.
pub(crate) fn num() -> BoxedStrategy<(Option<J>, N)> {
    prop_oneof![
        // Meter-like decimals (the common case).
        8 => (0u64..100_000_000_000, 0usize..7, prop::bool::weighted(0.2))
            .prop_map(|(d, k, neg)| num_from_text(decimal_text(d, k, neg))),
        2 => (-100_000i64..100_000).prop_map(|n| num_from_text(n.to_string())),
        2 => prop::sample::select(vec!["0", "0.0", "0.000", "-0", "-0.0", "0e0", "0E-5"])
            .prop_map(|t| num_from_text(t.to_owned())),
        2 => prop::sample::select(vec![
            "1e300", "-1e300", "1e-300", "-1e-300", "1E+300", "1.7976931348623157e308",
            "-1.7976931348623157e308", "2.2250738585072014e-308", "5e-324", "-8388.608",
            "123456789012345678901234567890", "18446744073709551615", "18446744073709551616",
            "9007199254740993", "-9223372036854775808", "-9223372036854775809", "1e20",
            "1e-9", "46", "0.1", "0.2451", "8123.449", "6613.405", "-8388608",
            // Zigbee's invalid values, scaled (each left out by register).
            "281474976710.655", "281474976710655", "16777.215", "16777215", "4294967.295",
            "167.77215", "-8.388608", "16777.214", "281474976710.654",
        ])
        .prop_map(|t| num_from_text(t.to_owned())),
        // Long mantissas: every digit counts.
        2 => ("[1-9][0-9]{14,24}", -300i32..300)
            .prop_map(|(d, e)| num_from_text(format!("{}.{}e{e}", &d[..1], &d[1..]))),
        2 => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| num_from_text(format!("{f:?}"))),
        1 => prop::sample::select(vec!["1e400", "-1e400", "1e309", "2e308"])
            .prop_map(|t| (Some(raw(t)), N::Absent)),
        // Strings serde_json refuses: a lone surrogate, a bad escape, a raw
        // control character (issue 21 point 2: only this field is lost).
        1 => unrepresentable_string().prop_map(|t| (Some(raw(&t)), N::Absent)),
        // Numeric strings are accepted; non-finite ones are not.
        2 => (0u64..10_000_000, 0usize..4, " ?", " ?").prop_map(|(d, k, a, b)| {
            let t = decimal_text(d, k, false);
            let v = t.parse().expect("number");
            (Some(J::Str(format!("{a}{t}{b}"))), N::V(v))
        }),
        1 => prop::sample::select(vec!["NaN", "inf", "-infinity", "1e400", ""])
            .prop_map(|t| (Some(s(t)), N::Absent)),
        2 => Just((Some(raw("null")), N::Absent)),
        2 => Just((None, N::Absent)),
        1 => any::<bool>().prop_map(|b| (Some(raw(&b.to_string())), N::Absent)),
        1 => prop::sample::select(vec!["[]", "[1,2]", "{}", "{\"value\":1}", "[null]"])
            .prop_map(|t| (Some(raw(t)), N::Absent)),
        1 => junk().prop_map(|t| (Some(J::Str(t)), N::Absent)),
    ]
    .boxed()
}

/// A unit conversion: what a value becomes, and whether the result must be
/// bit-exact (simple factors) or only close (°F, ccf).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Conv {
    Exact(fn(f64) -> f64),
    Approx(fn(f64) -> f64),
    /// Unknown unit: the value is left out.
    Drop,
}

pub(crate) fn same(v: f64) -> f64 {
    v
}
pub(crate) fn div1000(v: f64) -> f64 {
    v / 1000.0
}
pub(crate) fn div1e6(v: f64) -> f64 {
    v / 1e6
}
pub(crate) fn mul1000(v: f64) -> f64 {
    v * 1000.0
}
pub(crate) fn mul1e6(v: f64) -> f64 {
    v * 1e6
}
pub(crate) fn ft3(v: f64) -> f64 {
    v * FT3
}
pub(crate) fn ccf(v: f64) -> f64 {
    // One factor, as a converter should: `v * 100.0` first overflows for
    // values whose cubic metres are still a finite number.
    v * (100.0 * FT3)
}
pub(crate) fn fahrenheit(v: f64) -> f64 {
    (v - 32.0) * 5.0 / 9.0
}
pub(crate) fn kelvin(v: f64) -> f64 {
    v - 273.15
}

pub(crate) type Unit = (Option<J>, Conv);

/// A unit whose absence means the documented unit: missing, null, empty or
/// mistyped (a boolean, array or object is ignored with a warning).
pub(crate) fn default_unit() -> BoxedStrategy<Unit> {
    prop_oneof![
        Just((None, Conv::Exact(same))),
        Just((Some(raw("null")), Conv::Exact(same))),
        Just((Some(s("")), Conv::Exact(same))),
        Just((Some(s("  ")), Conv::Exact(same))),
        prop::sample::select(vec!["true", "[]", "{}", "[\"kWh\"]"])
            .prop_map(|t| (Some(raw(t)), Conv::Exact(same))),
    ]
    .boxed()
}

/// Units no table knows: junk, units of another quantity, numbers (which
/// a text field keeps as text).
pub(crate) fn unknown_unit(others: &'static [&'static str]) -> BoxedStrategy<Unit> {
    prop_oneof![
        junk().prop_map(|t| (Some(J::Str(t)), Conv::Drop)),
        prop::sample::select(others).prop_map(|t| (Some(s(t)), Conv::Drop)),
        (0u32..5000).prop_map(|n| (Some(raw(&n.to_string())), Conv::Drop)),
    ]
    .boxed()
}

pub(crate) fn energy_unit() -> BoxedStrategy<Unit> {
    prop_oneof![
        8 => prop::sample::select(vec!["kWh", "KWH", "kwh", " kWh "]).prop_map(|t| (Some(s(t)), Conv::Exact(same))),
        2 => default_unit(),
        2 => prop::sample::select(vec!["Wh", "wh"]).prop_map(|t| (Some(s(t)), Conv::Exact(div1000))),
        1 => Just((Some(s("MWh")), Conv::Exact(mul1000))),
        1 => Just((Some(s("mWh")), Conv::Exact(div1e6))),
        1 => Just((Some(s("GWh")), Conv::Exact(mul1e6))),
        // SI prefixes are case-sensitive: a case variant that could be milli
        // or mega is refused.
        1 => unknown_unit(&["therms", "kW", "m3", "J", "mwh", "MWH", "Mwh", "mWH"]),
    ]
    .boxed()
}

pub(crate) fn power_unit() -> BoxedStrategy<Unit> {
    prop_oneof![
        8 => prop::sample::select(vec!["kW", "KW", "kw"]).prop_map(|t| (Some(s(t)), Conv::Exact(same))),
        2 => default_unit(),
        2 => Just((Some(s("W")), Conv::Exact(div1000))),
        1 => Just((Some(s("MW")), Conv::Exact(mul1000))),
        1 => Just((Some(s(" mW")), Conv::Exact(div1e6))),
        1 => unknown_unit(&["kWh", "hp", "VA", "mw", "Mw"]),
    ]
    .boxed()
}

pub(crate) fn volume_unit() -> BoxedStrategy<Unit> {
    prop_oneof![
        8 => prop::sample::select(vec!["m3", "M3", "m³"]).prop_map(|t| (Some(s(t)), Conv::Exact(same))),
        2 => default_unit(),
        1 => prop::sample::select(vec!["l", "L", "dm3"]).prop_map(|t| (Some(s(t)), Conv::Exact(div1000))),
        1 => Just((Some(s("ft3")), Conv::Exact(ft3))),
        1 => Just((Some(s("ccf")), Conv::Approx(ccf))),
        1 => unknown_unit(&["kWh", "gallons"]),
    ]
    .boxed()
}

/// `dayweekmonthvolunits`: a volume unit only when the device names one;
/// missing, null, blank or mistyped means the values are left out (README:
/// "only when the device labels them with a volume unit").
pub(crate) fn period_unit() -> BoxedStrategy<Unit> {
    volume_unit()
        .prop_map(|(json, conv)| match &json {
            Some(J::Str(t)) if !t.trim().is_empty() => (json, conv),
            _ => (json, Conv::Drop),
        })
        .boxed()
}

pub(crate) fn temperature_unit() -> BoxedStrategy<Unit> {
    prop_oneof![
        6 => prop::sample::select(vec!["°C", "C", "degC", "celsius", " °C "]).prop_map(|t| (Some(s(t)), Conv::Exact(same))),
        2 => default_unit(),
        1 => prop::sample::select(vec!["°F", "F", "degF", "fahrenheit"]).prop_map(|t| (Some(s(t)), Conv::Approx(fahrenheit))),
        1 => Just((Some(s("K")), Conv::Approx(kelvin))),
        1 => unknown_unit(&["%", "c", "dBm"]),
    ]
    .boxed()
}

pub(crate) fn percent_unit() -> BoxedStrategy<Unit> {
    prop_oneof![
        6 => prop::sample::select(vec!["%", " % "]).prop_map(|t| (Some(s(t)), Conv::Exact(same))),
        2 => default_unit(),
        1 => unknown_unit(&["ppm", "°C"]),
    ]
    .boxed()
}

/// What a text JSON value must become.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum T {
    /// Kept as this text.
    S(String),
    /// null, missing or the wrong type: left out.
    Absent,
}

/// Hostile text for string values: anything, and what line protocol and
/// identity placeholders find hard.
pub(crate) fn hostile() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        3 => r#"[a-zA-Z0-9 ,="'\\\n\r\t\x00\x01\x1f\x7f\u{85}\u{2028}é😀/.:-]{0,20}"#,
        1 => prop::sample::select(vec![
            "", "read pending", "---", "EMPTY", "not available", "  ", "***", "—", "n/a",
            "Octopus Energy", "1900012345678", "19 0001-2345 678", "7654321098", "123456",
            "Metering PointID", "-123456", "joined", "v2.1.0", "a\\", "\\", "\"", "x,y=z w",
        ])
        .prop_map(str::to_owned),
    ]
    .boxed()
}

pub(crate) fn text() -> BoxedStrategy<(Option<J>, T)> {
    prop_oneof![
        8 => hostile().prop_map(|t| (Some(J::Str(t.clone())), T::S(t))),
        1 => (-1_000_000_000i64..10_000_000_000_000).prop_map(|n| (Some(raw(&n.to_string())), T::S(n.to_string()))),
        1 => prop::sample::select(vec!["2.5", "-0.25", "1.5"]).prop_map(|t| (Some(raw(t)), T::S(t.to_owned()))),
        1 => Just((Some(raw("null")), T::Absent)),
        1 => unrepresentable_string().prop_map(|t| (Some(raw(&t)), T::Absent)),
        1 => Just((None, T::Absent)),
        1 => prop::sample::select(vec!["true", "[]", "{}", "[\"a\"]", "{\"a\":\"b\"}"]).prop_map(|t| (Some(raw(t)), T::Absent)),
    ]
    .boxed()
}

/// What replaces an object, if anything: mostly nothing (the object is
/// there), else null or a value of the wrong type.
pub(crate) fn shape() -> BoxedStrategy<Option<J>> {
    prop_oneof![
        12 => Just(None),
        1 => Just(Some(raw("null"))),
        1 => prop::sample::select(vec!["\"none\"", "0", "true", "[]", "[{}]"]).prop_map(|t| Some(raw(t))),
    ]
    .boxed()
}

/// A parent object, or its replacement when `shape` says so.
pub(crate) fn nest(replacement: &Option<J>, object: J) -> (Option<J>, bool) {
    match replacement {
        None => (Some(object), true),
        Some(r) => (Some(r.clone()), false),
    }
}

/// What a `timestamp` must become.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Ts {
    /// A readable UTC time, in ns.
    At(i64),
    /// Missing, null, mistyped or unreadable.
    Unusable,
}

pub(crate) fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub(crate) fn month_days(y: i64, m: i64) -> i64 {
    [
        31,
        if is_leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][m as usize - 1]
}

/// Unix seconds of a civil UTC time, counted the slow, obvious way.
pub(crate) fn epoch(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> i64 {
    let mut days: i64 = (1970..y).map(|y| if is_leap(y) { 366 } else { 365 }).sum();
    days += (1..mo).map(|m| month_days(y, m)).sum::<i64>();
    days += d - 1;
    ((days * 24 + h) * 60 + mi) * 60 + s
}

/// The civil UTC time of Unix seconds, counted back the slow way.
pub(crate) fn civil_of(t: i64) -> Civil {
    let (mut days, rem) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let mut y = 1970;
    loop {
        let len = if is_leap(y) { 366 } else { 365 };
        if days < 0 {
            y -= 1;
            days += if is_leap(y) { 366 } else { 365 };
        } else if days >= len {
            days -= len;
            y += 1;
        } else {
            break;
        }
    }
    let mut mo = 1;
    while days >= month_days(y, mo) {
        days -= month_days(y, mo);
        mo += 1;
    }
    (y, mo, days + 1, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A civil time: year, month, day, hour, minute, second.
pub(crate) type Civil = (i64, i64, i64, i64, i64, i64);

pub(crate) fn civil() -> BoxedStrategy<Civil> {
    prop_oneof![
        // Any day from 1970 to 2100.
        2 => (1970i64..2101, 1i64..13, 1i64..32, 0i64..24, 0i64..60, 0i64..60)
            .prop_map(|(y, mo, d, h, mi, s)| (y, mo, d.min(month_days(y, mo)), h, mi, s)),
        // Around arrival, across the one-hour limit.
        3 => (10i64..14, 0i64..60, 0i64..60).prop_map(|(h, mi, s)| (2026, 3, 1, h, mi, s)),
        1 => prop::sample::select(vec![
            (1970, 1, 1, 0, 0, 0), (2026, 3, 1, 13, 0, 0), (2026, 3, 1, 13, 0, 1),
            (2000, 1, 1, 0, 0, 0), (1999, 12, 31, 23, 59, 59), (2099, 1, 1, 0, 0, 0),
            (2015, 1, 1, 0, 0, 0), (2014, 12, 31, 23, 59, 59),
        ]),
    ]
    .boxed()
}

pub(crate) fn timestamp() -> BoxedStrategy<(Option<J>, Ts)> {
    let readable = (civil(), 0usize..7, 0u32..1000).prop_map(|((y, mo, d, h, mi, s), form, ms)| {
        let base = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
        let ns = epoch(y, mo, d, h, mi, s) * NS;
        // A UTC offset is converted: the same instant written in another
        // zone (the civil fields then shift, the instant does not).
        let zoned = |offset_min: i64, form: &str| {
            let local = ns / NS + offset_min * 60;
            let (y, mo, d, h, mi, s) = civil_of(local);
            let sign = if offset_min < 0 { '-' } else { '+' };
            let (oh, om) = (offset_min.abs() / 60, offset_min.abs() % 60);
            let zone = match form {
                "colon" => format!("{sign}{oh:02}:{om:02}"),
                "bare" => format!("{sign}{oh:02}{om:02}"),
                _ => format!(" {sign}{oh:02}"),
            };
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{zone}")
        };
        let (text, ns) = match form {
            0 => (format!("{base}.{ms:03}Z"), ns + i64::from(ms) * 1_000_000),
            1 => (format!("{base}+00:00"), ns),
            2 => (base.replace('T', " "), ns),
            3 => (
                zoned(
                    [60, -300, 330, -60][ms as usize % 4],
                    if ms % 2 == 0 { "colon" } else { "bare" },
                ),
                ns,
            ),
            4 => (zoned([0, 60, -120][ms as usize % 3], "hours"), ns),
            _ => (format!("{base}Z"), ns),
        };
        (Some(J::Str(text)), Ts::At(ns))
    });
    prop_oneof![
        6 => readable,
        1 => Just((None, Ts::Unusable)),
        1 => Just((Some(raw("null")), Ts::Unusable)),
        1 => prop::sample::select(vec![
            "yesterday", "", "2022-13-01T00:00:00Z", "2022-06-11T20:38:00+1",
            "2026-03-01T25:00:00Z", "2026-03-01T11:59", "２０２６-03-01T11:59:00Z",
            // Impossible dates and times are not rolled over.
            "2023-02-31T16:12:16Z", "2025-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
            "2026-04-31T11:00:00Z", "2026-03-01T11:59:60Z", "2026-03-01T11:59:00+24:00",
        ])
        .prop_map(|t| (Some(s(t)), Ts::Unusable)),
        1 => junk().prop_map(|t| (Some(J::Str(t)), Ts::Unusable)),
        1 => prop::sample::select(vec!["1772366390", "true", "[]", "{}"]).prop_map(|t| (Some(raw(t)), Ts::Unusable)),
    ]
    .boxed()
}

/// The time a line must carry.
pub(crate) fn line_time(ts: Ts, o: &Opts) -> i64 {
    match ts {
        _ if o.receive => R,
        Ts::At(t) if (EARLIEST..=R + HOUR).contains(&t) => t,
        _ => R,
    }
}

// ---------------------------------------------------------------------------
// Topics and options.

#[derive(Debug, Clone)]
pub(crate) struct Opts {
    pub(crate) prefix: String,
    pub(crate) meter_tags: bool,
    pub(crate) receive: bool,
    pub(crate) note_level: Level,
}

impl Opts {
    pub(crate) fn flattener(&self) -> Flattener {
        Flattener::new(FlattenOptions {
            prefix: self.prefix.clone(),
            timestamp: if self.receive {
                TimestampSource::Receive
            } else {
                TimestampSource::Meter
            },
            meter_tags: self.meter_tags,
            note_level: self.note_level,
        })
    }

    pub(crate) fn topic(&self, rest: &str) -> String {
        format!("{}/{rest}", self.prefix.trim_end_matches('/'))
    }
}

pub(crate) fn opts() -> BoxedStrategy<Opts> {
    (
        prop_oneof![
            4 => Just("glow".to_owned()),
            1 => Just("energy".to_owned()),
            1 => Just("home/glow/".to_owned()),
            1 => "[a-z0-9_]{1,6}(/[a-z0-9_]{1,6}){0,2}",
        ],
        any::<bool>(),
        prop::bool::weighted(0.25),
        prop::sample::select(vec![Level::Warn, Level::Info, Level::Debug]),
    )
        .prop_map(|(prefix, meter_tags, receive, note_level)| Opts {
            prefix,
            meter_tags,
            receive,
            note_level,
        })
        .boxed()
}

/// A device or sensor id that a topic segment can carry: CAD MACs mostly,
/// odd characters too (no `/`, wildcard, white space or control character).
pub(crate) fn device() -> BoxedStrategy<String> {
    prop_oneof![
        6 => "[0-9A-F]{12}",
        2 => r#"[0-9A-Za-z,="'.:_\\é😀-]{1,12}"#,
        1 => r"[^/+#\s\x00-\x1f\x7f-\x9f]{1,16}",
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// Expected output.

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Want {
    F(f64),
    /// A float within 1e-12 relative (conversions with more than one step).
    Approx(f64),
    I(i64),
    S(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Expected {
    pub(crate) measurement: &'static str,
    pub(crate) tags: Vec<(&'static str, String)>,
    pub(crate) fields: Vec<(&'static str, Want)>,
    pub(crate) time: i64,
}

/// A generated message: topic (after the prefix, or whole for the hex feed),
/// payload, and the lines it must produce under given options.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    /// `None`: a legacy topic, independent of the prefix.
    pub(crate) rest: Option<String>,
    pub(crate) legacy_topic: String,
    pub(crate) payload: String,
    pub(crate) model: Model,
}

#[derive(Debug, Clone)]
pub(crate) enum Model {
    Meter(Box<MeterModel>),
    State(Box<StateModel>),
    Sensor(Box<SensorModel>),
    Legacy(Box<LegacyModel>),
}

impl Case {
    pub(crate) fn topic(&self, o: &Opts) -> String {
        match &self.rest {
            Some(rest) => o.topic(rest),
            None => self.legacy_topic.clone(),
        }
    }

    pub(crate) fn expected(&self, o: &Opts) -> Vec<Expected> {
        match &self.model {
            Model::Meter(m) => m.expected(o),
            Model::State(m) => m.expected(o),
            Model::Sensor(m) => m.expected(o),
            Model::Legacy(m) => m.expected(o),
        }
    }
}

/// A tag value as written: trimmed, backslashes as `/`, control characters
/// (C0, DEL and C1) as spaces; `None` when nothing is left (no empty tags).
pub(crate) fn tag_value(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| {
        v.chars()
            .map(|c| match c {
                '\\' => '/',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect()
    })
}

/// A string field as written: control characters (C0, DEL and C1) as spaces.
pub(crate) fn string_value(v: &str) -> String {
    v.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// MPAN/MPRN/supplier values a device sends when it has none (README).
pub(crate) fn is_placeholder(v: &str) -> bool {
    let v = v.trim();
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
        || v.chars().all(|c| "-—–*_? ".contains(c))
}

/// The tag an identity value becomes, if any (README, Tags): an MPAN core
/// is 13 digits, an MPRN 6 to 10, spaces and inner hyphens allowed, written
/// as the digits; a supplier is a name (a letter, not a placeholder).
pub(crate) fn identity_tag(key: &str, v: &str) -> Option<String> {
    let v = v.trim();
    let digits = |range: std::ops::RangeInclusive<usize>| {
        let ok = v
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
            && !v.starts_with('-')
            && !v.ends_with('-');
        let d: String = v.chars().filter(char::is_ascii_digit).collect();
        (ok && range.contains(&d.len())).then_some(d)
    };
    match key {
        "mpan" => digits(13..=13),
        "mprn" => digits(6..=10),
        _ if is_placeholder(v) || !v.chars().any(char::is_alphabetic) => None,
        _ => tag_value(v),
    }
}

/// A number through a unit: `None` when it must be left out.
pub(crate) fn convert(n: N, unit: Conv) -> Option<Want> {
    let N::V(v) = n else { return None };
    let (f, exact) = match unit {
        Conv::Exact(f) => (f, true),
        Conv::Approx(f) => (f, false),
        Conv::Drop => return None,
    };
    let out = f(v);
    out.is_finite().then_some(if exact {
        Want::F(out)
    } else {
        Want::Approx(out)
    })
}

pub(crate) fn whole(n: N) -> Option<Want> {
    match n {
        N::V(v) if v.fract() == 0.0 && v.abs() < 9e15 => Some(Want::I(v as i64)),
        _ => None,
    }
}

pub(crate) fn push(fields: &mut Vec<(&'static str, Want)>, key: &'static str, want: Option<Want>) {
    if let Some(w) = want {
        fields.push((key, w));
    }
}

pub(crate) fn line(
    measurement: &'static str,
    tags: Vec<(&'static str, String)>,
    fields: Vec<(&'static str, Want)>,
    ts: Ts,
    o: &Opts,
) -> Vec<Expected> {
    if fields.is_empty() {
        return Vec::new();
    }
    vec![Expected {
        measurement,
        tags,
        fields,
        time: line_time(ts, o),
    }]
}

// ---------------------------------------------------------------------------
// electricitymeter and gasmeter.

#[derive(Debug, Clone)]
pub(crate) struct MeterModel {
    pub(crate) gas: bool,
    pub(crate) device: String,
    /// The payload's top key names the topic's kind.
    pub(crate) envelope_ok: bool,
    pub(crate) ts: Ts,
    pub(crate) import_ok: bool,
    pub(crate) export_ok: bool,
    pub(crate) price_ok: bool,
    pub(crate) power_ok: bool,
    pub(crate) nums: [N; 12],
    /// Units of import energy, power, cumulativevol, dayvol/weekvol/monthvol.
    pub(crate) units: [Conv; 4],
    /// Unit of the export register (kept apart from import's).
    pub(crate) export_unit: Conv,
    /// dayweekmonthvolunits names an energy.
    pub(crate) period_energy: bool,
    pub(crate) mpan: T,
    pub(crate) mprn: T,
    pub(crate) supplier: T,
    /// The identity fields were read (their parent objects were objects).
    pub(crate) identity_ok: bool,
}

/// Indices into `MeterModel::nums`.
pub(crate) const CUMULATIVE: usize = 0;
pub(crate) const DAY: usize = 1;
pub(crate) const WEEK: usize = 2;
pub(crate) const MONTH: usize = 3;
pub(crate) const VOL: usize = 4;
pub(crate) const DAYVOL: usize = 5;
pub(crate) const WEEKVOL: usize = 6;
pub(crate) const MONTHVOL: usize = 7;
pub(crate) const UNITRATE: usize = 8;
pub(crate) const STANDING: usize = 9;
pub(crate) const EXPORT: usize = 10;
pub(crate) const POWER: usize = 11;

/// Zigbee's invalid register values as the JSON feed scales them (README,
/// Metrics): all ones for the register's width (48 bits for `cumulative`,
/// `cumulativevol` and `export.cumulative`, 24 for the day and week, 32 or
/// 24 for the month) and -2^23 for `power`, divided by 1 to 10^6.
pub(crate) fn invalid_register(i: usize, v: f64) -> bool {
    let raws: &[i64] = match i {
        CUMULATIVE | VOL | EXPORT => &[(1 << 48) - 1],
        DAY | WEEK | DAYVOL | WEEKVOL => &[(1 << 24) - 1],
        MONTH | MONTHVOL => &[(1 << 32) - 1, (1 << 24) - 1],
        POWER => &[-(1 << 23)],
        _ => &[],
    };
    raws.iter()
        .any(|&r| (0..=6).any(|k| v == r as f64 / 10f64.powi(k)))
}

impl MeterModel {
    pub(crate) fn expected(&self, o: &Opts) -> Vec<Expected> {
        if !self.envelope_ok {
            return Vec::new();
        }
        let [energy, power, volume, period] = self.units;
        let n = |i: usize, ok: bool| match self.nums[i] {
            _ if !ok => N::Absent,
            N::V(v) if invalid_register(i, v) => N::Absent,
            other => other,
        };
        let imp = self.import_ok;
        let mut f = Vec::new();
        let cumulative = convert(n(CUMULATIVE, imp), energy);
        push(
            &mut f,
            "cumulative",
            cumulative.filter(|w| *w != Want::F(0.0) && *w != Want::Approx(0.0)),
        );
        push(&mut f, "day", convert(n(DAY, imp), energy));
        push(&mut f, "week", convert(n(WEEK, imp), energy));
        push(&mut f, "month", convert(n(MONTH, imp), energy));
        if self.gas {
            push(&mut f, "cumulativevol", convert(n(VOL, imp), volume));
            if !self.period_energy {
                push(&mut f, "dayvol", convert(n(DAYVOL, imp), period));
                push(&mut f, "weekvol", convert(n(WEEKVOL, imp), period));
                push(&mut f, "monthvol", convert(n(MONTHVOL, imp), period));
            }
        }
        push(
            &mut f,
            "export.cumulative",
            convert(n(EXPORT, self.export_ok), self.export_unit),
        );
        let p = convert(n(POWER, self.power_ok), power);
        push(&mut f, "power", p);
        push(
            &mut f,
            "price.unitrate",
            convert(n(UNITRATE, self.price_ok), Conv::Exact(same)),
        );
        push(
            &mut f,
            "price.standingcharge",
            convert(n(STANDING, self.price_ok), Conv::Exact(same)),
        );
        let mut tags = vec![("device", tag_value(&self.device).expect("device id"))];
        if o.meter_tags && self.identity_ok {
            let (key, id) = if self.gas {
                ("mprn", &self.mprn)
            } else {
                ("mpan", &self.mpan)
            };
            for (key, value) in [(key, id), ("supplier", &self.supplier)] {
                if let T::S(v) = value {
                    tags.extend(identity_tag(key, v).map(|v| (key, v)));
                }
            }
        }
        line(
            if self.gas {
                "gasmeter"
            } else {
                "electricitymeter"
            },
            tags,
            f,
            self.ts,
            o,
        )
    }
}

prop_compose! {
    pub(crate) fn meter_case()(
        gas in any::<bool>(),
        old_gas in any::<bool>(),
        device in device(),
        envelope_ok in prop::bool::weighted(0.95),
        ts in timestamp(),
        shapes in vec(shape(), 5),
        nums in vec(num(), 12),
        elec_vol in prop::bool::weighted(0.2),
        energy in energy_unit(),
        export_unit in energy_unit(),
        power in power_unit(),
        volume in volume_unit(),
        period in prop_oneof![3 => prop::sample::select(vec!["kWh", "kwh", "Wh"]).prop_map(|t| (Some(s(t)), Conv::Drop)), 1 => period_unit()],
        mpan in text(),
        mprn in text(),
        supplier in text(),
        extra in text(),
        early in prop::bool::weighted(0.2),
        st in style(),
    ) -> Case {
        let name = if gas { "gasmeter" } else { "electricitymeter" };
        // Early local firmware (README, firmware generations): the import
        // register spelt `cummulative`; price, export and the identity
        // directly in the meter object, where a broken `energy` or `import`
        // cannot take them along.
        let j = |i: usize| nums[i].0.clone();
        let period_energy = matches!(&period.0, Some(J::Str(u)) if ["kwh", "wh"].contains(&u.to_ascii_lowercase().as_str()));
        // Current gas firmware has *vol fields and no export/power; older
        // gas firmware and electricity have export and power.
        let current_gas = gas && !old_gas;
        let identity = vec![("mpan", mpan.0.clone()), ("mprn", mprn.0.clone()), ("supplier", supplier.0.clone())];
        let mut import = vec![
            (if early { "cummulative" } else { "cumulative" }, j(CUMULATIVE)), ("day", j(DAY)), ("week", j(WEEK)), ("month", j(MONTH)),
            ("units", energy.0.clone()),
        ];
        if !early {
            import.extend(identity.clone());
        }
        let mut used = vec![CUMULATIVE, DAY, WEEK, MONTH];
        let vol_fields = current_gas || !gas && elec_vol;
        if vol_fields {
            // Electricity payloads sometimes carry the gas-only fields too.
            import.extend([
                ("cumulativevol", j(VOL)), ("cumulativevolunits", volume.0.clone()),
                ("dayvol", j(DAYVOL)), ("weekvol", j(WEEKVOL)), ("monthvol", j(MONTHVOL)),
                ("dayweekmonthvolunits", period.0.clone()),
            ]);
            used.extend([VOL, DAYVOL, WEEKVOL, MONTHVOL]);
        }
        let (price, price_ok) = nest(&shapes[3], obj(vec![("unitrate", j(UNITRATE)), ("standingcharge", j(STANDING))]));
        let mut meter_level = Vec::new();
        if early {
            meter_level.push(("price", price));
            meter_level.extend(identity);
        } else {
            import.push(("price", price));
        }
        let (import, import_ok) = nest(&shapes[1], obj(import));
        if !import_ok {
            used.clear();
        }
        let mut energy_obj = vec![("import", import)];
        let mut export_ok = false;
        let mut power_obj = None;
        let mut power_ok = false;
        if !current_gas {
            let (export, ok) = nest(&shapes[2], obj(vec![("cumulative", j(EXPORT)), ("units", export_unit.0.clone())]));
            export_ok = ok;
            if early {
                meter_level.push(("export", export));
            } else {
                energy_obj.push(("export", export));
            }
            let (p, ok) = nest(&shapes[4], obj(vec![("value", j(POWER)), ("units", power.0.clone())]));
            power_ok = ok;
            power_obj = p;
        }
        let (energy_obj, energy_ok) = nest(&shapes[0], obj(energy_obj));
        if !energy_ok {
            used.clear();
            export_ok &= early;
        }
        let price_ok = price_ok && (early || import_ok && energy_ok);
        let identity_ok = early || import_ok && energy_ok;
        let import_ok = import_ok && energy_ok;
        if price_ok {
            used.extend([UNITRATE, STANDING]);
        }
        if export_ok {
            used.push(EXPORT);
        }
        if power_ok {
            used.push(POWER);
        }
        let mut values: [N; 12] = [N::Absent; 12];
        for (i, v) in values.iter_mut().enumerate() {
            *v = nums[i].1;
        }
        if !vol_fields {
            for i in [VOL, DAYVOL, WEEKVOL, MONTHVOL] {
                values[i] = N::Absent;
            }
        }
        let mut meter = vec![
            ("timestamp", ts.0.clone()),
            ("energy", energy_obj),
            ("power", power_obj),
            ("extra", extra.0.clone()),
        ];
        meter.extend(meter_level);
        let meter = obj(meter);
        let top = if envelope_ok { name } else if gas { "electricitymeter" } else { "gasmeter" };
        let payload = obj(vec![(top, Some(meter))]).render(st);
        let model = MeterModel {
            gas, device: device.clone(), envelope_ok, ts: ts.1,
            import_ok, export_ok, price_ok, power_ok,
            nums: values,
            units: [energy.1, power.1, volume.1, period.1],
            export_unit: export_unit.1,
            period_energy,
            mpan: mpan.1, mprn: mprn.1, supplier: supplier.1, identity_ok,
        };
        Case {
            rest: Some(format!("{device}/SENSOR/{name}")),
            legacy_topic: String::new(),
            payload,
            model: Model::Meter(Box::new(model)),
        }
    }
}

// ---------------------------------------------------------------------------
// STATE.

#[derive(Debug, Clone)]
pub(crate) struct StateModel {
    pub(crate) device: String,
    pub(crate) ts: Ts,
    pub(crate) han_ok: bool,
    pub(crate) rssi: N,
    pub(crate) lqi: N,
    /// han.status, software, hardware, zigbee, smetsversion, ethmac, wifistamac.
    pub(crate) texts: Vec<T>,
}

impl StateModel {
    pub(crate) fn expected(&self, o: &Opts) -> Vec<Expected> {
        let mut f = Vec::new();
        let text = |t: &T| match t {
            T::S(s) => Some(Want::S(string_value(s))),
            T::Absent => None,
        };
        if self.han_ok {
            push(&mut f, "han.rssi", whole(self.rssi));
            push(&mut f, "han.lqi", whole(self.lqi));
            push(&mut f, "han.status", text(&self.texts[0]));
        }
        for (i, key) in ["software", "hardware", "zigbee", "smetsversion"]
            .into_iter()
            .enumerate()
        {
            push(&mut f, key, text(&self.texts[i + 1]));
        }
        push(
            &mut f,
            "mac",
            // wifistamac, else ethmac.
            text(&self.texts[6]).or_else(|| text(&self.texts[5])),
        );
        let tags = vec![("device", tag_value(&self.device).expect("device id"))];
        line("cadstate", tags, f, self.ts, o)
    }
}

/// Whole numbers for RSSI/LQI, with the rest of `num()` mixed in.
pub(crate) fn int_num() -> BoxedStrategy<(Option<J>, N)> {
    prop_oneof![
        3 => (-200i64..300).prop_map(|n| num_from_text(n.to_string())),
        1 => prop::sample::select(vec!["-90.0", "-60.5", "1e300", "9007199254740992", "-0"])
            .prop_map(|t| num_from_text(t.to_owned())),
        2 => num(),
    ]
    .boxed()
}

prop_compose! {
    pub(crate) fn state_case()(
        device in device(),
        ts in timestamp(),
        han in shape(),
        rssi in int_num(),
        lqi in int_num(),
        texts in vec(text(), 7),
        extra in text(),
        dup in prop::option::weighted(0.3, text()),
        st in style(),
    ) -> Case {
        let (han, han_ok) = nest(&han, obj(vec![("rssi", rssi.0.clone()), ("lqi", lqi.0.clone()), ("status", texts[0].0.clone())]));
        // A duplicated key: the last value wins (here the model's), as in
        // meter payloads; the message is never dropped over it.
        let dup = dup.and_then(|d| d.0).filter(|_| texts[1].0.is_some()).map(|d| ("software", Some(d)));
        let (first, last) = if st.reverse_keys { (None, dup) } else { (dup, None) };
        let payload = obj(first.into_iter().chain([
            ("timestamp", ts.0.clone()), ("han", han), ("software", texts[1].0.clone()),
            ("hardware", texts[2].0.clone()), ("zigbee", texts[3].0.clone()),
            ("smetsversion", texts[4].0.clone()), ("ethmac", texts[5].0.clone()),
            ("wifistamac", texts[6].0.clone()), ("eui", extra.0.clone()),
        ]).chain(last).collect())
        .render(st);
        Case {
            rest: Some(format!("{device}/STATE")),
            legacy_topic: String::new(),
            payload,
            model: Model::State(Box::new(StateModel {
                device, ts: ts.1, han_ok, rssi: rssi.1, lqi: lqi.1,
                texts: texts.into_iter().map(|t| t.1).collect(),
            })),
        }
    }
}

// ---------------------------------------------------------------------------
// glowsensorth1.

#[derive(Debug, Clone)]
pub(crate) struct EntryModel {
    pub(crate) ts: Ts,
    /// temperature, humidity, battery: whether an object, value, unit.
    pub(crate) quantities: Vec<(bool, N, Conv)>,
    pub(crate) rssi: (bool, N),
    pub(crate) status: T,
}

#[derive(Debug, Clone)]
pub(crate) struct SensorModel {
    pub(crate) device: String,
    pub(crate) topic_sensor: String,
    /// The payload has a `glowsensorth1` object.
    pub(crate) envelope_ok: bool,
    /// By id; `None`: the entry is not an object.
    pub(crate) entries: BTreeMap<String, Option<EntryModel>>,
}

impl SensorModel {
    pub(crate) fn expected(&self, o: &Opts) -> Vec<Expected> {
        if !self.envelope_ok {
            return Vec::new();
        }
        let mut lines = Vec::new();
        for (id, entry) in &self.entries {
            let Some(e) = entry else { continue };
            let mut f = Vec::new();
            for (key, (ok, n, unit)) in ["temperature", "humidity", "battery"]
                .into_iter()
                .zip(&e.quantities)
            {
                if *ok {
                    push(&mut f, key, convert(*n, *unit));
                }
            }
            if e.rssi.0 {
                push(&mut f, "rssi", whole(e.rssi.1));
            }
            if let T::S(s) = &e.status {
                f.push(("status", Want::S(string_value(s))));
            }
            let sensor = tag_value(id)
                .or_else(|| tag_value(&self.topic_sensor))
                .expect("sensor id");
            let tags = vec![
                ("device", tag_value(&self.device).expect("device id")),
                ("sensor", sensor),
            ];
            lines.extend(line("glowsensorth1", tags, f, e.ts, o));
        }
        lines
    }
}

prop_compose! {
    pub(crate) fn entry()(
        ts in timestamp(),
        shapes in vec(shape(), 4),
        values in vec(num(), 4),
        temp_unit in temperature_unit(),
        units in vec(percent_unit(), 2),
        rssi_unit in text(),
        status in text(),
        not_object in prop::option::weighted(0.1, prop::sample::select(vec!["null", "\"x\"", "1", "[]"])),
    ) -> (J, Option<EntryModel>) {
        if let Some(r) = not_object {
            return (raw(r), None);
        }
        let mut members = vec![("timestamp", ts.0.clone())];
        let mut quantities = Vec::new();
        let unit_of = [&temp_unit, &units[0], &units[1]];
        for (i, key) in ["temperature", "humidity", "battery"].into_iter().enumerate() {
            let (q, ok) = nest(&shapes[i], obj(vec![("value", values[i].0.clone()), ("units", unit_of[i].0.clone())]));
            members.push((key, q));
            quantities.push((ok, values[i].1, unit_of[i].1));
        }
        let (q, rssi_ok) = nest(&shapes[3], obj(vec![("value", values[3].0.clone()), ("units", rssi_unit.0.clone())]));
        members.push(("rssi", q));
        members.push(("status", status.0.clone()));
        members.push(("advname", Some(s("GlowSensorTH_X"))));
        let model = EntryModel { ts: ts.1, quantities, rssi: (rssi_ok, values[3].1), status: status.1 };
        (obj(members), Some(model))
    }
}

prop_compose! {
    pub(crate) fn sensor_case()(
        device in device(),
        topic_sensor in device(),
        ids in vec(prop_oneof![4 => device(), 1 => hostile()], 1..4),
        entries in vec(entry(), 3),
        envelope in shape(),
        st in style(),
    ) -> Case {
        let mut map = BTreeMap::new();
        let mut members = Vec::new();
        for (id, (json, model)) in ids.iter().zip(entries) {
            if map.contains_key(id) {
                continue;
            }
            // A duplicated key written ahead of the real one: the last value
            // wins, as in meter payloads.
            let json = match json {
                J::Obj(mut m) if m.iter().any(|(k, _)| k == "status") => {
                    let dup = ("status".to_owned(), s("pairing"));
                    if st.reverse_keys { m.push(dup) } else { m.insert(0, dup) }
                    J::Obj(m)
                }
                other => other,
            };
            map.insert(id.clone(), model);
            members.push((id.clone(), json));
        }
        let (body, envelope_ok) = nest(&envelope, J::Obj(members));
        let payload = obj(vec![("glowsensorth1", body)]).render(st);
        Case {
            rest: Some(format!("{device}/SENSOR/glowsensorth1/{topic_sensor}")),
            legacy_topic: String::new(),
            payload,
            model: Model::Sensor(Box::new(SensorModel {
                device, topic_sensor, envelope_ok, entries: map,
            })),
        }
    }
}

// ---------------------------------------------------------------------------
// The older hex feed.

/// A hex attribute and its value (`None`: missing or unreadable).
pub(crate) fn hex() -> BoxedStrategy<(Option<J>, Option<u64>)> {
    prop_oneof![
        6 => (any::<u64>(), 1usize..17, any::<bool>(), prop::bool::weighted(0.1)).prop_map(|(v, digits, upper, padded)| {
            let v = if digits == 16 { v } else { v & ((1u64 << (4 * digits)) - 1) };
            let mut t = format!("{v:0digits$x}");
            if upper {
                t = t.to_uppercase();
            }
            if padded {
                t = format!(" {t} ");
            }
            (Some(J::Str(t)), Some(v))
        }),
        1 => prop::sample::select(vec!["", "xyz", "11112222333344445", "-1", "0x10"]).prop_map(|t| (Some(s(t)), None)),
        1 => prop::sample::select(vec!["5", "null", "[]", "{}"]).prop_map(|t| (Some(raw(t)), None)),
        1 => Just((None, None)),
    ]
    .boxed()
}

/// Multipliers and divisors: mostly the small ones meters use.
pub(crate) fn scale() -> BoxedStrategy<(Option<J>, Option<u64>)> {
    prop_oneof![
        4 => prop::sample::select(vec![("000001", 1), ("0003E8", 1000), ("000064", 100), ("0", 0), ("000A", 10)])
            .prop_map(|(t, v)| (Some(s(t)), Some(v))),
        1 => hex(),
    ]
    .boxed()
}

pub(crate) fn unit_code() -> BoxedStrategy<(Option<J>, Option<u64>)> {
    prop_oneof![
        6 => prop::sample::select(vec![("00", 0u64), ("80", 0x80), ("01", 1), ("81", 0x81), ("02", 2), ("03", 3), ("04", 4), ("7F", 0x7f)])
            .prop_map(|(t, v)| (Some(s(t)), Some(v))),
        1 => hex(),
    ]
    .boxed()
}

pub(crate) fn signed(raw: u64, bits: u32) -> i64 {
    let v = (raw & ((1u64 << bits) - 1)) as i64;
    if v >= 1 << (bits - 1) {
        v - (1 << bits)
    } else {
        v
    }
}

/// Measurement, identity tag key, identity, supplier, fields.
pub(crate) type LegacyReading = (
    &'static str,
    &'static str,
    Option<String>,
    Option<String>,
    Vec<(&'static str, Want)>,
);

#[derive(Debug, Clone)]
pub(crate) struct LegacyModel {
    pub(crate) device: String,
    pub(crate) ts: Ts,
    /// The readings the message holds (hex meters, then cadstate).
    pub(crate) readings: Vec<LegacyReading>,
}

impl LegacyModel {
    pub(crate) fn expected(&self, o: &Opts) -> Vec<Expected> {
        let device = tag_value(&self.device).expect("device id");
        let mut lines = Vec::new();
        for (measurement, id_key, id, supplier, fields) in &self.readings {
            if fields.is_empty() {
                continue;
            }
            let mut tags = vec![("device", device.clone())];
            if o.meter_tags {
                for (key, v) in [(*id_key, id), ("supplier", supplier)] {
                    if let Some(v) = v.as_deref() {
                        tags.extend(identity_tag(key, v).map(|v| (key, v)));
                    }
                }
            }
            lines.push(Expected {
                measurement,
                tags,
                fields: fields.clone(),
                time: line_time(self.ts, o),
            });
        }
        lines
    }
}

/// Seconds as a JSON value, and the value the hex feed takes from it.
pub(crate) fn gmtime() -> BoxedStrategy<(Option<J>, Option<i64>)> {
    prop_oneof![
        4 => civil().prop_map(|(y, mo, d, h, mi, s)| {
            let t = epoch(y, mo, d, h, mi, s);
            (Some(raw(&t.to_string())), Some(t))
        }),
        1 => prop::sample::select(vec![i64::MAX, i64::MIN, -1, 0, 1_000_000_000_000_000, -62_167_219_200])
            .prop_map(|t| (Some(raw(&t.to_string())), Some(t))),
        1 => prop::sample::select(vec!["1.6e9", "\"1620153000\"", "null", "18446744073709551615", "[]"])
            .prop_map(|t| (Some(raw(t)), None)),
        2 => Just((None, None)),
    ]
    .boxed()
}

prop_compose! {
    pub(crate) fn meter_hex()(
        units in unit_code(), multiplier in scale(), divisor in scale(),
        values in vec(hex(), 11), id in text(), supplier in text(),
        shape in prop::option::weighted(0.1, prop::sample::select(vec!["\"x\"", "null", "[]", "5"])),
    ) -> (Option<J>, Vec<Option<u64>>, Option<String>, Option<String>, bool, bool) {
        if let Some(r) = shape {
            return (Some(raw(r)), Vec::new(), None, None, false, false);
        }
        // `null` counts as missing, as in local payloads.
        let unit_present = match &units.0 {
            None => false,
            Some(J::Raw(r)) => r != "null",
            Some(_) => true,
        };
        let v = |i: usize| values[i].0.clone();
        let id_text = match &id.0 { Some(J::Str(s)) => Some(s.clone()), _ => None };
        let supplier_text = match &supplier.0 { Some(J::Str(s)) => Some(s.clone()), _ => None };
        let json = obj(vec![
            ("0702", Some(obj(vec![
                ("03", Some(obj(vec![("00", units.0.clone()), ("01", multiplier.0.clone()), ("02", divisor.0.clone()), ("07", id.0.clone())]))),
                ("00", Some(obj(vec![("00", v(0)), ("01", v(1))]))),
                ("04", Some(obj(vec![("00", v(2)), ("01", v(3)), ("30", v(4)), ("40", v(5))]))),
                ("0C", Some(obj(vec![("01", v(6)), ("30", v(7)), ("40", v(8))]))),
            ]))),
            ("0708", Some(obj(vec![("01", Some(obj(vec![("01", supplier.0.clone())])))]))),
        ]);
        let text = |j: &Option<J>| match j { Some(J::Str(t)) => t.clone(), _ => String::new() };
        // Multiplier and divisor are 24-bit: invalid, the meter is left out.
        let scale_ok = [&multiplier, &divisor].iter().all(|(j, v)| v.is_none_or(|v| hex_register(&text(j), v, 24, false, false).is_some()));
        let mut decoded = vec![units.1, multiplier.1, divisor.1];
        // 00.00, 00.01: 48 bits; 04.00 signed 24; 04.01, 04.30, 0C.01,
        // 0C.30: 24; 04.40, 0C.40: 32.
        let registers = [(48, false, false), (48, false, false), (24, true, false), (24, false, false), (24, false, false), (32, false, true),
            (24, false, false), (24, false, false), (32, false, true)];
        decoded.extend(values.iter().enumerate().map(|(i, (j, v))| match registers.get(i) {
            Some(&(bits, signed_reg, month)) => v.and_then(|v| hex_register(&text(j), v, bits, signed_reg, month)),
            None => *v,
        }));
        (Some(json), decoded, id_text, supplier_text, scale_ok, unit_present)
    }
}

/// A hex register's value by the register rule (README, the older cloud
/// format): `None` when it is Zigbee's invalid value for its width (all
/// ones, in the register's width or in six or more digits as written; the
/// smallest number for the signed demand) or more than the register holds.
/// The demand is sign-extended over the digits written (at least 24 bits)
/// and kept as its 24-bit two's complement.
pub(crate) fn hex_register(
    text: &str,
    v: u64,
    bits: u32,
    signed_reg: bool,
    month: bool,
) -> Option<u64> {
    let t = text.trim();
    if signed_reg {
        let width = (t.len() as u32 * 4).clamp(24, 64);
        let s = if width == 64 {
            v as i64
        } else {
            signed(v, width)
        };
        if s <= -(1 << 23) || s >= 1 << 23 {
            return None;
        }
        return Some(s as u64 & 0xFF_FFFF);
    }
    if t.len() >= 6 && t.chars().all(|c| c == 'f' || c == 'F') {
        return None;
    }
    let max = (1u64 << bits) - 1;
    if v >= max || month && v == 0xFF_FFFF {
        return None;
    }
    Some(v)
}

/// Indices into a decoded hex meter.
pub(crate) const H_UNIT: usize = 0;
pub(crate) const H_MUL: usize = 1;
pub(crate) const H_DIV: usize = 2;
pub(crate) const H_SUM: usize = 3;
pub(crate) const H_RECEIVED: usize = 4;
pub(crate) const H_DEMAND: usize = 5;
pub(crate) const H_PERIODS: usize = 6;
pub(crate) const H_ALT_PERIODS: usize = 9;

/// What a hex meter's unit of measure (`0702.03.00`) makes of its registers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum HexUnit {
    Energy,
    /// A volume, with its factor to m3.
    Volume(f64),
    Unknown,
}

pub(crate) fn hex_unit(h: &[Option<u64>], unit_present: bool, gas: bool) -> HexUnit {
    if !unit_present {
        // Electricity is always in kWh; a gas meter may count either.
        return if gas {
            HexUnit::Unknown
        } else {
            HexUnit::Energy
        };
    }
    match h[H_UNIT].map(|u| u & 0x7f) {
        Some(0) => HexUnit::Energy,
        Some(1) => HexUnit::Volume(1.0),
        Some(2) => HexUnit::Volume(FT3),
        Some(3) => HexUnit::Volume(100.0 * FT3),
        _ => HexUnit::Unknown,
    }
}

/// The fields a hex meter must give (README, the older cloud format):
/// energy meters their registers, periods from `04.xx` or else `0C.xx`;
/// gas meters counting a volume `cumulativevol` and `*vol` in m3 and
/// day/week/month from `0C.xx`; an unknown unit only `0C.xx`; an
/// electricity meter counting a volume nothing.
pub(crate) fn legacy_meter(
    h: &[Option<u64>],
    unit_present: bool,
    gas: bool,
) -> Vec<(&'static str, Want)> {
    let (m, d) = (h[H_MUL].unwrap_or(1) as f64, h[H_DIV].unwrap_or(1) as f64);
    let scaled = |i: usize| h[i].map(|v| v as f64 * m / d);
    let mut f = Vec::new();
    let periods = ["day", "week", "month"];
    match hex_unit(h, unit_present, gas) {
        HexUnit::Energy => {
            push(
                &mut f,
                "cumulative",
                scaled(H_SUM).filter(|v| *v != 0.0).map(Want::F),
            );
            for (i, key) in periods.into_iter().enumerate() {
                push(
                    &mut f,
                    key,
                    scaled(H_PERIODS + i)
                        .or(scaled(H_ALT_PERIODS + i))
                        .map(Want::F),
                );
            }
            push(&mut f, "export.cumulative", scaled(H_RECEIVED).map(Want::F));
            let power = h[H_DEMAND].map(|raw| signed(raw, 24) as f64 * m / d);
            push(&mut f, "power", power.map(Want::F));
        }
        HexUnit::Volume(_) if !gas => {}
        HexUnit::Volume(k) => {
            for (i, key) in periods.into_iter().enumerate() {
                push(&mut f, key, scaled(H_ALT_PERIODS + i).map(Want::F));
            }
            let want = |v: f64| {
                if k == 1.0 {
                    Want::F(v)
                } else {
                    Want::Approx(v * k)
                }
            };
            push(
                &mut f,
                "cumulativevol",
                scaled(H_SUM).filter(|v| *v != 0.0).map(want),
            );
            for (i, key) in ["dayvol", "weekvol", "monthvol"].into_iter().enumerate() {
                push(&mut f, key, scaled(H_PERIODS + i).map(want));
            }
        }
        HexUnit::Unknown => {
            for (i, key) in periods.into_iter().enumerate() {
                push(&mut f, key, scaled(H_ALT_PERIODS + i).map(Want::F));
            }
        }
    }
    f
}

prop_compose! {
    pub(crate) fn legacy_case()(
        device in device(),
        dcad in any::<bool>(),
        elec in meter_hex(),
        gas in meter_hex(),
        rssi in hex(), lqi in hex(), status in text(),
        hardware in text(), zigbee in text(), smets in text(),
        gm in gmtime(),
        hex_time in prop_oneof![hex(), gmtime().prop_map(|(_, t)| match t {
            Some(t) if t >= 0 => (Some(J::Str(format!("{t:X}"))), u64::try_from(t).ok()),
            _ => (None, None),
        })],
        ts in timestamp(),
        st in style(),
    ) -> Case {
        let plain = |t: &(Option<J>, T)| match &t.0 {
            Some(J::Str(s)) => Some(Want::S(string_value(s))),
            _ => None,
        };
        let payload = obj(vec![
            ("elecMtr", elec.0.clone()), ("gasMtr", gas.0.clone()), ("gmtime", gm.0.clone()),
            ("time", hex_time.0.clone()), ("ts", ts.0.clone()), ("hversion", hardware.0.clone()),
            ("zbSoftVer", zigbee.0.clone()), ("smetsVer", smets.0.clone()), ("gid", Some(s("00000000000000AA"))),
            ("pan", Some(obj(vec![("rssi", rssi.0.clone()), ("lqi", lqi.0.clone()), ("status", status.0.clone())]))),
        ])
        .render(st);
        let mut readings = Vec::new();
        // A meter counts if it is an object with a divisor other than 0.
        if elec.4 && elec.1[H_DIV] != Some(0) {
            readings.push(("electricitymeter", "mpan", elec.2.clone(), elec.3.clone(), legacy_meter(&elec.1, elec.5, false)));
        }
        if gas.4 && gas.1[H_DIV] != Some(0) {
            readings.push(("gasmeter", "mprn", gas.2.clone(), gas.3.clone(), legacy_meter(&gas.1, gas.5, true)));
        }
        let mut f = Vec::new();
        push(&mut f, "han.rssi", rssi.1.map(|r| Want::I(signed(r, 8))));
        push(&mut f, "han.lqi", lqi.1.and_then(|l| i64::try_from(l).ok()).map(Want::I));
        push(&mut f, "han.status", plain(&status));
        push(&mut f, "hardware", plain(&hardware));
        push(&mut f, "zigbee", plain(&zigbee));
        push(&mut f, "smetsversion", plain(&smets));
        readings.push(("cadstate", "", None, None, f));
        let at = |secs: i64| secs.checked_mul(NS).map_or(Ts::Unusable, Ts::At);
        let time = match (gm.1, hex_time.1.and_then(|t| i64::try_from(t).ok())) {
            (Some(t), _) | (None, Some(t)) => at(t),
            (None, None) => ts.1,
        };
        let kind = if dcad { "DCAD" } else { "HILD" };
        Case {
            rest: None,
            legacy_topic: format!("SMART/{kind}/{device}"),
            payload,
            model: Model::Legacy(Box::new(LegacyModel { device, ts: time, readings })),
        }
    }
}

pub(crate) fn any_case() -> BoxedStrategy<Case> {
    prop_oneof![
        4 => meter_case(),
        2 => state_case(),
        2 => sensor_case(),
        1 => legacy_case(),
    ]
    .boxed()
}
