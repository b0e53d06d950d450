//! `cadline check`: the command to run instead of `telegraf --test`, and
//! the first one a newcomer runs.
//!
//! It takes the service's flags and environment, connects as a client of
//! its own (`cadline-check-<pid>`) with a clean session, so the service's
//! session, its queued readings and its acknowledgements are untouched
//! (the broker sends both a copy of every message), listens for a while,
//! and tells a person what it saw: whether and how the broker was reached,
//! the topics, devices and message kinds, the firmware, the QoS granted and
//! used, and a sample of the lines the service would write. When nothing
//! arrives on the configured filters it listens on `#` too, so that a wrong
//! prefix shows as the prefix the CAD really uses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::config::cli::Config;
use crate::flatten::topic::{classify, Topic};
use crate::flatten::{FlattenOptions, Flattener, Level};

/// How long to listen on `#` when the configured filters got nothing.
const WIDE_LISTEN: Duration = Duration::from_secs(10);

/// Lines shown as a sample.
const SAMPLE_LINES: usize = 6;

/// What was seen, built up message by message (no I/O: unit-tested).
#[derive(Debug, Default)]
pub struct Report {
    /// Where and how the check connects (broker, client id, MQTT version,
    /// TLS, login): said whether or not it got there.
    pub tried: String,
    /// Where and how the broker was reached, once it was.
    pub connected: Option<String>,
    /// The last connection failure, explained.
    pub failure: Option<String>,
    /// Per filter: the QoS granted, or `None` where refused.
    pub granted: Vec<(String, Option<u8>)>,
    /// Topic → (messages, highest QoS delivered).
    pub topics: BTreeMap<String, (usize, u8)>,
    /// Device → message kinds.
    pub devices: BTreeMap<String, BTreeSet<&'static str>>,
    /// Device → firmware (`software` in STATE).
    pub firmware: BTreeMap<String, String>,
    /// Topics seen on `#` after the filters got nothing.
    pub elsewhere: BTreeSet<String>,
    pub lines: usize,
    pub sample: Vec<String>,
    /// The QoS subscribed with (`--qos`).
    pub qos: u8,
}

fn kind_of(topic: &Topic) -> (&'static str, String) {
    match topic {
        Topic::Electricity { device } => ("electricitymeter", (*device).to_owned()),
        Topic::Gas { device } => ("gasmeter", (*device).to_owned()),
        Topic::State { device } => ("STATE", (*device).to_owned()),
        Topic::Sensor { device, .. } => ("glowsensorth1", (*device).to_owned()),
        Topic::LegacyHex { device } => ("SMART/HILD", (*device).to_owned()),
    }
}

