//! The older Glow cloud feed (`SMART/HILD/<id>`, `SMART/DCAD/<id>`,
//! 2020-2022): one message for both meters, every value a hex string in
//! Zigbee Smart Energy clusters. Decoded into the same measurements and
//! fields as the current local format, so one dashboard shows both.
//!
//! Rare and small, so it is read into a `serde_json::Value` rather than a
//! typed model: clarity wins over speed here.
//!
//! The rule of this decoder: every value present in a message is either
//! written or named in a note. Each attribute is read through `Meter` or
//! `Root`, which remember what was read; whatever was not read is listed
//! in one debug note per object, and a value that was read but could not
//! be decoded is a warning naming its register.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::flatten::context::{excerpt, Context, Identity, Level};
use crate::flatten::reading::Reading;
use crate::flatten::tolerant::{Found, Text};
use crate::flatten::zigbee_register::Register;

/// Parses a hex string as an unsigned integer; `None` when it is not hex
/// or does not fit 64 bits (`from_str_radix` refuses empty text too).
pub fn decode_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim(), 16).ok()
}

/// Interprets the low `bits` of `raw` as a two's-complement signed number
/// (instantaneous demand is 24-bit signed, HAN RSSI 8-bit).
#[allow(clippy::cast_possible_wrap)]
pub fn to_signed(raw: u64, bits: u32) -> i64 {
    if bits == 0 || bits >= 64 {
        return raw as i64;
    }
    let mask = (1u64 << bits) - 1;
    let v = raw & mask;
    if v & (1u64 << (bits - 1)) != 0 {
        v as i64 - (1i64 << bits)
    } else {
        v as i64
    }
}

/// The Zigbee metering unit-of-measure code (attribute 0x0300), low 7 bits
/// (the high bit only says the value is BCD-formatted).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Measure {
    /// kWh (and kW for demand)
    Energy,
    /// Volume, with the factor to m3
    Volume(f64),
}

fn measure(code: u64) -> Option<Measure> {
    match code & 0x7f {
        0x00 => Some(Measure::Energy),
        0x01 => Some(Measure::Volume(1.0)),
        0x02 => Some(Measure::Volume(0.028_316_846_592)),
        0x03 => Some(Measure::Volume(2.831_684_659_2)),
        _ => None,
    }
}

/// A JSON value quoted for a note: a string as its text, anything else as
/// JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => excerpt(s),
        other => excerpt(&other.to_string()),
    }
}

/// Most register paths named in one "not decoded" note; the rest counted.
const MAX_LISTED: usize = 12;

/// Lists `paths` (already quoted) for a note, at most `MAX_LISTED` of them.
fn listing(paths: &[String]) -> String {
    let mut text = paths
        .iter()
        .take(MAX_LISTED)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > MAX_LISTED {
        text.push_str(&format!(" and {} more", paths.len() - MAX_LISTED));
    }
    text
}

/// Every leaf under `map`, as `key.key` paths below `path`, that is not in
/// `read` (paths relative to the meter or root object), quoted for a note.
fn unread(map: &Map<String, Value>, path: &str, read: &BTreeSet<String>, out: &mut Vec<String>) {
    for (k, v) in map {
        let child = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        if read.contains(&child) {
            continue;
        }
        match v {
            Value::Object(inner) if !inner.is_empty() => unread(inner, &child, read, out),
            _ => out.push(excerpt(&child)),
        }
    }
}

/// One meter object (`elecMtr` or `gasMtr`): its attributes, the scaling,
/// and which attributes have been read.
struct Meter<'v> {
    name: &'static str,
    obj: &'v Map<String, Value>,
    multiplier: f64,
    divisor: f64,
    read: BTreeSet<String>,
}

