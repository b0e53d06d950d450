//! `electricitymeter` and `gasmeter` payloads (both gas firmware
//! generations: before mid 2022 gas looks like electricity, with `export`
//! and a `power` of 0; since then it carries the `*vol` fields instead), and
//! early local firmware's shape (numbers as strings, `cummulative`, price,
//! export and identity in the meter object), read into the same fields.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::flatten::context::{Context, Identity, Level};
use crate::flatten::reading::Reading;
use crate::flatten::tolerant::{Found, Key, Num, Obj, Text};
use crate::flatten::units::{is_energy_unit, normalise_energy, normalise_power, normalise_volume};
use crate::flatten::zigbee_register::Register;

/// Every value of a meter payload that the schema uses, in one flat struct
/// filled in place while the JSON is read. (A derived struct per JSON object
/// measured twice the parse cost: each nested value was built, then moved
/// into its parent, several hundred bytes at a time.)
#[derive(Default)]
struct MeterFields<'a> {
    timestamp: Text<'a>,
    /// Whether each nested object was there, and what it was if it was not
    /// an object (for the warning).
    energy: Obj<()>,
    import: Obj<()>,
    export: Obj<()>,
    price: Obj<()>,
    power: Obj<()>,
    /// Early local firmware's places for them (see `Section`), and what
    /// was in them.
    loose_price: Obj<()>,
    loose_export: Obj<()>,
    loose_power: Obj<()>,
    early: Option<Box<MeterFields<'a>>>,
    cumulative: Num,
    day: Num,
    week: Num,
    month: Num,
    units: Text<'a>,
    cumulativevol: Num,
    cumulativevolunits: Text<'a>,
    dayvol: Num,
    weekvol: Num,
    monthvol: Num,
    dayweekmonthvolunits: Text<'a>,
    mpan: Text<'a>,
    mprn: Text<'a>,
    supplier: Text<'a>,
    unitrate: Num,
    standingcharge: Num,
    export_cumulative: Num,
    export_units: Text<'a>,
    power_value: Num,
    power_units: Text<'a>,
}

/// Which JSON object a `Section` is reading.
#[derive(Clone, Copy)]
enum Part {
    Meter,
    Energy,
    Import,
    Export,
    Price,
    Power,
}

/// Reads one JSON object of a meter payload into `MeterFields`.
///
/// Early local firmware (2021 - mid 2022) put some values elsewhere than
/// current firmware does: `price`, `export`, `mpan`/`mprn`/`supplier`
/// directly in the meter object (or beside `import`), `power` beside
/// `import`, and spelt the import register `cummulative`. Those are read
/// too, but the usual place wins when a payload has both, whatever the
/// order: a loose object is read into `early` and taken only when its usual
/// object is not there (so a value and its unit always come from one
/// object), a loose scalar fills its field only if it is still missing.
struct Section<'s, 'a> {
    part: Part,
    fields: &'s mut MeterFields<'a>,
}

/// A field of `MeterFields` that a loose value may fill.
trait Slot {
    fn is_missing(&self) -> bool;
}

impl Slot for Num {
    fn is_missing(&self) -> bool {
        matches!(self, Num::Missing)
    }
}

impl Slot for Text<'_> {
    fn is_missing(&self) -> bool {
        matches!(self, Text::Missing)
    }
}

/// Stores a loose `value` in `slot` unless the usual place filled it.
fn fill<T: Slot>(slot: &mut T, value: T) {
    if slot.is_missing() {
        *slot = value;
    }
}