impl Report {
    /// One message on the configured filters.
    pub fn message(
        &mut self,
        flattener: &Flattener,
        prefix: &str,
        topic: &str,
        qos: u8,
        payload: &[u8],
    ) {
        let entry = self.topics.entry(topic.to_owned()).or_insert((0, 0));
        entry.0 += 1;
        entry.1 = entry.1.max(qos);
        if let Some(kind) = classify(topic, prefix) {
            let (name, device) = kind_of(&kind);
            if let Topic::State { .. } = kind {
                if let Some(v) = serde_json::from_slice::<serde_json::Value>(payload)
                    .ok()
                    .and_then(|v| {
                        v.get("software")
                            .and_then(|s| s.as_str().map(str::to_owned))
                    })
                {
                    self.firmware.insert(device.clone(), v);
                }
            }
            self.devices.entry(device).or_default().insert(name);
        }
        let mut out = Vec::new();
        let mut notes = Vec::new();
        let now = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        )
        .unwrap_or(i64::MAX);
        self.lines += flattener.flatten(topic, payload, now, &mut out, &mut notes);
        for line in String::from_utf8_lossy(&out).lines() {
            if self.sample.len() < SAMPLE_LINES {
                self.sample.push(line.to_owned());
            }
        }
    }

    /// The prefix the CAD seems to publish under, from topics seen on `#`.
    pub fn prefix_elsewhere(&self) -> Option<String> {
        self.elsewhere.iter().find_map(|t| {
            let parts: Vec<&str> = t.split('/').collect();
            let n = parts.len();
            let cut = if t.ends_with("/SENSOR/electricitymeter") || t.ends_with("/SENSOR/gasmeter")
            {
                3
            } else if t.ends_with("/STATE") {
                2
            } else {
                return None;
            };
            (n > cut).then(|| parts[..n - cut].join("/"))
        })
    }

    /// `Ok` when readings would flow; otherwise the one line saying why.
    pub fn verdict(&self, prefix: &str, listened: Duration) -> Result<(), String> {
        if self.connected.is_none() {
            return Err(format!(
                "the broker was not reached: {}",
                self.failure.as_deref().unwrap_or("no answer")
            ));
        }
        if !self.granted.is_empty() && self.granted.iter().all(|(_, g)| g.is_none()) {
            return Err(
                "the broker refused every subscription (check its ACL for this user)".to_owned(),
            );
        }
        if self.lines > 0 {
            return Ok(());
        }
        if self.topics.is_empty() {
            return Err(match self.prefix_elsewhere() {
                Some(p) => format!(
                    "nothing arrived under {prefix}/ in {}s; the CAD publishes under {p}/, not \
                     {prefix}/: set --prefix {p}",
                    listened.as_secs()
                ),
                None if !self.elsewhere.is_empty() => format!(
                    "nothing arrived under {prefix}/ in {}s, and no Glow CAD topic on the broker \
                     at all (is the CAD's MQTT set to this broker?)",
                    listened.as_secs()
                ),
                None => format!(
                    "nothing arrived in {}s, on any topic this login may read (is the CAD \
                     publishing to this broker? a CAD sends every 10 s)",
                    listened.as_secs()
                ),
            });
        }
        Err("messages arrived but none gave a line (see the warnings above)".to_owned())
    }

    /// The report for a person.
    pub fn render(&self, prefix: &str, listened: Duration) -> String {
        let mut s = String::new();
        match &self.connected {
            Some(how) => {
                let _ = writeln!(s, "Broker: reached, {how}");
            }
            None => {
                let _ = writeln!(
                    s,
                    "Broker: not reached, {}: {}",
                    self.tried,
                    self.failure.as_deref().unwrap_or("no answer")
                );
            }
        }
        for (filter, granted) in &self.granted {
            let _ = match granted {
                Some(q) => writeln!(s, "Subscribed: {filter} (granted QoS {q})"),
                None => writeln!(s, "Subscribed: {filter} REFUSED by the broker"),
            };
        }
        let messages: usize = self.topics.values().map(|(n, _)| n).sum();
        let _ = writeln!(
            s,
            "Listened {}s: {messages} messages on {} topics",
            listened.as_secs(),
            self.topics.len()
        );
        for (topic, (n, q)) in &self.topics {
            let _ = writeln!(s, "  {topic}: {n} (QoS {q})");
        }
        for (device, kinds) in &self.devices {
            let kinds: Vec<&str> = kinds.iter().copied().collect();
            let firmware = self
                .firmware
                .get(device)
                .map(|f| format!(", firmware {f}"))
                .unwrap_or_default();
            let _ = writeln!(s, "Device {device}: {}{firmware}", kinds.join(", "));
        }
        if !self.elsewhere.is_empty() {
            let _ = writeln!(s, "Nothing under {prefix}/; on # instead:");
            for t in self.elsewhere.iter().take(10) {
                let _ = writeln!(s, "  {t}");
            }
        }
        if messages > 0 {
            let max_qos = self.topics.values().map(|(_, q)| *q).max().unwrap_or(0);
            let granted_1 = self.granted.iter().all(|(_, g)| *g == Some(1));
            let _ = if self.qos == 1 && granted_1 && max_qos == 1 {
                writeln!(
                    s,
                    "At least once: holds (QoS 1 granted, and the CAD publishes at QoS 1)"
                )
            } else if self.qos == 1 && !granted_1 {
                writeln!(
                    s,
                    "At least once: does NOT hold: the broker granted less than QoS 1"
                )
            } else if max_qos == 0 {
                writeln!(
                    s,
                    "At least once: does NOT hold: the CAD publishes at QoS 0, which the broker \
                     neither queues nor redelivers (set QoS 1 in the CAD's MQTT settings)"
                )
            } else {
                writeln!(s, "At least once: does NOT hold: --qos 0")
            };
        }
        if !self.sample.is_empty() {
            let _ = writeln!(
                s,
                "Lines the service would write ({} in all), for example:",
                self.lines
            );
            for l in &self.sample {
                let _ = writeln!(s, "  {l}");
            }
        }
        s
    }
}