impl<'v> Meter<'v> {
    /// The raw JSON at `cluster.set.id`, marked as read.
    fn take(&mut self, cluster: &str, set: &str, id: &str) -> Option<&'v Value> {
        let v = self.obj.get(cluster)?.get(set)?.get(id)?;
        self.read.insert(format!("{cluster}.{set}.{id}"));
        Some(v).filter(|v| !v.is_null())
    }

    /// A text attribute (MPAN/MPRN, supplier), marked as read.
    fn text(&mut self, cluster: &str, set: &str, id: &str) -> Text<'v> {
        match self.take(cluster, set, id) {
            Some(Value::String(s)) => Text::Value(Cow::Borrowed(s)),
            Some(Value::Bool(_)) => Text::Invalid(Found::Bool),
            Some(Value::Number(_)) => Text::Invalid(Found::Number),
            Some(Value::Array(_)) => Text::Invalid(Found::Array),
            Some(_) => Text::Invalid(Found::Object),
            None => Text::Missing,
        }
    }

    /// A hex attribute, marked as read; a value that is not hex is a
    /// warning naming the register.
    fn hex(&mut self, ctx: &mut Context<'_>, cluster: &str, set: &str, id: &str) -> Option<u64> {
        self.hex_text(ctx, cluster, set, id).map(|(_, v)| v)
    }

    /// `hex`, with the text as the feed wrote it.
    fn hex_text(
        &mut self,
        ctx: &mut Context<'_>,
        cluster: &str,
        set: &str,
        id: &str,
    ) -> Option<(&'v str, u64)> {
        let v = self.take(cluster, set, id)?;
        let decoded = v.as_str().and_then(|t| Some((t, decode_hex(t)?)));
        if decoded.is_none() {
            ctx.note(
                Level::Warn,
                format_args!(
                    "{}.{cluster}.{set}.{id}: {} is not a hex number; left out",
                    self.name,
                    show(v)
                ),
            );
        }
        decoded
    }

    /// A register of cluster 0702 as a value of its width (Zigbee's
    /// invalid value, or more than it holds, is a warning naming it).
    fn register(
        &mut self,
        ctx: &mut Context<'_>,
        set: &str,
        id: &str,
        register: Register,
    ) -> Option<i64> {
        let (text, raw) = self.hex_text(ctx, "0702", set, id)?;
        match register.decode_hex(text, raw) {
            Ok(v) => Some(v),
            Err(why) => {
                ctx.note(
                    Level::Warn,
                    format_args!(
                        "{}.0702.{set}.{id}: {} is {why}; left out",
                        self.name,
                        excerpt(text.trim())
                    ),
                );
                None
            }
        }
    }

    /// A metering register (cluster 0702) × multiplier ÷ divisor; the
    /// instantaneous demand (04.00) is signed.
    #[allow(clippy::cast_precision_loss)]
    fn scaled(&mut self, ctx: &mut Context<'_>, set: &str, id: &str) -> Option<f64> {
        let register = match (set, id) {
            ("00", _) => Register::Summation,
            ("04", "00") => Register::Demand,
            (_, "40") => Register::Month,
            _ => Register::DayOrWeek,
        };
        self.register(ctx, set, id, register)
            .map(|v| v as f64 * self.multiplier / self.divisor)
    }

    /// Names, in one note, every register present that would have no field
    /// under this meter's unit, and marks them read.
    fn left_out(&mut self, ctx: &mut Context<'_>, registers: &[(&str, &str)], why: &str) {
        let mut present = Vec::new();
        for (set, id) in registers {
            if self.take("0702", set, id).is_some() {
                present.push(excerpt(&format!("0702.{set}.{id}")));
            }
        }
        if !present.is_empty() {
            ctx.note(
                Level::Warn,
                format_args!("{}: {} left out: {why}", self.name, listing(&present)),
            );
        }
    }

    /// The debug note listing every attribute of this meter not read.
    fn note_unread(&self, ctx: &mut Context<'_>) {
        let mut rest = Vec::new();
        unread(self.obj, "", &self.read, &mut rest);
        if !rest.is_empty() {
            ctx.note(
                Level::Debug,
                format_args!(
                    "{}: registers not decoded, left out: {}",
                    self.name,
                    listing(&rest)
                ),
            );
        }
    }
}

/// The message's top level: which members have been read.
struct Root<'v> {
    obj: &'v Map<String, Value>,
    read: BTreeSet<String>,
}

impl<'v> Root<'v> {
    fn take(&mut self, path: &[&str]) -> Option<&'v Value> {
        let (first, rest) = path.split_first()?;
        let mut v = self.obj.get(*first)?;
        for key in rest {
            v = v.get(key)?;
        }
        self.read.insert(path.join("."));
        Some(v).filter(|v| !v.is_null())
    }
}