impl<'de> DeserializeSeed<'de> for Section<'_, 'de> {
    type Value = Obj<()>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Section<'_, 'de> {
    type Value = Obj<()>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let f = self.fields;
        // Keys as bytes (see `Key`): serde's own `Cow<str>` always
        // allocates, and even a borrowed `&str` costs a UTF-8 check per key.
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match (self.part, key.as_bytes()) {
                (Part::Meter, b"timestamp") => f.timestamp = map.next_value()?,
                (Part::Meter, b"energy") => f.energy = nested(&mut map, Part::Energy, f)?,
                (Part::Meter, b"power") => f.power = nested(&mut map, Part::Power, f)?,
                (Part::Energy, b"import") => f.import = nested(&mut map, Part::Import, f)?,
                (Part::Energy, b"export") => f.export = nested(&mut map, Part::Export, f)?,
                (Part::Import, b"cumulative") => f.cumulative = map.next_value()?,
                (Part::Import, b"day") => f.day = map.next_value()?,
                (Part::Import, b"week") => f.week = map.next_value()?,
                (Part::Import, b"month") => f.month = map.next_value()?,
                (Part::Import, b"units") => f.units = map.next_value()?,
                (Part::Import, b"cumulativevol") => {
                    f.cumulativevol = map.next_value()?;
                }
                (Part::Import, b"cumulativevolunits") => {
                    f.cumulativevolunits = map.next_value()?;
                }
                (Part::Import, b"dayvol") => f.dayvol = map.next_value()?,
                (Part::Import, b"weekvol") => f.weekvol = map.next_value()?,
                (Part::Import, b"monthvol") => f.monthvol = map.next_value()?,
                (Part::Import, b"dayweekmonthvolunits") => {
                    f.dayweekmonthvolunits = map.next_value()?;
                }
                (Part::Import, b"mpan") => f.mpan = map.next_value()?,
                (Part::Import, b"mprn") => f.mprn = map.next_value()?,
                (Part::Import, b"supplier") => f.supplier = map.next_value()?,
                (Part::Import, b"price") => f.price = nested(&mut map, Part::Price, f)?,
                (Part::Price, b"unitrate") => f.unitrate = map.next_value()?,
                (Part::Price, b"standingcharge") => {
                    f.standingcharge = map.next_value()?;
                }
                (Part::Export, b"cumulative") => {
                    f.export_cumulative = map.next_value()?;
                }
                (Part::Export, b"units") => f.export_units = map.next_value()?,
                (Part::Power, b"value") => f.power_value = map.next_value()?,
                (Part::Power, b"units") => f.power_units = map.next_value()?,
                // Early local firmware: the same values, elsewhere.
                (Part::Import, b"cummulative") => fill(&mut f.cumulative, map.next_value()?),
                (Part::Meter | Part::Energy, b"price") => {
                    let early = f.early.get_or_insert_with(Box::default);
                    f.loose_price = nested(&mut map, Part::Price, early)?;
                }
                (Part::Meter, b"export") => {
                    let early = f.early.get_or_insert_with(Box::default);
                    f.loose_export = nested(&mut map, Part::Export, early)?;
                }
                (Part::Energy, b"power") => {
                    let early = f.early.get_or_insert_with(Box::default);
                    f.loose_power = nested(&mut map, Part::Power, early)?;
                }
                (Part::Meter | Part::Energy, b"mpan") => fill(&mut f.mpan, map.next_value()?),
                (Part::Meter | Part::Energy, b"mprn") => fill(&mut f.mprn, map.next_value()?),
                (Part::Meter | Part::Energy, b"supplier") => {
                    fill(&mut f.supplier, map.next_value()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Obj::Value(()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Obj::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Obj::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Obj::Invalid(Found::Bool))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Obj::Invalid(Found::Number))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Obj::Invalid(Found::Number))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Obj::Invalid(Found::Number))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Obj::Invalid(Found::Str))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Obj::Invalid(Found::Array))
    }
}

/// Reads the value of the current key, an object of the payload, into
/// `fields` as `part`.
fn nested<'de, A: MapAccess<'de>>(
    map: &mut A,
    part: Part,
    fields: &mut MeterFields<'de>,
) -> Result<Obj<()>, A::Error> {
    map.next_value_seed(Section { part, fields })
}

/// Takes early firmware's loose objects where the usual ones are absent.
fn adopt_early(m: &mut MeterFields<'_>) {
    let Some(early) = m.early.take() else {
        return;
    };
    let early = *early;
    let usual = |o: &Obj<()>| matches!(o, Obj::Value(()));
    if !usual(&m.price) && usual(&m.loose_price) {
        m.unitrate = early.unitrate;
        m.standingcharge = early.standingcharge;
    }
    if !usual(&m.export) && usual(&m.loose_export) {
        m.export_cumulative = early.export_cumulative;
        m.export_units = early.export_units;
    }
    if !usual(&m.power) && usual(&m.loose_power) {
        m.power_value = early.power_value;
        m.power_units = early.power_units;
    }
}

/// The payload's top level, `{"<name>": {...}}`: only the member named
/// `name` is read; anything else is skipped unparsed.
struct Envelope<'s, 'a> {
    name: &'static str,
    fields: &'s mut MeterFields<'a>,
}