/// What the connection reported, for either protocol version.
enum Event {
    Connected,
    Granted(Vec<Option<u8>>),
    Publish {
        topic: String,
        qos: u8,
        payload: Vec<u8>,
    },
    Failed(String),
    Nothing,
}

/// A connection of the check's own, of either protocol version. Sizes
/// differ, but there is one per process.
#[allow(clippy::large_enum_variant)]
enum Link {
    V4(rumqttc::Client, rumqttc::Connection),
    V5(rumqttc::v5::Client, rumqttc::v5::Connection),
}

impl Link {
    fn open(config: &Config, p: &crate::edges::mqtt_source::Prepared, id: &str) -> Link {
        let (host, port) = (&config.broker.host, config.broker.port);
        let keep_alive = Duration::from_secs(config.keep_alive);
        if config.mqtt_v5 {
            let mut o = rumqttc::v5::MqttOptions::new(id, host, port);
            o.set_keep_alive(keep_alive).set_clean_start(true);
            if let Some((u, pw)) = p.credentials() {
                o.set_credentials(u, pw);
            }
            if let Some(t) = p.tls() {
                o.set_transport(rumqttc::Transport::Tls(t.clone()));
            }
            let (c, n) = rumqttc::v5::Client::new(o, 64);
            Link::V5(c, n)
        } else {
            let mut o = rumqttc::MqttOptions::new(id, host, port);
            o.set_keep_alive(keep_alive).set_clean_session(true);
            if let Some((u, pw)) = p.credentials() {
                o.set_credentials(u, pw);
            }
            if let Some(t) = p.tls() {
                o.set_transport(rumqttc::Transport::Tls(t.clone()));
            }
            let (c, n) = rumqttc::Client::new(o, 64);
            Link::V4(c, n)
        }
    }

    fn subscribe(&self, filters: &[String], qos: u8) {
        for f in filters {
            let _ = match self {
                Link::V4(c, _) => {
                    let q = if qos == 1 {
                        rumqttc::QoS::AtLeastOnce
                    } else {
                        rumqttc::QoS::AtMostOnce
                    };
                    c.try_subscribe(f.clone(), q).map_err(|e| e.to_string())
                }
                Link::V5(c, _) => {
                    use rumqttc::v5::mqttbytes::QoS;
                    let q = if qos == 1 {
                        QoS::AtLeastOnce
                    } else {
                        QoS::AtMostOnce
                    };
                    c.try_subscribe(f.clone(), q).map_err(|e| e.to_string())
                }
            };
        }
    }

