//! The older Glow cloud feed (`SMART/HILD/<id>`, `SMART/DCAD/<id>`,
//! 2020-2022): one message for both meters, every value a hex string in
//! Zigbee Smart Energy clusters. Decoded into the same measurements and
//! fields as the current local format, so one dashboard shows both.
//!
//! Rare and small, so it is read into a `serde_json::Value` rather than a
//! typed model: clarity wins over speed here.

use std::borrow::Cow;

use serde_json::Value;

use crate::flatten::{Context, Identity, Level};
use crate::meter::POWER_ERROR_KW;
use crate::reading::Reading;
use crate::tolerant::Text;

/// Parses a hex string of up to 16 digits as an unsigned integer.
pub fn decode_hex(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
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

/// One meter object (`elecMtr` or `gasMtr`) and its scaling.
struct Mtr<'v> {
    obj: &'v Value,
    multiplier: f64,
    divisor: f64,
}

impl<'v> Mtr<'v> {
    fn attr(&self, cluster: &str, set: &str, id: &str) -> Option<&'v str> {
        self.obj.get(cluster)?.get(set)?.get(id)?.as_str()
    }

    /// An unsigned metering value scaled by multiplier/divisor.
    #[allow(clippy::cast_precision_loss)]
    fn scaled(&self, set: &str, id: &str) -> Option<f64> {
        decode_hex(self.attr("0702", set, id)?).map(|v| v as f64 * self.multiplier / self.divisor)
    }
}

#[allow(clippy::cast_precision_loss)]
fn meter<'v>(ctx: &mut Context<'_>, root: &'v Value, key: &str) -> Option<Mtr<'v>> {
    let obj = root.get(key).filter(|v| v.is_object())?;
    let fmt = obj.get("0702").and_then(|c| c.get("03"));
    let get = |id: &str| {
        fmt.and_then(|f| f.get(id))
            .and_then(Value::as_str)
            .and_then(decode_hex)
    };
    let multiplier = get("01").unwrap_or(1) as f64;
    let divisor = get("02").unwrap_or(1) as f64;
    if divisor == 0.0 {
        ctx.note(
            Level::Warn,
            format_args!("{key}: divisor 0; meter left out"),
        );
        return None;
    }
    Some(Mtr {
        obj,
        multiplier,
        divisor,
    })
}

/// Flattens a legacy message into electricitymeter, gasmeter and cadstate
/// readings, all stamped with the message's `gmtime`.
pub(crate) fn flatten(ctx: &mut Context<'_>, payload: &[u8], device: &str) {
    let root: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(err) => {
            ctx.invalid_json(&err);
            return;
        }
    };
    if !root.is_object() {
        ctx.note(Level::Warn, format_args!("not a JSON object; skipped"));
        return;
    }
    let mut readings = Vec::with_capacity(3);
    if let Some(m) = meter(ctx, &root, "elecMtr") {
        readings.push(electricity(ctx, &m, device));
    }
    if let Some(m) = meter(ctx, &root, "gasMtr") {
        readings.push(gas(ctx, &m, device));
    }
    readings.push(state(&root, device));
    readings.retain(|r| !r.fields.is_empty());

    let time = message_time(&root);
    let Some(t) = ctx.time(time.as_deref(), !readings.is_empty()) else {
        return;
    };
    for r in &mut readings {
        r.time_ns = t;
        ctx.emit(r);
    }
}

/// The message time as text for `Context::time`: `gmtime` (epoch seconds),
/// else `time` (epoch as hex), else `ts` (UTC without zone).
fn message_time(root: &Value) -> Option<String> {
    let secs = root.get("gmtime").and_then(Value::as_i64).or_else(|| {
        root.get("time")
            .and_then(Value::as_str)
            .and_then(decode_hex)
            .and_then(|v| i64::try_from(v).ok())
    });
    if let Some(secs) = secs {
        return Some(format_utc(secs));
    }
    root.get("ts").and_then(Value::as_str).map(str::to_owned)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (civil_from_days).
fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// MPAN/MPRN (`0702.03.07`) and supplier (`0708.01.01`), through the one
/// rule for identity tags (`Context::identity_tag`).
fn identity<'p>(ctx: &mut Context<'_>, r: &mut Reading<'p>, m: &Mtr<'_>, id: Identity, name: &str) {
    let id_text = m.attr("0702", "03", "07");
    let supplier = m
        .obj
        .get("0708")
        .and_then(|c| c.get("01"))
        .and_then(|s| s.get("01"))
        .and_then(Value::as_str);
    for (identity, path, value) in [
        (id, format!("{name}.0702.03.07"), id_text),
        (Identity::Supplier, format!("{name}.0708.01.01"), supplier),
    ] {
        let text = value.map_or(Text::Missing, |v| Text::Value(Cow::Owned(v.to_owned())));
        ctx.identity_tag(r, identity, &path, &text);
    }
}