impl<'de> Visitor<'de> for Envelope<'_, 'de> {
    type Value = Obj<()>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with a {:?} member", self.name)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut meter = Obj::Missing;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.as_bytes() == self.name.as_bytes() {
                meter = map.next_value_seed(Section {
                    part: Part::Meter,
                    fields: &mut *self.fields,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(meter)
    }
}

/// Flattens one meter payload into at most one reading.
pub(crate) fn flatten<'p>(ctx: &mut Context<'_>, payload: &'p [u8], device: &'p str, gas: bool) {
    let name = if gas { "gasmeter" } else { "electricitymeter" };
    let mut m = MeterFields::default();
    let mut de = serde_json::Deserializer::from_slice(payload);
    let envelope = Envelope {
        name,
        fields: &mut m,
    };
    let found = match de
        .deserialize_map(envelope)
        .and_then(|o| de.end().map(|()| o))
    {
        Ok(o) => o,
        Err(err) => {
            ctx.invalid_json(err);
            return;
        }
    };
    let Obj::Value(()) = found else {
        ctx.note(Level::Warn, format_args!("no {name:?} object; skipped"));
        return;
    };
    adopt_early(&mut m);
    let mut r = Reading::new(name, 0);
    r.tag("device", device);
    // Fields are pushed in schema order (see the README), whatever order the
    // JSON had, so output is stable from message to message.
    ctx.obj("energy", &m.energy);
    ctx.obj("energy.import", &m.import);
    ctx.obj("energy.export", &m.export);
    ctx.obj("energy.import.price", &m.price);
    ctx.obj("power", &m.power);
    ctx.obj("price", &m.loose_price);
    ctx.obj("export", &m.loose_export);
    ctx.obj("energy.power", &m.loose_power);
    let import = &m;
    {
        let unit = ctx.text("energy.import.units", &import.units);
        match ctx.register(
            "energy.import.cumulative",
            import.cumulative,
            unit,
            normalise_energy,
            Register::Summation,
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
        for (path, key, value, register) in [
            ("energy.import.day", "day", import.day, Register::DayOrWeek),
            (
                "energy.import.week",
                "week",
                import.week,
                Register::DayOrWeek,
            ),
            (
                "energy.import.month",
                "month",
                import.month,
                Register::Month,
            ),
        ] {
            if let Some(v) = ctx.register(path, value, unit, normalise_energy, register) {
                r.float(key, v);
            }
        }
        if gas {
            let vol_unit = ctx.text(
                "energy.import.cumulativevolunits",
                &import.cumulativevolunits,
            );
            if let Some(v) = ctx.register(
                "energy.import.cumulativevol",
                import.cumulativevol,
                vol_unit,
                normalise_volume,
                Register::Summation,
            ) {
                r.float("cumulativevol", v);
            }
            period_volumes(ctx, &mut r, import);
        }
        let (id_key, id_path, id) = if gas {
            (Identity::Mprn, "energy.import.mprn", &import.mprn)
        } else {
            (Identity::Mpan, "energy.import.mpan", &import.mpan)
        };
        ctx.identity_tag(&mut r, id_key, id_path, id);
        ctx.identity_tag(
            &mut r,
            Identity::Supplier,
            "energy.import.supplier",
            &import.supplier,
        );
    }
    {
        let unit = ctx.text("energy.export.units", &m.export_units);
        if let Some(v) = ctx.register(
            "energy.export.cumulative",
            m.export_cumulative,
            unit,
            normalise_energy,
            Register::Summation,
        ) {
            r.float("export.cumulative", v);
        }
    }
    {
        let unit = ctx.text("power.units", &m.power_units);
        if let Some(v) = ctx.register(
            "power.value",
            m.power_value,
            unit,
            normalise_power,
            Register::Demand,
        ) {
            r.float("power", v);
        }
    }
    // Prices of 0 are real (some tariffs, and after a reboot): kept.
    if let Some(v) = ctx.num("energy.import.price.unitrate", m.unitrate) {
        r.float("price.unitrate", v);
    }
    if let Some(v) = ctx.num("energy.import.price.standingcharge", m.standingcharge) {
        r.float("price.standingcharge", v);
    }
    // Pushed in key order: device, mpan/mprn, supplier.

    let timestamp = ctx.text("timestamp", &m.timestamp);
    if let Some(t) = ctx.time(timestamp, !r.fields.is_empty()) {
        r.time_ns = t;
        ctx.emit(&r);
    }
}

/// `dayvol`/`weekvol`/`monthvol`: written in m3 only when the device labels
/// them with a volume unit. Every device seen so far labels them "kWh" and
/// repeats day/week/month, so they are energies under a volume's name; writing
/// them into a field documented as m3 would be a number in the wrong unit.
fn period_volumes<'p>(ctx: &mut Context<'_>, r: &mut Reading<'p>, import: &MeterFields<'p>) {
    let values = [
        (
            "energy.import.dayvol",
            "dayvol",
            import.dayvol,
            Register::DayOrWeek,
        ),
        (
            "energy.import.weekvol",
            "weekvol",
            import.weekvol,
            Register::DayOrWeek,
        ),
        (
            "energy.import.monthvol",
            "monthvol",
            import.monthvol,
            Register::Month,
        ),
    ];
    if values
        .iter()
        .all(|(_, _, v, _)| matches!(v, Num::Missing | Num::Null))
    {
        return;
    }
    let unit = ctx.text(
        "energy.import.dayweekmonthvolunits",
        &import.dayweekmonthvolunits,
    );
    let Some(unit) = unit.filter(|u| !u.trim().is_empty()) else {
        // Unlike every other field, no default unit: the only devices known
        // to send these label them "kWh", so an unlabelled value is more
        // likely an energy than a volume.
        ctx.note(
            Level::Info,
            format_args!("fields dayvol/weekvol/monthvol have no volume unit (dayweekmonthvolunits missing or empty); left out"),
        );
        return;
    };
    if is_energy_unit(unit) {
        ctx.note(
            Level::Info,
            format_args!("fields dayvol/weekvol/monthvol are labelled {unit:?}, an energy, not a volume; left out (day/week/month carry them)"),
        );
        return;
    }
    for (path, key, value, register) in values {
        if let Some(v) = ctx.register(path, value, Some(unit), normalise_volume, register) {
            r.float(key, v);
        }
    }
}
