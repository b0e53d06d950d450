//! A day of CAD traffic through a real Mosquitto, the real Telegraf running
//! the shipped cadline.conf, and a real InfluxDB 1.x written by Telegraf's
//! outputs.influxdb: what InfluxDB holds at the end is what the meters
//! said, in normalised units.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::rig::{shipped_cadline_conf, BrokerConfig, Influx, Mosquitto, Telegraf};
use crate::telegraf::{influx_output, test_agent, wait_for_points};

const DEVICE: &str = "0A1B2C3D4E5F";
/// 2026-03-01T00:00:00Z.
const DAY_START: i64 = 1_772_323_200;

fn utc(secs: i64) -> String {
    // Only needs to cover 2026-03-01 and 2026-03-02.
    let day = if secs >= DAY_START + 86_400 { 2 } else { 1 };
    let s = secs.rem_euclid(86_400);
    format!(
        "2026-03-{day:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// What was published, in normalised units, keyed by Unix seconds.
#[derive(Default)]
struct Day {
    electricity: Vec<String>,
    gas: Vec<String>,
    state: Vec<String>,
    /// time → (cumulative kWh, day kWh, power kW if not the error value)
    elec_expected: BTreeMap<i64, (f64, f64, Option<f64>)>,
    /// time → (cumulative kWh, cumulativevol m3)
    gas_expected: BTreeMap<i64, (f64, f64)>,
    /// time → (rssi, lqi)
    state_expected: BTreeMap<i64, (i64, i64)>,
}

fn a_day() -> Day {
    let mut d = Day::default();
    for i in 0..8640_i64 {
        let t = DAY_START + i * 10;
        // Every 1000th message is the null placeholder some IHDs send.
        if i % 1000 == 999 {
            d.electricity.push(r#"{"electricitymeter":{"timestamp":"1970-01-01T00:00:00Z","energy":{"export":{"cumulative":null,"units":""},"import":{"cumulative":null,"day":null,"week":null,"month":null,"units":"","mpan":"read pending","supplier":"---","price":{"unitrate":null,"standingcharge":null}}},"power":{"value":null,"units":""}}}"#.to_owned());
            continue;
        }
        let wh = 8_000_000 + i * 3; // 3 Wh per 10 s
        let cumulative = wh as f64 / 1000.0;
        let day = (i * 3) as f64 / 1000.0;
        // Now and then the meter's error value instead of a demand.
        let power = if i % 777 == 0 {
            None
        } else {
            Some(((i * 37) % 5000) as f64 / 1000.0)
        };
        let power_json = power.map_or("-8388.608".to_owned(), |p| p.to_string());
        let day_json = if i == 0 {
            "0".to_owned()
        } else {
            day.to_string()
        };
        d.electricity.push(format!(
            r#"{{"electricitymeter":{{"timestamp":"{}","energy":{{"export":{{"cumulative":0.000,"units":"kWh"}},"import":{{"cumulative":{cumulative},"day":{day_json},"week":{},"month":{},"units":"kWh","mpan":"1900012345678","supplier":"Acme Power","price":{{"unitrate":0.2451,"standingcharge":0.5322}}}}}},"power":{{"value":{power_json},"units":"kW"}}}}}}"#,
            utc(t),
            day + 41.5,
            day + 187.25,
        ));
        d.elec_expected.insert(t, (cumulative, day, power));

        // Gas: a new reading every 30 minutes, republished every 10 s with
        // the same timestamp.
        let reading = i / 180;
        let gt = DAY_START + reading * 1800;
        let gas_kwh = 20_000.0 + reading as f64 * 1.125;
        let gas_m3 = 1_800.0 + reading as f64 * 0.125;
        d.gas.push(format!(
            r#"{{"gasmeter":{{"timestamp":"{}","energy":{{"import":{{"cumulative":{gas_kwh},"day":{},"week":80,"month":301,"units":"kWh","cumulativevol":{gas_m3},"cumulativevolunits":"m3","dayvol":1,"weekvol":80,"monthvol":301,"dayweekmonthvolunits":"kWh","mprn":"---","supplier":"---","price":{{"unitrate":0.0621,"standingcharge":0.3105}}}}}}}}}}"#,
            utc(gt),
            reading as f64 * 1.125,
        ));
        d.gas_expected.insert(gt, (gas_kwh, gas_m3));

        if i % 6 == 0 {
            let rssi = -60 - (i / 6) % 30;
            let lqi = 40 + (i / 6) % 100;
            d.state.push(format!(
                r#"{{"software":"v2.1.0","timestamp":"{}","hardware":"GLOW-IHD-02-1v4-SMETS2","wifistamac":"{DEVICE}","smetsversion":"SMETS2","zigbee":"1.2.5","han":{{"rssi":{rssi},"status":"joined","lqi":{lqi}}}}}"#,
                utc(t)
            ));
            d.state_expected.insert(t, (rssi, lqi));
        }
    }
    d
}

/// cumulative, day and power as InfluxDB returned them.
type Values = (Option<f64>, Option<f64>, Option<f64>);

fn f(v: &serde_json::Value) -> Option<f64> {
    v.as_f64()
}

#[test]
fn a_day_of_traffic_through_telegraf_lands_in_influxdb_as_published() {
    let day = a_day();
    let mut broker = Mosquitto::with(BrokerConfig::persistent());
    let influx = Influx::start();
    // The shipped cadline.conf (binary, broker and prefix changed) under the
    // tests' agent section (1 s flush), writing with outputs.influxdb.
    let config = test_agent()
        + &shipped_cadline_conf(&broker.url(), "glow", None)
        + &influx_output(&influx, "energy");
    let mut telegraf = Telegraf::start(&config);
    assert!(
        telegraf.wait_for_log("I! [inputs.execd] Connected to", 1, Duration::from_secs(20)),
        "{}",
        telegraf.log()
    );
    std::thread::sleep(Duration::from_millis(300));

    let topic = |kind: &str| format!("glow/{DEVICE}/SENSOR/{kind}");
    let half_e = day.electricity.len() / 2;
    let half_g = day.gas.len() / 2;
    let half_s = day.state.len() / 2;
    broker.publish_lines(&topic("electricitymeter"), &day.electricity[..half_e], 1);
    broker.publish_lines(&topic("gasmeter"), &day.gas[..half_g], 1);
    broker.publish_lines(&format!("glow/{DEVICE}/STATE"), &day.state[..half_s], 1);
    let first_half = half_s as u64;
    assert_eq!(
        wait_for_points(
            &influx,
            "energy",
            "cadstate",
            "han.rssi",
            first_half,
            Duration::from_secs(60)
        ),
        first_half,
        "the first half is written before the broker dies:\n{}",
        telegraf.log()
    );

    // The broker dies mid-day and comes back.
    broker.kill();
    std::thread::sleep(Duration::from_millis(500));
    broker.restart();
    assert!(
        telegraf.wait_for_log(
            "I! [inputs.execd] Reconnected to",
            1,
            Duration::from_secs(30)
        ),
        "{}",
        telegraf.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    broker.publish_lines(&topic("electricitymeter"), &day.electricity[half_e..], 1);
    broker.publish_lines(&topic("gasmeter"), &day.gas[half_g..], 1);
    broker.publish_lines(&format!("glow/{DEVICE}/STATE"), &day.state[half_s..], 1);
    let states = day.state.len() as u64;
    assert_eq!(
        wait_for_points(
            &influx,
            "energy",
            "cadstate",
            "han.rssi",
            states,
            Duration::from_secs(60)
        ),
        states,
        "{}",
        telegraf.log()
    );
    let readings = day.elec_expected.len() as u64;
    wait_for_points(
        &influx,
        "energy",
        "electricitymeter",
        "cumulative",
        readings,
        Duration::from_secs(30),
    );
    let status = telegraf.stop(Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");

    // Every line was accepted: Telegraf logged no parse or write error
    // (field type conflicts and bad lines are errors there). The warnings
    // are cadline's own, about the null placeholders and the error value.
    let log = telegraf.log();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" E! ")).collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // Electricity: one point per reading, every value as published.
    let rows = influx.rows(
        "energy",
        &format!("SELECT cumulative, day, power FROM electricitymeter WHERE device = '{DEVICE}'"),
    );
    assert_eq!(rows.len(), day.elec_expected.len());
    let got: HashMap<i64, Values> = rows
        .iter()
        .map(|r| {
            (
                r[0].as_i64().expect("time") / 1_000_000_000,
                (f(&r[1]), f(&r[2]), f(&r[3])),
            )
        })
        .collect();
    for (t, (cumulative, d, power)) in &day.elec_expected {
        let (gc, gd, gp) = got
            .get(t)
            .unwrap_or_else(|| panic!("no electricity point at {}", utc(*t)));
        assert_eq!(*gc, Some(*cumulative), "cumulative at {}", utc(*t));
        assert_eq!(*gd, Some(*d), "day at {}", utc(*t));
        assert_eq!(*gp, *power, "power at {}", utc(*t));
    }

    // Gas: 8640 messages, 48 readings, 48 points.
    let rows = influx.rows("energy", "SELECT cumulative, cumulativevol FROM gasmeter");
    assert_eq!(
        rows.len(),
        48,
        "gas repeats collapse to one point per reading"
    );
    for r in &rows {
        let t = r[0].as_i64().expect("time") / 1_000_000_000;
        let (kwh, m3) = day.gas_expected[&t];
        assert_eq!(
            (f(&r[1]), f(&r[2])),
            (Some(kwh), Some(m3)),
            "gas at {}",
            utc(t)
        );
    }
    assert!(
        influx
            .rows("energy", "SELECT dayvol FROM gasmeter")
            .is_empty(),
        "kWh-labelled dayvol is not written as m3"
    );

    // STATE: integers stay integers.
    let rows = influx.rows(
        "energy",
        "SELECT \"han.rssi\", \"han.lqi\", mac FROM cadstate",
    );
    assert_eq!(rows.len(), day.state_expected.len());
    for r in &rows {
        let t = r[0].as_i64().expect("time") / 1_000_000_000;
        let (rssi, lqi) = day.state_expected[&t];
        assert_eq!(
            (r[1].as_i64(), r[2].as_i64(), r[3].as_str()),
            (Some(rssi), Some(lqi), Some(DEVICE))
        );
    }

    // One type per field, and the documented ones.
    let fields = influx.query("energy", "SHOW FIELD KEYS");
    let mut types: HashMap<(String, String), Vec<String>> = HashMap::new();
    for series in fields["results"][0]["series"].as_array().expect("series") {
        let m = series["name"].as_str().expect("name").to_owned();
        for v in series["values"].as_array().expect("values") {
            types
                .entry((m.clone(), v[0].as_str().expect("key").to_owned()))
                .or_default()
                .push(v[1].as_str().expect("type").to_owned());
        }
    }
    for ((m, k), t) in &types {
        assert_eq!(t.len(), 1, "{m}.{k} has several types: {t:?}");
        let want = match k.as_str() {
            "han.rssi" | "han.lqi" => "integer",
            "han.status" | "software" | "hardware" | "zigbee" | "smetsversion" | "mac" => "string",
            _ => "float",
        };
        assert_eq!(t[0], want, "{m}.{k}");
    }
    // Every query of the shipped Grafana dashboard runs and returns data,
    // with Grafana's macros replaced the way Grafana replaces them.
    for q in crate::dashboard::dashboard_queries() {
        let q = crate::dashboard::as_grafana_sends(
            &q,
            DAY_START * 1000,
            (DAY_START + 86_400) * 1000,
            "30m",
            DEVICE,
        );
        let rows = influx.rows("energy", &q);
        assert!(!rows.is_empty(), "dashboard query returns nothing: {q}");
        assert!(
            rows.iter().any(|r| r.iter().skip(1).any(|v| !v.is_null())),
            "only nulls: {q}"
        );
    }

    // Personal data stays out by default.
    let tags = influx.query("energy", "SHOW TAG KEYS");
    assert!(
        !tags.to_string().contains("mpan") && !tags.to_string().contains("supplier"),
        "{tags}"
    );
}
