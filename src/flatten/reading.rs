//! `Reading`: one line of output before it becomes line protocol.
//!
//! The flattener builds readings; `line_protocol` writes them. Keeping the
//! two apart means the schema (which fields, which types, which units) lives
//! in one place and the escaping rules in another.

use std::borrow::Cow;

/// A field value. Every energy, power, volume and price is `Float`, always:
/// InfluxDB fixes a field's type at first write and refuses a later
/// `0i` into a float field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Float(f64),
    Int(i64),
    Str(Cow<'a, str>),
}

/// One measurement at one time: what becomes one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading<'a> {
    pub measurement: &'static str,
    /// Tags in the order they are written; keep them sorted by key, as
    /// InfluxDB would otherwise sort them on every write.
    pub tags: Vec<(&'static str, Cow<'a, str>)>,
    /// Fields in schema order, so output is stable from message to message.
    pub fields: Vec<(&'static str, FieldValue<'a>)>,
    /// Unix time in nanoseconds.
    pub time_ns: i64,
}

impl<'a> Reading<'a> {
    /// A reading with no tags or fields yet.
    pub fn new(measurement: &'static str, time_ns: i64) -> Self {
        Reading {
            measurement,
            tags: Vec::with_capacity(4),
            fields: Vec::with_capacity(12),
            time_ns,
        }
    }

    /// Adds a tag; an empty value is left out (InfluxDB refuses it).
    pub fn tag(&mut self, key: &'static str, value: impl Into<Cow<'a, str>>) {
        let value = value.into();
        if !value.trim().is_empty() {
            self.tags.push((key, value));
        }
    }

    /// Adds a float field.
    pub fn float(&mut self, key: &'static str, value: f64) {
        self.fields.push((key, FieldValue::Float(value)));
    }

    /// Adds an integer field.
    pub fn int(&mut self, key: &'static str, value: i64) {
        self.fields.push((key, FieldValue::Int(value)));
    }

    /// Adds a string field.
    pub fn text(&mut self, key: &'static str, value: impl Into<Cow<'a, str>>) {
        self.fields.push((key, FieldValue::Str(value.into())));
    }
}