    fn next(&mut self, wait: Duration) -> Event {
        match self {
            Link::V4(_, n) => match n.recv_timeout(wait) {
                Err(_) => Event::Nothing,
                Ok(Err(e)) => Event::Failed(e.to_string()),
                Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_)))) => Event::Connected,
                Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(s)))) => Event::Granted(
                    s.return_codes
                        .iter()
                        .map(|c| match c {
                            rumqttc::SubscribeReasonCode::Success(q) => Some(*q as u8),
                            rumqttc::SubscribeReasonCode::Failure => None,
                        })
                        .collect(),
                ),
                Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) => Event::Publish {
                    topic: p.topic.clone(),
                    qos: p.qos as u8,
                    payload: p.payload.to_vec(),
                },
                Ok(Ok(_)) => Event::Nothing,
            },
            Link::V5(_, n) => {
                use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
                match n.recv_timeout(wait) {
                    Err(_) => Event::Nothing,
                    Ok(Err(e)) => Event::Failed(e.to_string()),
                    Ok(Ok(rumqttc::v5::Event::Incoming(Packet::ConnAck(_)))) => Event::Connected,
                    Ok(Ok(rumqttc::v5::Event::Incoming(Packet::SubAck(s)))) => Event::Granted(
                        s.return_codes
                            .iter()
                            .map(|c| match c {
                                SubscribeReasonCode::Success(q) => Some(*q as u8),
                                _ => None,
                            })
                            .collect(),
                    ),
                    Ok(Ok(rumqttc::v5::Event::Incoming(Packet::Publish(p)))) => Event::Publish {
                        topic: String::from_utf8_lossy(&p.topic).into_owned(),
                        qos: p.qos as u8,
                        payload: p.payload.to_vec(),
                    },
                    Ok(Ok(_)) => Event::Nothing,
                }
            }
        }
    }

    fn close(&self) {
        let _ = match self {
            Link::V4(c, _) => c.try_disconnect().map_err(|e| e.to_string()),
            Link::V5(c, _) => c.try_disconnect().map_err(|e| e.to_string()),
        };
    }
}

