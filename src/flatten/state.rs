//! `STATE` payloads: the CAD's own health (firmware, HAN radio link).

use crate::flatten::context::Context;
use crate::flatten::reading::Reading;
use crate::flatten::tolerant::{tolerant_struct, Num, Obj, Text};

tolerant_struct! {
    struct State<'a> {
        timestamp: Text<'a>,
        software: Text<'a>,
        hardware: Text<'a>,
        ethmac: Text<'a>,
        wifistamac: Text<'a>,
        smetsversion: Text<'a>,
        zigbee: Text<'a>,
        han: Obj<Han<'a>>,
    }
}

tolerant_struct! {
    struct Han<'a> {
        rssi: Num,
        lqi: Num,
        status: Text<'a>,
    }
}

/// Flattens a STATE payload into one `cadstate` reading.
pub(crate) fn flatten<'p>(ctx: &mut Context<'_>, payload: &'p [u8], device: &'p str) {
    let state: State<'p> = match serde_json::from_slice(payload) {
        Ok(s) => s,
        Err(err) => {
            ctx.invalid_json(err);
            return;
        }
    };
    let mut r = Reading::new("cadstate", 0);
    r.tag("device", device);
    if let Some(han) = ctx.obj("han", &state.han) {
        if let Some(v) = ctx.int("han.rssi", han.rssi) {
            r.int("han.rssi", v);
        }
        if let Some(v) = ctx.int("han.lqi", han.lqi) {
            r.int("han.lqi", v);
        }
        if let Some(v) = ctx.text_value("han.status", &han.status) {
            r.text("han.status", v);
        }
    }
    for (key, value) in [
        ("software", &state.software),
        ("hardware", &state.hardware),
        ("zigbee", &state.zigbee),
        ("smetsversion", &state.smetsversion),
    ] {
        if let Some(v) = ctx.text_value(key, value) {
            r.text(key, v);
        }
    }
    // Older firmware names the MAC `ethmac`, newer `wifistamac`, and v1.8.13
    // sends both. The Wi-Fi station address is the one the CAD uses on a
    // Wi-Fi network (what a router's client list shows), so it wins.
    let mac = ctx
        .text_value("wifistamac", &state.wifistamac)
        .or_else(|| ctx.text_value("ethmac", &state.ethmac));
    if let Some(mac) = mac {
        r.text("mac", mac);
    }
    let timestamp = ctx.text("timestamp", &state.timestamp);
    if let Some(t) = ctx.time(timestamp, !r.fields.is_empty()) {
        r.time_ns = t;
        ctx.emit(&r);
    }
}