/// The meter object `key` (`elecMtr`, `gasMtr`) and its scaling, or `None`
/// (with a note) when there is no meter to decode.
#[allow(clippy::cast_precision_loss)]
fn meter<'v>(ctx: &mut Context<'_>, root: &mut Root<'v>, name: &'static str) -> Option<Meter<'v>> {
    let value = root.take(&[name]);
    let obj = match value {
        None => return None,
        Some(Value::Object(obj)) if obj.is_empty() => {
            ctx.note(
                Level::Info,
                format_args!("{name} is empty (no such meter paired); nothing written for it"),
            );
            return None;
        }
        Some(Value::Object(obj)) => obj,
        Some(other) => {
            ctx.note(
                Level::Warn,
                format_args!(
                    "{name}: expected an object, found {}; left out",
                    show(other)
                ),
            );
            return None;
        }
    };
    let mut m = Meter {
        name,
        obj,
        multiplier: 1.0,
        divisor: 1.0,
        read: BTreeSet::new(),
    };
    // Multiplier and divisor scale every value: one that is Zigbee's
    // invalid value (or more than 24 bits) leaves the meter out. One that
    // is not hex at all is taken as 1, with its warning.
    let mut scale = [1.0; 2];
    for (i, id) in ["01", "02"].into_iter().enumerate() {
        let Some((text, raw)) = m.hex_text(ctx, "0702", "03", id) else {
            continue;
        };
        match Register::Scale.decode_hex(text, raw) {
            Ok(v) => scale[i] = v as f64,
            Err(why) => {
                ctx.note(
                    Level::Warn,
                    format_args!(
                        "{name}.0702.03.{id}: {} is {why}; meter left out",
                        excerpt(text.trim())
                    ),
                );
                return None;
            }
        }
    }
    let [multiplier, divisor] = scale;
    if divisor == 0.0 {
        ctx.note(
            Level::Warn,
            format_args!("{name}: divisor 0; meter left out"),
        );
        return None;
    }
    m.multiplier = multiplier;
    m.divisor = divisor;
    Some(m)
}

/// Flattens a legacy message into electricitymeter, gasmeter and cadstate
/// readings, all stamped with the message's `gmtime`.
pub(crate) fn flatten(ctx: &mut Context<'_>, payload: &[u8], device: &str) {
    let value: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(err) => {
            ctx.invalid_json(err);
            return;
        }
    };
    let Value::Object(obj) = &value else {
        ctx.note(Level::Warn, format_args!("not a JSON object; skipped"));
        return;
    };
    let mut root = Root {
        obj,
        read: BTreeSet::new(),
    };
    let mut readings = Vec::with_capacity(3);
    for (name, measurement, id) in [
        ("elecMtr", "electricitymeter", Identity::Mpan),
        ("gasMtr", "gasmeter", Identity::Mprn),
    ] {
        if let Some(mut m) = meter(ctx, &mut root, name) {
            readings.push(decode_meter(ctx, &mut m, measurement, id, device));
            m.note_unread(ctx);
        }
    }
    readings.push(state(ctx, &mut root, device));
    readings.retain(|r| !r.fields.is_empty());

    let time = message_time(&mut root);
    let mut rest = Vec::new();
    unread(obj, "", &root.read, &mut rest);
    if !rest.is_empty() {
        ctx.note(
            Level::Debug,
            format_args!("fields not decoded, left out: {}", listing(&rest)),
        );
    }
    let Some(t) = ctx.time(time.as_deref(), !readings.is_empty()) else {
        return;
    };
    for r in &mut readings {
        r.time_ns = t;
        ctx.emit(r);
    }
}

/// The three period registers: today, this week, this month.
const PERIODS: [(&str, &str, &str); 3] = [
    ("01", "day", "dayvol"),
    ("30", "week", "weekvol"),
    ("40", "month", "monthvol"),
];

