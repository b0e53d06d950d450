//! `electricitymeter` and `gasmeter` payloads (both gas firmware
//! generations: before mid 2022 gas looks like electricity, with `export`
//! and a `power` of 0; since then it carries the `*vol` fields instead).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::flatten::{Context, Level};
use crate::reading::Reading;
use crate::tolerant::{Num, Obj, Text};
use crate::units::{is_energy_unit, normalise_energy, normalise_power, normalise_volume};

/// The power value a meter reports when it has none: the smallest signed
/// 24-bit number, divided by 1000. Never a reading.
pub const POWER_ERROR_KW: f64 = -8388.608;

/// The payload's top level, `{"<name>": {...}}`: only the member named
/// `name` is deserialized; anything else is skipped unparsed. (A derived
/// struct with both `electricitymeter` and `gasmeter` would carry, and move
/// around, two large `Meter`s for every message.)
struct Envelope {
    name: &'static str,
}

impl<'de> DeserializeSeed<'de> for Envelope {
    type Value = Obj<Meter<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Envelope {
    type Value = Obj<Meter<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with a {:?} member", self.name)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut meter = Obj::Missing;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == self.name {
                meter = map.next_value()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(meter)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Meter<'a> {
    #[serde(borrow)]
    timestamp: Text<'a>,
    #[serde(borrow)]
    energy: Obj<Energy<'a>>,
    #[serde(borrow)]
    power: Obj<Quantity<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Energy<'a> {
    #[serde(borrow)]
    import: Obj<Import<'a>>,
    #[serde(borrow)]
    export: Obj<Quantity2<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Import<'a> {
    cumulative: Num,
    day: Num,
    week: Num,
    month: Num,
    #[serde(borrow)]
    units: Text<'a>,
    cumulativevol: Num,
    #[serde(borrow)]
    cumulativevolunits: Text<'a>,
    dayvol: Num,
    weekvol: Num,
    monthvol: Num,
    #[serde(borrow)]
    dayweekmonthvolunits: Text<'a>,
    #[serde(borrow)]
    mpan: Text<'a>,
    #[serde(borrow)]
    mprn: Text<'a>,
    #[serde(borrow)]
    supplier: Text<'a>,
    price: Obj<Price>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Price {
    unitrate: Num,
    standingcharge: Num,
}

/// `power`: `{value, units}`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Quantity<'a> {
    value: Num,
    #[serde(borrow)]
    units: Text<'a>,
}

/// `energy.export`: `{cumulative, units}`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Quantity2<'a> {
    cumulative: Num,
    #[serde(borrow)]
    units: Text<'a>,
}