fn electricity<'p>(ctx: &mut Context<'_>, m: &Mtr<'_>, device: &str) -> Reading<'p> {
    let mut r = Reading::new("electricitymeter", 0);
    r.tag("device", device.to_owned());
    identity(ctx, &mut r, m, Identity::Mpan, "elecMtr");
    let unit = m
        .attr("0702", "03", "00")
        .and_then(decode_hex)
        .and_then(measure);
    if unit != Some(Measure::Energy) {
        ctx.note(
            Level::Warn,
            format_args!("elecMtr: unit of measure is not kWh; meter left out"),
        );
        return r;
    }
    if let Some(v) = m.scaled("00", "00").filter(|v| *v != 0.0) {
        r.float("cumulative", v);
    }
    for (id, key) in [("01", "day"), ("30", "week"), ("40", "month")] {
        if let Some(v) = m.scaled("04", id) {
            r.float(key, v);
        }
    }
    if let Some(v) = m.scaled("00", "01") {
        r.float("export.cumulative", v);
    }
    if let Some(raw) = m.attr("0702", "04", "00").and_then(decode_hex) {
        #[allow(clippy::cast_precision_loss)]
        let kw = to_signed(raw, 24) as f64 * m.multiplier / m.divisor;
        if (kw - POWER_ERROR_KW).abs() < 1e-6 {
            ctx.note(
                Level::Warn,
                format_args!("elecMtr: demand is the meter's error value; left out"),
            );
        } else {
            r.float("power", kw);
        }
    }
    r
}

fn gas<'p>(ctx: &mut Context<'_>, m: &Mtr<'_>, device: &str) -> Reading<'p> {
    let mut r = Reading::new("gasmeter", 0);
    r.tag("device", device.to_owned());
    identity(ctx, &mut r, m, Identity::Mprn, "gasMtr");
    let unit = m
        .attr("0702", "03", "00")
        .and_then(decode_hex)
        .and_then(measure);
    // The alternative-unit periods (0C) are kWh whatever the meter counts in.
    for (id, key) in [("01", "day"), ("30", "week"), ("40", "month")] {
        if let Some(v) = m.attr("0702", "0C", id).and_then(decode_hex) {
            #[allow(clippy::cast_precision_loss)]
            r.float(key, v as f64 * m.multiplier / m.divisor);
        }
    }
    match unit {
        Some(Measure::Volume(to_m3)) => {
            if let Some(v) = m.scaled("00", "00").filter(|v| *v != 0.0) {
                r.float("cumulativevol", v * to_m3);
            }
            for (id, key) in [("01", "dayvol"), ("30", "weekvol"), ("40", "monthvol")] {
                if let Some(v) = m.scaled("04", id) {
                    r.float(key, v * to_m3);
                }
            }
        }
        Some(Measure::Energy) => {
            if let Some(v) = m.scaled("00", "00").filter(|v| *v != 0.0) {
                r.float("cumulative", v);
            }
        }
        None => ctx.note(
            Level::Warn,
            format_args!("gasMtr: unknown unit of measure; registers left out"),
        ),
    }
    let order = [
        "cumulative",
        "day",
        "week",
        "month",
        "cumulativevol",
        "dayvol",
        "weekvol",
        "monthvol",
    ];
    r.fields
        .sort_by_key(|(k, _)| order.iter().position(|o| o == k));
    r
}

fn state<'p>(root: &Value, device: &str) -> Reading<'p> {
    let mut r = Reading::new("cadstate", 0);
    r.tag("device", device.to_owned());
    let pan = root.get("pan");
    let pan_hex = |key: &str| {
        pan.and_then(|p| p.get(key))
            .and_then(Value::as_str)
            .and_then(decode_hex)
    };
    if let Some(raw) = pan_hex("rssi") {
        r.int("han.rssi", to_signed(raw, 8));
    }
    if let Some(raw) = pan_hex("lqi").and_then(|v| i64::try_from(v).ok()) {
        r.int("han.lqi", raw);
    }
    if let Some(s) = pan.and_then(|p| p.get("status")).and_then(Value::as_str) {
        r.text("han.status", s.to_owned());
    }
    for (key, json) in [
        ("hardware", "hversion"),
        ("zigbee", "zbSoftVer"),
        ("smetsversion", "smetsVer"),
    ] {
        if let Some(s) = root.get(json).and_then(Value::as_str) {
            r.text(key, s.to_owned());
        }
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
        assert_eq!(to_signed(0x00FF_FFFF, 24), -1);
        assert_eq!(to_signed(0x80_0000, 24), -8_388_608);
        assert_eq!(to_signed(0x7F_FFFF, 24), 8_388_607);
        assert_eq!(to_signed(0xBF, 8), -65);
        assert_eq!(to_signed(0x8C, 8), -116);
    }

    #[test]
    fn utc_formatting_round_trips() {
        assert_eq!(format_utc(1_602_017_596), "2020-10-06T20:53:16Z");
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