/// Decodes one meter's registers into its reading, by its unit of measure:
///
/// - energy (`03.00` = 00; electricity without a unit too): `00.00`
///   cumulative, `00.01` export.cumulative, `04.00` power, `04.01/30/40`
///   day/week/month, and `0C.xx` (the alternative unit, kWh) for a period
///   `04.xx` does not carry;
/// - volume (m3, ft3, ccf): `00.00` cumulativevol, `04.xx`
///   dayvol/weekvol/monthvol (all in m3), `0C.xx` day/week/month (kWh);
///   `00.01` and `04.00` have no field in a volume and are named in a note;
/// - unknown (or a gas meter without a unit): only `0C.xx`, kWh whatever the
///   meter counts in; the other registers are named in a note.
fn decode_meter<'v>(
    ctx: &mut Context<'_>,
    m: &mut Meter<'v>,
    measurement: &'static str,
    id: Identity,
    device: &str,
) -> Reading<'v> {
    let gas = measurement == "gasmeter";
    let mut r = Reading::new(measurement, 0);
    r.tag("device", device.to_owned());
    let mut fields: Vec<(&'static str, f64)> = Vec::new();
    if let Some(kind) = m.hex(ctx, "0702", "03", "06") {
        // Zigbee metering device types: 0x00 electricity, 0x01 gas, 0x80
        // mirrored gas (what a CAD reports for a battery gas meter).
        let expected = if gas {
            matches!(kind, 0x01 | 0x80)
        } else {
            kind == 0x00
        };
        if !expected {
            ctx.note(
                Level::Warn,
                format_args!(
                    "{}.0702.03.06: device type {kind:#04x} is not {}; decoded as {} anyway",
                    m.name,
                    if gas { "gas" } else { "electricity" },
                    if gas { "gas" } else { "electricity" },
                ),
            );
        }
    }
    let unit = match m.take("0702", "03", "00") {
        None if !gas => Some(Measure::Energy),
        None => None,
        Some(_) => m.hex(ctx, "0702", "03", "00").and_then(|code| {
            let unit = measure(code);
            if unit.is_none() {
                ctx.note(
                    Level::Warn,
                    format_args!(
                        "{}.0702.03.00: unit of measure {code:#04x} is unknown",
                        m.name
                    ),
                );
            }
            unit
        }),
    };
    match unit {
        Some(Measure::Energy) => {
            match m.scaled(ctx, "00", "00") {
                Some(0.0) => ctx.note(
                    Level::Debug,
                    format_args!("{}.0702.00.00: 0 (a reboot glitch); left out", m.name),
                ),
                Some(v) => fields.push(("cumulative", v)),
                None => {}
            }
            for (id, key, _) in PERIODS {
                let primary = m.scaled(ctx, "04", id);
                let alternative = m.scaled(ctx, "0C", id);
                if primary.is_some() && alternative.is_some() {
                    ctx.note(
                        Level::Debug,
                        format_args!(
                            "{}.0702.0C.{id}: left out, 0702.04.{id} carries {key}",
                            m.name
                        ),
                    );
                }
                if let Some(v) = primary.or(alternative) {
                    fields.push((key, v));
                }
            }
            if let Some(v) = m.scaled(ctx, "00", "01") {
                fields.push(("export.cumulative", v));
            }
            if let Some(kw) = m.scaled(ctx, "04", "00") {
                fields.push(("power", kw));
            }
        }
        Some(Measure::Volume(_)) if !gas => {
            m.left_out(
                ctx,
                &[
                    ("00", "00"),
                    ("00", "01"),
                    ("04", "00"),
                    ("04", "01"),
                    ("04", "30"),
                    ("04", "40"),
                    ("0C", "01"),
                    ("0C", "30"),
                    ("0C", "40"),
                ],
                "an electricity meter whose unit is a volume",
            );
        }
        Some(Measure::Volume(to_m3)) => {
            for (id, key, _) in PERIODS {
                if let Some(v) = m.scaled(ctx, "0C", id) {
                    fields.push((key, v));
                }
            }
            match m.scaled(ctx, "00", "00") {
                Some(0.0) => ctx.note(
                    Level::Debug,
                    format_args!("{}.0702.00.00: 0 (a reboot glitch); left out", m.name),
                ),
                Some(v) => fields.push(("cumulativevol", v * to_m3)),
                None => {}
            }
            for (id, _, key) in PERIODS {
                if let Some(v) = m.scaled(ctx, "04", id) {
                    fields.push((key, v * to_m3));
                }
            }
            m.left_out(
                ctx,
                &[("00", "01"), ("04", "00")],
                "export and demand of a meter counting a volume have no field",
            );
        }
        None => {
            for (id, key, _) in PERIODS {
                if let Some(v) = m.scaled(ctx, "0C", id) {
                    fields.push((key, v));
                }
            }
            m.left_out(
                ctx,
                &[
                    ("00", "00"),
                    ("00", "01"),
                    ("04", "00"),
                    ("04", "01"),
                    ("04", "30"),
                    ("04", "40"),
                ],
                "no known unit of measure (0702.03.00)",
            );
        }
    }
    for (key, v) in fields {
        if v.is_finite() {
            r.float(key, v);
        } else {
            ctx.note(
                Level::Warn,
                format_args!("{}: {key} out of range after scaling; left out", m.name),
            );
        }
    }
    let id_text = m.text("0702", "03", "07");
    let supplier = m.text("0708", "01", "01");
    let name = m.name;
    ctx.identity_tag(&mut r, id, &format!("{name}.0702.03.07"), &id_text);
    ctx.identity_tag(
        &mut r,
        Identity::Supplier,
        &format!("{name}.0708.01.01"),
        &supplier,
    );
    r.fields
        .sort_by_key(|(k, _)| FIELD_ORDER.iter().position(|o| o == k));
    if r.fields.is_empty() {
        // No line to carry them: name what was read (identity, scaling).
        let read: Vec<String> = m.read.iter().map(|p| excerpt(p)).collect();
        ctx.note(
            Level::Debug,
            format_args!(
                "{name}: no reading, nothing written for it (read: {})",
                listing(&read)
            ),
        );
    }
    r
}