/// Flattens one meter payload into at most one reading.
pub(crate) fn flatten<'p>(ctx: &mut Context<'_>, payload: &'p [u8], device: &'p str, gas: bool) {
    let name = if gas { "gasmeter" } else { "electricitymeter" };
    let mut de = serde_json::Deserializer::from_slice(payload);
    let envelope = Envelope { name };
    let meter = match envelope
        .deserialize(&mut de)
        .and_then(|m| de.end().map(|()| m))
    {
        Ok(m) => m,
        Err(err) => {
            ctx.invalid_json(&err);
            return;
        }
    };
    let Obj::Value(meter) = meter else {
        ctx.note(Level::Warn, format_args!("no {name:?} object; skipped"));
        return;
    };
    let mut r = Reading::new(name, 0);
    r.tag("device", device);
    // Fields are pushed in schema order (see the README), whatever order the
    // JSON had, so output is stable from message to message.
    let mut price = None;

    let energy = ctx.obj("energy", &meter.energy);
    let import = energy.and_then(|e| ctx.obj("energy.import", &e.import));
    let export = energy.and_then(|e| ctx.obj("energy.export", &e.export));
    if let Some(import) = import {
        let unit = ctx.text("energy.import.units", &import.units);
        match ctx.quantity(
            "energy.import.cumulative",
            import.cumulative,
            unit,
            normalise_energy,
        ) {
            // A 0 register is a reboot glitch: written, it would make every
            // difference() query show the whole lifetime as one interval.
            Some(0.0) => ctx.note(
                Level::Debug,
                format_args!("field energy.import.cumulative: 0 (a reboot glitch); left out"),
            ),
            Some(v) => r.float("cumulative", v),
            None => {}
        }
        for (path, key, value) in [
            ("energy.import.day", "day", import.day),
            ("energy.import.week", "week", import.week),
            ("energy.import.month", "month", import.month),
        ] {
            if let Some(v) = ctx.quantity(path, value, unit, normalise_energy) {
                r.float(key, v);
            }
        }
        if gas {
            let vol_unit = ctx.text(
                "energy.import.cumulativevolunits",
                &import.cumulativevolunits,
            );
            if let Some(v) = ctx.quantity(
                "energy.import.cumulativevol",
                import.cumulativevol,
                vol_unit,
                normalise_volume,
            ) {
                r.float("cumulativevol", v);
            }
            period_volumes(ctx, &mut r, import);
        }
        let (id_key, id_path, id) = if gas {
            ("mprn", "energy.import.mprn", &import.mprn)
        } else {
            ("mpan", "energy.import.mpan", &import.mpan)
        };
        ctx.identity_tag(&mut r, id_key, id_path, id);
        ctx.identity_tag(
            &mut r,
            "supplier",
            "energy.import.supplier",
            &import.supplier,
        );
        price = ctx.obj("energy.import.price", &import.price);
    }
    if let Some(export) = export {
        let unit = ctx.text("energy.export.units", &export.units);
        if let Some(v) = ctx.quantity(
            "energy.export.cumulative",
            export.cumulative,
            unit,
            normalise_energy,
        ) {
            r.float("export.cumulative", v);
        }
    }
    if let Some(power) = ctx.obj("power", &meter.power) {
        let unit = ctx.text("power.units", &power.units);
        match ctx.quantity("power.value", power.value, unit, normalise_power) {
            Some(v) if (v - POWER_ERROR_KW).abs() < 1e-6 => ctx.note(
                Level::Warn,
                format_args!(
                    "field power.value: -8388.608 is the meter's error value, not a reading; left out"
                ),
            ),
            Some(v) => r.float("power", v),
            None => {}
        }
    }
    if let Some(price) = price {
        // Prices of 0 are real (some tariffs, and after a reboot): kept.
        if let Some(v) = ctx.num("energy.import.price.unitrate", price.unitrate) {
            r.float("price.unitrate", v);
        }
        if let Some(v) = ctx.num("energy.import.price.standingcharge", price.standingcharge) {
            r.float("price.standingcharge", v);
        }
    }
    r.tags.sort_by_key(|(k, _)| *k);

    let timestamp = ctx.text("timestamp", &meter.timestamp);
    if let Some(t) = ctx.time(timestamp, !r.fields.is_empty()) {
        r.time_ns = t;
        ctx.emit(&r);
    }
}

/// `dayvol`/`weekvol`/`monthvol`: written in m3 only when the device labels
/// them with a volume unit. Every device seen so far labels them "kWh" and
/// repeats day/week/month, so they are energies under a volume's name; writing
/// them into a field documented as m3 would be a number in the wrong unit.
fn period_volumes<'p>(ctx: &mut Context<'_>, r: &mut Reading<'p>, import: &Import<'p>) {
    let values = [
        ("energy.import.dayvol", "dayvol", import.dayvol),
        ("energy.import.weekvol", "weekvol", import.weekvol),
        ("energy.import.monthvol", "monthvol", import.monthvol),
    ];
    if values
        .iter()
        .all(|(_, _, v)| matches!(v, Num::Missing | Num::Null))
    {
        return;
    }
    let unit = ctx.text(
        "energy.import.dayweekmonthvolunits",
        &import.dayweekmonthvolunits,
    );
    if let Some(u) = unit.filter(|u| is_energy_unit(u)) {
        ctx.note(
            Level::Info,
            format_args!("fields dayvol/weekvol/monthvol are labelled {u:?}, an energy, not a volume; left out (day/week/month carry them)"),
        );
        return;
    }
    for (path, key, value) in values {
        if let Some(v) = ctx.quantity(path, value, unit, normalise_volume) {
            r.float(key, v);
        }
    }
}
