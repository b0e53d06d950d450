//! `glowsensorth1` payloads: the Glow temperature/humidity sensor, relayed by
//! the CAD as `{"glowsensorth1": {"<sensor-id>": {...}}}`.

use std::collections::BTreeMap;

use crate::flatten::context::{Context, Level};
use crate::flatten::reading::Reading;
use crate::flatten::tolerant::{tolerant_struct, Num, Obj, Text};
use crate::flatten::units::{normalise_percent, normalise_temperature};

tolerant_struct! {
    struct Envelope<'a> {
        glowsensorth1: Obj<BTreeMap<String, Obj<Entry<'a>>>>,
    }
}

tolerant_struct! {
    struct Entry<'a> {
        timestamp: Text<'a>,
        temperature: Obj<Quantity<'a>>,
        humidity: Obj<Quantity<'a>>,
        battery: Obj<Quantity<'a>>,
        rssi: Obj<Quantity<'a>>,
        status: Text<'a>,
    }
}

tolerant_struct! {
    struct Quantity<'a> {
        value: Num,
        units: Text<'a>,
    }
}

/// Flattens a sensor payload: one `glowsensorth1` reading per sensor in it.
/// The sensor id comes from the payload's key (the topic's when that key is
/// empty).
pub(crate) fn flatten<'p>(
    ctx: &mut Context<'_>,
    payload: &'p [u8],
    device: &'p str,
    topic_sensor: &'p str,
) {
    let envelope: Envelope<'p> = match serde_json::from_slice(payload) {
        Ok(e) => e,
        Err(err) => {
            ctx.invalid_json(err);
            return;
        }
    };
    let Obj::Value(sensors) = envelope.glowsensorth1 else {
        ctx.note(
            Level::Warn,
            format_args!("no \"glowsensorth1\" object; skipped"),
        );
        return;
    };
    for (id, entry) in &sensors {
        let Some(entry) = entry.as_ref() else {
            ctx.note(
                Level::Warn,
                format_args!("sensor {id:?} is not an object; skipped"),
            );
            continue;
        };
        let sensor = if id.trim().is_empty() {
            topic_sensor
        } else {
            id.as_str()
        };
        let mut r = Reading::new("glowsensorth1", 0);
        r.tag("device", device);
        r.tag("sensor", sensor.to_owned());
        if let Some(q) = ctx.obj("temperature", &entry.temperature) {
            let unit = ctx.text("temperature.units", &q.units);
            if let Some(v) = ctx.quantity("temperature.value", q.value, unit, normalise_temperature)
            {
                r.float("temperature", v);
            }
        }
        for (key, q) in [("humidity", &entry.humidity), ("battery", &entry.battery)] {
            if let Some(q) = ctx.obj(key, q) {
                let unit = ctx.text(key, &q.units);
                if let Some(v) = ctx.quantity(key, q.value, unit, normalise_percent) {
                    r.float(key, v);
                }
            }
        }
        if let Some(q) = ctx.obj("rssi", &entry.rssi) {
            if let Some(v) = ctx.int("rssi.value", q.value) {
                r.int("rssi", v);
            }
        }
        if let Some(v) = ctx.text_value("status", &entry.status) {
            r.text("status", v);
        }
        let timestamp = ctx.text("timestamp", &entry.timestamp);
        if let Some(t) = ctx.time(timestamp, !r.fields.is_empty()) {
            r.time_ns = t;
            ctx.emit(&r);
        }
    }
}