/// Runs the check: `Ok(report)` when readings would flow, else the report
/// and the one line saying why. `config` is the service's (its client id,
/// session and shared group are not used).
pub fn run(
    config: &Config,
    listen: Duration,
    password: Option<String>,
) -> (String, Result<(), String>) {
    let trial = crate::config::trial_run::settings(config);
    let prepared = match crate::edges::mqtt_source::prepare(&trial, password) {
        Ok(p) => p,
        Err(e) => return (String::new(), Err(e)),
    };
    let id = format!("cadline-check-{}", std::process::id());
    let flattener = Flattener::new(FlattenOptions {
        prefix: config.prefix.clone(),
        timestamp: config.timestamp,
        meter_tags: config.meter_tags,
        note_level: Level::Warn,
    });
    let how = format!(
        "{} as {id} with a clean session, MQTT {}, {}, {}",
        config.broker,
        if config.mqtt_v5 { "5" } else { "3.1.1" },
        if config.broker.tls {
            "TLS verified"
        } else {
            "no TLS"
        },
        match &config.username {
            Some(u) => format!("logged in as {u}"),
            None => "no login".to_owned(),
        }
    );
    let mut report = Report {
        qos: config.qos,
        tried: how.clone(),
        ..Report::default()
    };
    let mut link = Link::open(config, &prepared, &id);
    let started = Instant::now();
    let mut deadline = started + listen;
    let mut wide = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            if report.topics.is_empty() && report.connected.is_some() && !wide {
                // Nothing on the filters: what is there at all?
                wide = true;
                link.subscribe(&["#".to_owned()], 0);
                deadline = now + WIDE_LISTEN.min(listen);
                continue;
            }
            break;
        }
        match link.next(deadline - now) {
            Event::Connected => {
                if report.connected.is_none() {
                    report.connected = Some(how.clone());
                    link.subscribe(&trial.filters, config.qos);
                }
            }
            Event::Granted(codes) if report.granted.is_empty() => {
                report.granted = trial.filters.iter().cloned().zip(codes).collect();
            }
            Event::Granted(_) | Event::Nothing => {}
            Event::Publish {
                topic,
                qos,
                payload,
            } => {
                if wide {
                    report.elsewhere.insert(topic);
                } else {
                    report.message(&flattener, &config.prefix, &topic, qos, &payload);
                }
            }
            Event::Failed(text) => {
                let diagnosis = crate::edges::connection_error::diagnose(&text);
                report.failure = Some(diagnosis.text);
                // A login or TLS fault does not pass by waiting: said at
                // once, not after the whole --listen.
                if report.connected.is_some() || diagnosis.loud {
                    break;
                }
                std::thread::sleep(
                    Duration::from_millis(500)
                        .min(deadline.saturating_duration_since(Instant::now())),
                );
            }
        }
    }
    link.close();
    let listened = started.elapsed().min(listen);
    let text = report.render(&config.prefix, listened);
    let verdict = report.verdict(&config.prefix, listened);
    (text, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> (Report, Flattener) {
        let r = Report {
            connected: Some("mqtt://localhost:1883".into()),
            granted: vec![("glow/+/STATE".into(), Some(1))],
            qos: 1,
            ..Report::default()
        };
        (r, Flattener::new(FlattenOptions::default()))
    }

    #[test]
    fn a_reading_on_the_filters_would_flow() {
        let (mut r, f) = report();
        let payload = br#"{"electricitymeter":{"timestamp":"2026-03-01T11:59:50Z","energy":{"import":{"cumulative":12.5,"units":"kWh"}},"power":{"value":0.5,"units":"kW"}}}"#;
        r.message(&f, "glow", "glow/AB12/SENSOR/electricitymeter", 1, payload);
        r.message(
            &f,
            "glow",
            "glow/AB12/STATE",
            1,
            br#"{"software":"v1.8.13","han":{"rssi":-70}}"#,
        );
        assert_eq!(r.verdict("glow", Duration::from_secs(30)), Ok(()));
        let text = r.render("glow", Duration::from_secs(30));
        for needle in [
            "Broker: reached",
            "granted QoS 1",
            "glow/AB12/SENSOR/electricitymeter: 1 (QoS 1)",
            "Device AB12: STATE, electricitymeter, firmware v1.8.13",
            "At least once: holds",
            "  electricitymeter,",
        ] {
            assert!(text.contains(needle), "{needle}:\n{text}");
        }
    }

    #[test]
    fn a_cad_at_qos_0_is_said_to_break_at_least_once() {
        let (mut r, f) = report();
        r.message(&f, "glow", "glow/AB12/STATE", 0, br#"{"software":"v1"}"#);
        let text = r.render("glow", Duration::from_secs(30));
        assert!(text.contains("the CAD publishes at QoS 0"), "{text}");
    }

    #[test]
    fn a_wrong_prefix_names_the_right_one() {
        let (mut r, _) = report();
        r.elsewhere
            .insert("energy/AB12/SENSOR/electricitymeter".into());
        r.elsewhere.insert("zigbee2mqtt/lamp".into());
        let e = r
            .verdict("glow", Duration::from_secs(30))
            .expect_err("no readings");
        assert!(
            e.contains("the CAD publishes under energy/, not glow/: set --prefix energy"),
            "{e}"
        );
        let mut nested = Report::default();
        nested.elsewhere.insert("home/meter/AB12/STATE".into());
        assert_eq!(nested.prefix_elsewhere().as_deref(), Some("home/meter"));
    }

    #[test]
    fn an_unreachable_broker_or_a_refused_subscription_is_the_reason() {
        let r = Report {
            failure: Some("connection refused".into()),
            tried: "mqtts://broker.lan:8883 as cadline-check-7 with a clean session, MQTT 5, \
                    TLS verified, logged in as glow"
                .into(),
            ..Report::default()
        };
        let e = r
            .verdict("glow", Duration::from_secs(30))
            .expect_err("unreached");
        assert!(e.contains("not reached: connection refused"), "{e}");
        let text = r.render("glow", Duration::from_secs(30));
        assert!(
            text.starts_with(
                "Broker: not reached, mqtts://broker.lan:8883 as cadline-check-7 with a clean \
                 session, MQTT 5, TLS verified, logged in as glow: connection refused"
            ),
            "{text}"
        );
        let (mut r, _) = report();
        r.granted = vec![("glow/#".into(), None)];
        let e = r
            .verdict("glow", Duration::from_secs(30))
            .expect_err("refused");
        assert!(e.contains("refused every subscription"), "{e}");
    }
}