/// The schema's field order (README).
const FIELD_ORDER: [&str; 10] = [
    "cumulative",
    "day",
    "week",
    "month",
    "cumulativevol",
    "dayvol",
    "weekvol",
    "monthvol",
    "export.cumulative",
    "power",
];

/// The message time as text for `Context::time`: `gmtime` (epoch seconds),
/// else `time` (epoch as hex), else `ts` (UTC without zone).
fn message_time(root: &mut Root<'_>) -> Option<String> {
    let gmtime = root.take(&["gmtime"]).and_then(Value::as_i64);
    let hex = root
        .take(&["time"])
        .and_then(Value::as_str)
        .and_then(decode_hex)
        .and_then(|v| i64::try_from(v).ok());
    let ts = root.take(&["ts"]).and_then(Value::as_str);
    if let Some(secs) = gmtime.or(hex) {
        return Some(format_utc(secs));
    }
    ts.map(str::to_owned)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
fn format_utc(secs: i64) -> String {
    let t = crate::flatten::meter_time::civil_from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// The CAD's own state from the top level: HAN radio (`pan`), versions.
fn state<'p>(ctx: &mut Context<'_>, root: &mut Root<'_>, device: &str) -> Reading<'p> {
    let mut r = Reading::new("cadstate", 0);
    r.tag("device", device.to_owned());
    let mut pan_hex = |ctx: &mut Context<'_>, key: &str| {
        let v = root.take(&["pan", key])?;
        let decoded = v.as_str().and_then(decode_hex);
        if decoded.is_none() {
            ctx.note(
                Level::Warn,
                format_args!("pan.{key}: {} is not a hex number; left out", show(v)),
            );
        }
        decoded
    };
    if let Some(raw) = pan_hex(ctx, "rssi") {
        r.int("han.rssi", to_signed(raw, 8));
    }
    if let Some(raw) = pan_hex(ctx, "lqi") {
        match i64::try_from(raw) {
            Ok(v) => r.int("han.lqi", v),
            Err(_) => ctx.note(Level::Warn, format_args!("pan.lqi: out of range; left out")),
        }
    }
    for (key, path) in [
        ("han.status", &["pan", "status"][..]),
        ("hardware", &["hversion"][..]),
        ("zigbee", &["zbSoftVer"][..]),
        ("smetsversion", &["smetsVer"][..]),
    ] {
        match root.take(path) {
            Some(Value::String(s)) => r.text(key, s.clone()),
            Some(other) => ctx.note(
                Level::Warn,
                format_args!(
                    "{}: expected a string, found {}; left out",
                    path.join("."),
                    show(other)
                ),
            ),
            None => {}
        }
    }
    // `pan` itself is read when its members are.
    if root.obj.get("pan").is_some_and(|p| !p.is_object()) {
        root.take(&["pan"]);
        ctx.note(Level::Warn, format_args!("pan: not an object; left out"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_twos_complement() {
        assert_eq!(decode_hex("000009F3"), Some(2547));
        assert_eq!(decode_hex("0000004D64CC"), Some(5_072_076));
        assert_eq!(decode_hex(""), None);
        assert_eq!(decode_hex("XYZ"), None);
        assert_eq!(decode_hex("11112222333344445"), None);
        // Zero-padded wider than 16 digits is still the number it spells.
        assert_eq!(decode_hex("000000000000000009F3"), Some(2547));
        assert_eq!(to_signed(0x00FF_FFFF, 24), -1);
        assert_eq!(to_signed(0x80_0000, 24), -8_388_608);
        assert_eq!(to_signed(0x7F_FFFF, 24), 8_388_607);
        assert_eq!(to_signed(0xBF, 8), -65);
        assert_eq!(to_signed(0x8C, 8), -116);
        // All 64 bits: the value as an i64, no shift past the width.
        assert_eq!(to_signed(u64::MAX, 64), -1);
        assert_eq!(to_signed(0x8000_0000_0000_0000, 64), i64::MIN);
        assert_eq!(to_signed(42, 64), 42);
    }

    use crate::{FlattenOptions, Flattener};

    /// Flattens a hex message holding `elecMtr` or `gasMtr` = `meter`, with
    /// identity tags on and every note: (output, notes).
    fn decode(name: &str, meter: &serde_json::Value) -> (String, Vec<String>) {
        let flattener = Flattener::new(FlattenOptions {
            meter_tags: true,
            ..FlattenOptions::default()
        });
        let payload = serde_json::json!({ name: meter, "gmtime": 1_620_153_000 }).to_string();
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        flattener.flatten(
            "SMART/HILD/0A1B2C3D4E5F",
            payload.as_bytes(),
            1_772_366_400_000_000_000,
            &mut out,
            &mut notes,
        );
        (
            String::from_utf8(out).expect("UTF-8"),
            notes.into_iter().map(|n| n.text).collect(),
        )
    }

    /// Issue 12 points 1 and 5: the rule of this decoder, checked register by
    /// register. Every register GLOW-FORMAT names (and some it does not),
    /// for both meters and every unit of measure: added to a meter, it either
    /// changes what is written or is named in a note. And an empty meter is
    /// reported as empty.
    #[test]
    fn every_register_present_is_written_or_named_in_a_note() {
        let registers = [
            ("0702", "00", "00"),
            ("0702", "00", "01"),
            ("0702", "04", "00"),
            ("0702", "04", "01"),
            ("0702", "04", "30"),
            ("0702", "04", "40"),
            ("0702", "0C", "01"),
            ("0702", "0C", "30"),
            ("0702", "0C", "40"),
            ("0702", "03", "06"),
            ("0702", "03", "07"),
            ("0708", "01", "01"),
            ("0702", "00", "07"),
            ("0702", "03", "03"),
            ("0705", "00", "00"),
            ("0700", "01", "02"),
        ];
        let mut checked = 0;
        for name in ["elecMtr", "gasMtr"] {
            for unit in [
                Some("00"),
                Some("01"),
                Some("02"),
                Some("03"),
                Some("7F"),
                None,
            ] {
                let mut base = serde_json::json!({
                    "0702": { "03": { "01": "000001", "02": "0003E8" } }
                });
                if let Some(u) = unit {
                    base["0702"]["03"]["00"] = u.into();
                }
                // A register of every set present, so that adding one more
                // changes the output only through its own value.
                let (before, _) = decode(name, &base);
                for (cluster, set, id) in registers {
                    let mut meter = base.clone();
                    let value = match (cluster, set, id) {
                        ("0702", "03", "07") => "1900012345678",
                        ("0708", _, _) => "ACME POWER",
                        ("0702", "03", "06") => "07",
                        _ => "0004D2",
                    };
                    let c = meter
                        .as_object_mut()
                        .expect("object")
                        .entry(cluster)
                        .or_insert_with(|| serde_json::json!({}));
                    let set_obj = c
                        .as_object_mut()
                        .expect("object")
                        .entry(set)
                        .or_insert_with(|| serde_json::json!({}));
                    set_obj[id] = value.into();
                    let (after, notes) = decode(name, &meter);
                    let path = format!("{cluster}.{set}.{id}");
                    assert!(
                        after != before || notes.iter().any(|n| n.contains(&path)),
                        "{name} unit {unit:?}: {path} neither written nor named\n{after}\n{notes:#?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 2 * 6 * registers.len());
        for name in ["elecMtr", "gasMtr"] {
            let (out, notes) = decode(name, &serde_json::json!({}));
            assert_eq!(out, "");
            assert!(
                notes
                    .iter()
                    .any(|n| n.contains(&format!("{name} is empty"))),
                "{notes:?}"
            );
            assert!(
                !notes.iter().any(|n| n.contains("unit of measure")),
                "{notes:?}"
            );
        }
    }

    /// The debug note names at most 12 registers not decoded and counts
    /// the rest, so a user sees how many were left out.
    #[test]
    fn registers_not_decoded_are_listed_up_to_twelve_then_counted() {
        for (registers, listed, rest) in [(12, 12, None), (13, 12, Some(" and 1 more"))] {
            let mut unknown = serde_json::Map::new();
            for id in 0..registers {
                unknown.insert(format!("{id:02X}"), "0004D2".into());
            }
            let meter = serde_json::json!({
                "0702": { "03": { "01": "000001", "02": "0003E8" } },
                "0B99": { "00": unknown },
            });
            let (_, notes) = decode("elecMtr", &meter);
            let note = notes
                .iter()
                .find(|n| n.contains("registers not decoded"))
                .unwrap_or_else(|| panic!("no such note: {notes:?}"));
            let names: Vec<String> = (0..listed)
                .map(|id| format!("\"0B99.00.{id:02X}\""))
                .collect();
            let want = format!(
                "elecMtr: registers not decoded, left out: {}{}",
                names.join(", "),
                rest.unwrap_or("")
            );
            assert!(note.ends_with(&want), "{registers}: {note}");
        }
    }

    /// An empty cluster or set is still something the device sent: it is
    /// named, not silently passed over.
    #[test]
    fn an_empty_object_in_a_meter_is_named_as_not_decoded() {
        let meter = serde_json::json!({
            "0702": { "03": { "01": "000001", "02": "0003E8" } },
            "0B99": {},
            "0B98": { "00": {} },
        });
        let (_, notes) = decode("elecMtr", &meter);
        assert!(
            notes
                .iter()
                .any(|n| n
                    .ends_with(r#"elecMtr: registers not decoded, left out: "0B98.00", "0B99""#)),
            "{notes:?}"
        );
    }

    /// A period's alternative register (0C, kWh) fills the field when the
    /// primary (04) is absent, and only when both are there is the
    /// alternative named as left out.
    #[test]
    fn the_alternative_period_register_is_left_out_only_beside_the_primary() {
        let alternative_only = serde_json::json!({
            "0702": { "03": { "01": "000001", "02": "0003E8" }, "0C": { "01": "0004D2" } },
        });
        let (out, notes) = decode("elecMtr", &alternative_only);
        assert!(out.contains(" day=1.234 "), "{out}");
        assert!(
            !notes.iter().any(|n| n.contains("carries day")),
            "{notes:?}"
        );

        let both = serde_json::json!({
            "0702": {
                "03": { "01": "000001", "02": "0003E8" },
                "04": { "01": "001388" },
                "0C": { "01": "0004D2" },
            },
        });
        let (out, notes) = decode("elecMtr", &both);
        assert!(out.contains(" day=5 "), "{out}");
        assert!(
            notes
                .iter()
                .any(|n| n.ends_with("elecMtr.0702.0C.01: left out, 0702.04.01 carries day")),
            "{notes:?}"
        );
    }

    #[test]
    fn utc_formatting_round_trips() {
        assert_eq!(format_utc(1_602_017_596), "2020-10-06T20:53:16Z");
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
