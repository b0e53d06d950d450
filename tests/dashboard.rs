//! Issue 23: the shipped Grafana dashboard (`telegraf/grafana-dashboard.json`)
//! tells the truth. A synthetic fortnight of one CAD (Economy 7, Octopus Go,
//! a rate change at midday, both clock changes, a gap of hours, a day counter
//! that resets early, counter glitches) goes through cadline's own `--stdin`
//! flattening into a real InfluxDB 1.x; every query of the dashboard runs
//! there with Grafana's macros replaced the way Grafana replaces them, and
//! the cost and daily queries are compared with totals this file computes on
//! its own, from the tariff and the use it generated (never from a query).
//! Grafana itself cannot run here, so the JSON is checked against what
//! Grafana needs to import and provision it.

use std::collections::BTreeMap;
use std::process::Command;

use crate::rig::{repo_path, run_with_timeout, Influx, TOOL_TIMEOUT};

const DEVICE: &str = "0A1B2C3D4E5F";
const DB: &str = "energy";

// ---------------------------------------------------------------------------
// The UK calendar, written out here so that the expected values do not come
// from InfluxDB's own time-zone code: BST runs from 01:00 UTC on the last
// Sunday of March to 01:00 UTC on the last Sunday of October.

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day number.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// The day number of the last Sunday of a month (1970-01-01 was a Thursday).
fn last_sunday(y: i64, m: i64) -> i64 {
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    let last = next - 1;
    last - (last + 4).rem_euclid(7)
}

/// True when UK clocks show BST at this UTC second.
fn bst(utc: i64) -> bool {
    let (y, _, _) = civil_from_days(utc.div_euclid(86_400));
    let start = last_sunday(y, 3) * 86_400 + 3_600;
    let end = last_sunday(y, 10) * 86_400 + 3_600;
    (start..end).contains(&utc)
}

/// UK wall-clock seconds (as if UTC) of a UTC second.
fn uk(utc: i64) -> i64 {
    utc + if bst(utc) { 3_600 } else { 0 }
}

/// The UK date (as a day number) of a UTC second.
fn uk_day(utc: i64) -> i64 {
    uk(utc).div_euclid(86_400)
}

/// Minutes since UK midnight of a UTC second.
fn uk_minute_of_day(utc: i64) -> i64 {
    uk(utc).rem_euclid(86_400) / 60
}

/// The UTC second at which a UK date begins. Clocks change at 01:00 UTC,
/// so UK midnight is never ambiguous.
fn uk_midnight(day: i64) -> i64 {
    let t = day * 86_400;
    if bst(t - 3_600) {
        t - 3_600
    } else {
        t
    }
}

fn date(y: i64, m: i64, d: i64) -> i64 {
    days_from_civil(y, m, d)
}

fn rfc3339(utc: i64) -> String {
    let (y, m, d) = civil_from_days(utc.div_euclid(86_400));
    let s = utc.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

// ---------------------------------------------------------------------------
// The synthetic fortnight: two UK weeks, one around each clock change.

/// The tariff of each UK day.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Plan {
    Flat,
    /// Cheap from 00:30 to 07:30 UK time.
    Economy7,
    /// Octopus Go: cheap from 00:30 to 05:30 UK time.
    Go,
    /// A new unit rate from 12:00 UK time (electricity and gas).
    MiddayChange,
}

fn plan(day: i64) -> Plan {
    match civil_from_days(day) {
        (2026, 3, 24) | (2026, 3, 29) => Plan::Economy7,
        (2026, 3, 25) | (2026, 10, 24) | (2026, 10, 25) => Plan::Go,
        (2026, 3, 26) => Plan::MiddayChange,
        _ => Plan::Flat,
    }
}

/// GBP/kWh in force during the minute that starts at `utc`.
fn electricity_rate(utc: i64) -> f64 {
    let m = uk_minute_of_day(utc);
    match plan(uk_day(utc)) {
        Plan::Flat => 0.245,
        Plan::Economy7 if (30..450).contains(&m) => 0.13,
        Plan::Economy7 => 0.32,
        Plan::Go if (30..330).contains(&m) => 0.085,
        Plan::Go => 0.27,
        Plan::MiddayChange if m < 720 => 0.245,
        Plan::MiddayChange => 0.221,
    }
}

fn gas_rate(utc: i64) -> f64 {
    if plan(uk_day(utc)) == Plan::MiddayChange && uk_minute_of_day(utc) >= 720 {
        0.059
    } else {
        0.062
    }
}

/// GBP/day; the October days have a different standing charge.
fn electricity_standing(day: i64) -> f64 {
    if civil_from_days(day).1 == 3 {
        0.53
    } else {
        0.51
    }
}

fn gas_standing(day: i64) -> f64 {
    if civil_from_days(day).1 == 3 {
        0.31
    } else {
        0.33
    }
}

/// A small deterministic jitter, so that no two minutes are alike.
fn jitter(utc: i64, range: i64) -> i64 {
    let x = (utc as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((x >> 29) % range as u64) as i64
}

/// Electricity imported during the minute that starts at `utc`, in Wh: a
/// base load, kettles, a 3 kW heater across every midnight, an electric car
/// at 7 kW in the cheap hours, an oven across the midday rate change. Heavy
/// use at every boundary makes a mispriced or misplaced minute show.
fn import_wh(utc: i64) -> i64 {
    let m = uk_minute_of_day(utc);
    let mut watts = match m {
        0..=359 => 250,
        360..=1019 => 450,
        1020..=1319 => 1200,
        _ => 500,
    };
    if (420..423).contains(&m) || (1080..1083).contains(&m) {
        watts += 3000;
    }
    if !(10..1430).contains(&m) {
        watts += 3000;
    }
    match plan(uk_day(utc)) {
        Plan::Economy7 if (30..270).contains(&m) => watts += 7000,
        Plan::Go if (30..330).contains(&m) => watts += 7000,
        Plan::MiddayChange if (690..750).contains(&m) => watts += 3000,
        _ => {}
    }
    (watts + jitter(utc, 120)) / 60
}

/// Exported (solar) during the minute, in Wh.
fn export_wh(utc: i64) -> i64 {
    let m = uk_minute_of_day(utc);
    if (660..900).contains(&m) {
        20 + jitter(utc + 7, 10)
    } else {
        0
    }
}

/// Gas used in the half hour that starts at `utc`, in Wh; nothing at all in
/// the small hours (an interval with no use is a case of its own).
fn gas_wh(utc: i64) -> i64 {
    let m = uk_minute_of_day(utc);
    if (360..540).contains(&m) || (1020..1320).contains(&m) {
        3500 + jitter(utc, 200)
    } else if (0..300).contains(&m) {
        0
    } else {
        80 + jitter(utc, 40)
    }
}

/// Litres of gas (m3 / 1000) for that energy, at about 11.2 kWh per m3.
fn gas_litres(utc: i64) -> i64 {
    (gas_wh(utc) * 10 + 56) / 112
}

/// The two weeks of readings: (first reading, last reading), UTC. Each runs
/// from one UK midnight to another, so whole UK days are covered.
fn weeks() -> [(i64, i64); 2] {
    [
        (
            uk_midnight(date(2026, 3, 23)),
            uk_midnight(date(2026, 3, 30)),
        ),
        (
            uk_midnight(date(2026, 10, 19)),
            uk_midnight(date(2026, 10, 26)),
        ),
    ]
}

/// The days each listed case falls on.
fn gap_day() -> i64 {
    date(2026, 3, 27)
}
fn early_reset_day() -> i64 {
    date(2026, 3, 28)
}
fn glitch_day() -> i64 {
    date(2026, 10, 20)
}
fn spring_day() -> i64 {
    date(2026, 3, 29)
}
fn autumn_day() -> i64 {
    date(2026, 10, 25)
}

/// No readings at all (electricity and gas) from 09:00 to 14:00 UK time on
/// the gap day, and no electricity readings for 40 minutes from 19:00 UK
/// time on the glitch day. Use goes on meanwhile.
fn electricity_missing(utc: i64) -> bool {
    let (d, m) = (uk_day(utc), uk_minute_of_day(utc));
    (d == gap_day() && (540..840).contains(&m)) || (d == glitch_day() && (1140..1180).contains(&m))
}

fn gas_missing(utc: i64) -> bool {
    uk_day(utc) == gap_day() && (540..840).contains(&uk_minute_of_day(utc))
}

/// The glitch day's bad readings, at UK times: the import register reads
/// 1000 kWh low once at 10:00, 5000 kWh high once at 14:00, and 0 once at
/// 16:00 (a reboot: cadline leaves a 0 register out); the gas register reads
/// 9000 kWh high once at 13:00.
enum Glitch {
    Low,
    High,
    Zero,
}

fn electricity_glitch(utc: i64) -> Option<Glitch> {
    if uk_day(utc) != glitch_day() || utc % 60 != 0 {
        return None;
    }
    match uk_minute_of_day(utc) {
        600 => Some(Glitch::Low),
        840 => Some(Glitch::High),
        960 => Some(Glitch::Zero),
        _ => None,
    }
}

fn gas_glitch(utc: i64) -> bool {
    uk_day(utc) == glitch_day() && uk_minute_of_day(utc) == 780
}

/// The meter's own day counter resets at UTC midnight (01:00 in summer), and
/// once 15 minutes early: at 23:45 UTC on 28 March.
fn day_counter_resets_at(utc: i64) -> bool {
    utc % 86_400 == 0 && rfc3339(utc) != "2026-03-29T00:00:00Z"
        || rfc3339(utc) == "2026-03-28T23:45:00Z"
}

fn kwh(wh: i64) -> String {
    format!("{}.{:03}", wh / 1000, wh % 1000)
}

/// Every message of the fortnight as `mosquitto_sub -v` lines: electricity
/// each minute on the minute, gas each half hour (stamped with the meter's
/// half-hour reading time and repeated three times as the CAD repeats it,
/// with the price in force when each copy was sent), and one day sent twice
/// (a redelivery).
fn messages() -> Vec<String> {
    let mut lines = Vec::new();
    let (mut import, mut export, mut gas, mut litres) =
        (8_000_000i64, 1_000_000i64, 20_000_000i64, 1_800_000i64);
    let mut day_counter = 0i64;
    for (first, last) in weeks() {
        let mut t = first;
        while t <= last {
            if day_counter_resets_at(t) {
                day_counter = 0;
            }
            if !electricity_missing(t) {
                let register = match electricity_glitch(t) {
                    Some(Glitch::Low) => import - 1_000_000,
                    Some(Glitch::High) => import + 5_000_000,
                    Some(Glitch::Zero) => 0,
                    None => import,
                };
                let line = format!(
                    "glow/{DEVICE}/SENSOR/electricitymeter {{\"electricitymeter\":{{\"timestamp\":\"{}\",\"energy\":{{\"export\":{{\"cumulative\":{},\"units\":\"kWh\"}},\"import\":{{\"cumulative\":{},\"day\":{},\"week\":0,\"month\":0,\"units\":\"kWh\",\"price\":{{\"unitrate\":{},\"standingcharge\":{}}}}}}},\"power\":{{\"value\":{},\"units\":\"kW\"}}}}}}",
                    rfc3339(t),
                    kwh(export),
                    kwh(register),
                    kwh(day_counter),
                    electricity_rate(t),
                    electricity_standing(uk_day(t)),
                    kwh(import_wh(t) * 60),
                );
                if uk_day(t) == early_reset_day() {
                    lines.push(line.clone());
                }
                lines.push(line);
            }
            if t % 600 == 0 {
                lines.push(format!(
                    "glow/{DEVICE}/STATE {{\"software\":\"v2.1.0\",\"timestamp\":\"{}\",\"hardware\":\"GLOW-IHD-02-1v4-SMETS2\",\"wifistamac\":\"{DEVICE}\",\"smetsversion\":\"SMETS2\",\"zigbee\":\"1.2.5\",\"han\":{{\"rssi\":{},\"status\":\"joined\",\"lqi\":{}}}}}",
                    rfc3339(t),
                    -70 - jitter(t, 10),
                    100 + jitter(t + 1, 20),
                ));
            }
            if t % 1800 == 0 && !gas_missing(t) {
                let register = if gas_glitch(t) { gas + 9_000_000 } else { gas };
                for sent in [t + 5, t + 900, t + 1790] {
                    lines.push(format!(
                        "glow/{DEVICE}/SENSOR/gasmeter {{\"gasmeter\":{{\"timestamp\":\"{}\",\"energy\":{{\"import\":{{\"cumulative\":{},\"day\":0,\"week\":0,\"month\":0,\"units\":\"kWh\",\"cumulativevol\":{},\"cumulativevolunits\":\"m3\",\"mprn\":\"---\",\"supplier\":\"---\",\"price\":{{\"unitrate\":{},\"standingcharge\":{}}}}}}}}}}}",
                        rfc3339(t),
                        kwh(register),
                        kwh(litres),
                        gas_rate(sent),
                        gas_standing(uk_day(t)),
                    ));
                }
            }
            if t == last {
                break;
            }
            import += import_wh(t);
            export += export_wh(t);
            day_counter += import_wh(t);
            if t % 1800 == 0 {
                gas += gas_wh(t);
                litres += gas_litres(t);
            }
            t += 60;
        }
        // A CAD left unplugged until the next week: the registers stand still.
    }
    lines
}

/// Flattens the fortnight with cadline itself and writes its line protocol
/// to a fresh InfluxDB.
fn write_fortnight() -> Influx {
    let input = messages().join("\n") + "\n";
    let output = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_cadline")).arg("--stdin"),
        Some(input.as_bytes()),
        TOOL_TIMEOUT,
        "cadline --stdin over the synthetic fortnight",
    );
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 line protocol");
    let lines: Vec<&str> = stdout.lines().collect();
    let influx = Influx::start();
    influx.create_db(DB);
    for chunk in lines.chunks(5000) {
        influx
            .write(DB, &chunk.join("\n"))
            .expect("InfluxDB accepts cadline's lines");
    }
    // One point per distinct reading time: the repeats and the redelivered
    // day landed on their own points.
    assert_eq!(
        influx.count(DB, "gasmeter", "cumulativevol") as usize,
        weeks().iter().map(|(a, b)| (b - a) / 1800 + 1).sum::<i64>() as usize - 10,
        "gas points (ten half hours missing on the gap day)"
    );
    influx
}

// ---------------------------------------------------------------------------
// What the dashboard should show, computed from the generated use and tariff.

/// Electricity (kWh, GBP without the standing charge) over the minutes
/// starting in [from, to) for which the generator made use.
fn electricity_truth(from: i64, to: i64) -> (f64, f64) {
    let (mut wh, mut cost) = (0i64, 0.0);
    for (first, last) in weeks() {
        let mut t = first.max(from - from.rem_euclid(60));
        while t < last.min(to) {
            wh += import_wh(t);
            cost += import_wh(t) as f64 / 1000.0 * electricity_rate(t);
            t += 60;
        }
    }
    (wh as f64 / 1000.0, cost)
}

fn gas_truth(from: i64, to: i64) -> (f64, f64) {
    let (mut wh, mut cost) = (0i64, 0.0);
    for (first, last) in weeks() {
        let mut t = first.max(from);
        t += (1800 - t.rem_euclid(1800)) % 1800;
        while t < last.min(to) {
            wh += gas_wh(t);
            cost += gas_wh(t) as f64 / 1000.0 * gas_rate(t);
            t += 1800;
        }
    }
    (wh as f64 / 1000.0, cost)
}

/// Every UK day that has readings.
fn all_days() -> Vec<i64> {
    weeks()
        .iter()
        .flat_map(|(first, last)| uk_day(*first)..uk_day(*last))
        .collect()
}

/// The days issue 23 lists, each with what makes it hard.
fn listed_days() -> Vec<(i64, &'static str)> {
    vec![
        (date(2026, 3, 24), "Economy 7"),
        (date(2026, 3, 25), "Octopus Go"),
        (date(2026, 3, 26), "a rate change at midday"),
        (gap_day(), "five hours without readings"),
        (
            early_reset_day(),
            "a day counter that resets 15 minutes early",
        ),
        (spring_day(), "the spring clock change (23 hours)"),
        (autumn_day(), "the autumn clock change (25 hours)"),
        (date(2026, 10, 24), "Octopus Go before the autumn change"),
    ]
}

// ---------------------------------------------------------------------------
// Grafana's side: the panels' queries and how Grafana fills in its macros.

fn dashboard() -> serde_json::Value {
    let text = std::fs::read_to_string(repo_path("telegraf/grafana-dashboard.json"))
        .expect("telegraf/grafana-dashboard.json");
    serde_json::from_str(&text).expect("the dashboard is valid JSON")
}

fn panel<'a>(dash: &'a serde_json::Value, title: &str) -> &'a serde_json::Value {
    dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("no panel {title:?}"))
}

/// The raw query of a panel's target, by refId.
fn query(dash: &serde_json::Value, title: &str, ref_id: &str) -> String {
    panel(dash, title)["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["refId"] == ref_id)
        .and_then(|t| t["query"].as_str())
        .unwrap_or_else(|| panic!("no query {ref_id} in {title:?}"))
        .to_owned()
}

/// Every InfluxQL query in the file: panel targets and query variables.
pub fn dashboard_queries() -> Vec<String> {
    let dash = dashboard();
    let mut queries: Vec<String> = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            assert_eq!(t["rawQuery"], true, "{t}");
            t["query"].as_str().expect("raw query").to_owned()
        })
        .collect();
    for v in dash["templating"]["list"].as_array().expect("variables") {
        if v["type"] == "query" {
            queries.push(v["query"].as_str().expect("variable query").to_owned());
        }
    }
    queries
}

/// A query as Grafana's InfluxDB data source sends it (the backend's
/// `renderTimeFilter`: `time >= <from>ms and time <= <to>ms`; `$__interval`
/// as Grafana formats it; the single-valued `$device` as is).
pub fn as_grafana_sends(q: &str, from_ms: i64, to_ms: i64, interval: &str, device: &str) -> String {
    let sent = q
        .replace(
            "$timeFilter",
            &format!("time >= {from_ms}ms and time <= {to_ms}ms"),
        )
        .replace("$__interval", interval)
        .replace("$device", device);
    // Nothing of Grafana's is left for InfluxDB to trip over.
    let leftover = sent.match_indices('$').any(|(i, _)| {
        sent[i + 1..].starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '{')
    });
    assert!(!leftover, "a Grafana variable is left unreplaced: {sent}");
    sent
}

/// Grafana's `$__interval` for a time range drawn `pixels` wide (the
/// frontend's `rangeutil.calculateInterval` and `roundInterval`), never
/// below the panel's minimum interval.
fn grafana_interval(range_ms: i64, pixels: i64, min_ms: i64) -> String {
    let raw = range_ms / pixels;
    let steps: [(i64, i64); 18] = [
        (12_500, 10_000),
        (17_500, 15_000),
        (25_000, 20_000),
        (45_000, 30_000),
        (90_000, 60_000),
        (210_000, 120_000),
        (450_000, 300_000),
        (750_000, 600_000),
        (1_050_000, 900_000),
        (1_500_000, 1_200_000),
        (2_700_000, 1_800_000),
        (5_400_000, 3_600_000),
        (9_000_000, 7_200_000),
        (16_200_000, 10_800_000),
        (32_400_000, 21_600_000),
        (86_400_000, 43_200_000),
        (604_800_000, 86_400_000),
        (1_814_400_000, 604_800_000),
    ];
    let rounded = steps
        .iter()
        .find(|(below, _)| raw < *below)
        .map(|(_, step)| *step)
        .unwrap_or(2_592_000_000);
    let ms = rounded.max(min_ms);
    let s = ms / 1000;
    if s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// A panel's minimum interval (`interval`, e.g. "30m") in milliseconds.
fn min_interval_ms(p: &serde_json::Value) -> i64 {
    match p["interval"].as_str() {
        Some(i) if i.ends_with('m') => {
            i.trim_end_matches('m').parse::<i64>().expect("minutes") * 60_000
        }
        Some(i) if i.ends_with('h') => {
            i.trim_end_matches('h').parse::<i64>().expect("hours") * 3_600_000
        }
        None => 0,
        Some(other) => panic!("unexpected min interval {other}"),
    }
}

/// The views a user opens: a UK day (Grafana's "Today", to 23:59:59.999),
/// the week ending with it, and the 31 days ending with it.
struct View {
    name: &'static str,
    from_ms: i64,
    to_ms: i64,
}

fn views_ending(day: i64) -> [View; 3] {
    let end = uk_midnight(day + 1) * 1000 - 1;
    [
        View {
            name: "day",
            from_ms: uk_midnight(day) * 1000,
            to_ms: end,
        },
        View {
            name: "week",
            from_ms: uk_midnight(day - 6) * 1000,
            to_ms: end,
        },
        View {
            name: "month",
            from_ms: uk_midnight(day - 30) * 1000,
            to_ms: end,
        },
    ]
}

/// (time in seconds, value) of each row of a one-value query that Grafana
/// draws in a range ending at `to_ms`. The panels that read an hour past
/// the range's end (to close its last interval) can return a row after it,
/// outside the graph.
fn series(influx: &Influx, q: &str, to_ms: i64) -> Vec<(i64, f64)> {
    influx
        .rows(DB, q)
        .iter()
        .filter_map(|r| Some((r[0].as_i64()? / 1_000_000_000, r.get(1)?.as_f64()?)))
        .filter(|(t, _)| t * 1000 <= to_ms)
        .collect()
}

fn single(influx: &Influx, q: &str, to_ms: i64) -> f64 {
    let s = series(influx, q, to_ms);
    assert_eq!(s.len(), 1, "one value expected from {q}: {s:?}");
    s[0].1
}

/// Money to the penny and beyond: the queries are exact sums, so anything
/// but float noise is a fault.
fn assert_money(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() < 1e-6,
        "{what}: the dashboard says £{got:.4}, the tariff and use say £{want:.4}"
    );
}

fn assert_kwh(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() < 1e-6,
        "{what}: the dashboard says {got:.4} kWh, the meter used {want:.4} kWh"
    );
}

fn name(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

#[test]
fn the_uk_calendar_here_matches_the_clock_changes() {
    // The calendar the expected values rest on.
    assert_eq!(name(last_sunday(2026, 3)), "2026-03-29");
    assert_eq!(name(last_sunday(2026, 10)), "2026-10-25");
    assert_eq!(
        rfc3339(uk_midnight(spring_day() + 1)),
        "2026-03-29T23:00:00Z"
    );
    assert_eq!(rfc3339(uk_midnight(autumn_day())), "2026-10-24T23:00:00Z");
    assert_eq!(
        uk_midnight(spring_day() + 1) - uk_midnight(spring_day()),
        23 * 3600
    );
    assert_eq!(
        uk_midnight(autumn_day() + 1) - uk_midnight(autumn_day()),
        25 * 3600
    );
    assert!(!bst(uk_midnight(spring_day()) + 3599) && bst(uk_midnight(spring_day()) + 3600));
    assert_eq!(grafana_interval(86_400_000, 1000, 0), "1m");
    assert_eq!(grafana_interval(7 * 86_400_000, 1000, 0), "10m");
    assert_eq!(grafana_interval(31 * 86_400_000, 700, 0), "1h");
    assert_eq!(grafana_interval(86_400_000, 1000, 1_800_000), "30m");
}

/// Points 1, 2, 3, 4 and 6 of issue 23 on one InfluxDB, written once.
#[test]
fn the_dashboard_tells_the_truth_over_a_synthetic_fortnight() {
    let started = std::time::Instant::now();
    let influx = write_fortnight();
    eprintln!(
        "the fortnight written: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // InfluxDB's tz() reads the system's zone data.
    let answer = influx.query(
        DB,
        "SELECT count(\"power\") FROM \"electricitymeter\" WHERE time >= '2026-03-29T00:00:00Z' AND time < '2026-03-30T00:00:00Z' GROUP BY time(1d) tz('Europe/London')",
    );
    assert!(
        answer["results"][0].get("error").is_none(),
        "InfluxDB cannot read Europe/London ({answer}); install the zone data: sudo apt-get install tzdata"
    );
    let dash = dashboard();
    let sent = |q: &str, from: i64, to: i64, interval: &str| {
        as_grafana_sends(q, from, to, interval, DEVICE)
    };

    // Each part's time goes to the log: the suite has a time budget.
    type Check = fn(&Influx, &serde_json::Value);
    let phases: [(&str, Check); 5] = [
        ("every query in every view", every_query_runs_in_every_view),
        ("UK days and their costs", uk_days_and_their_costs),
        ("today and this month", today_and_this_month),
        ("half hours at every zoom", half_hours_at_every_zoom),
        ("counter glitches", counter_glitches_are_not_drawn),
    ];
    for (what, check) in phases {
        let started = std::time::Instant::now();
        check(&influx, &dash);
        eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
    }

    // The trap the listed days set is real: the old panels, priced at the
    // rate now and cut at UTC midnight, are wrong on them.
    let e7 = date(2026, 3, 24);
    let old = "SELECT last(\"day\") * last(\"price.unitrate\") + last(\"price.standingcharge\") FROM \"electricitymeter\" WHERE \"device\" =~ /^$device$/ AND $timeFilter";
    let (from, to) = (uk_midnight(e7) * 1000, uk_midnight(e7 + 1) * 1000 - 1);
    let (_, cost) = electricity_truth(uk_midnight(e7), uk_midnight(e7 + 1));
    let old_cost = single(&influx, &sent(old, from, to, "1m"), to);
    assert!(
        (old_cost - cost - electricity_standing(e7)).abs() > 0.5,
        "the old query should misprice Economy 7: {old_cost} vs {cost}"
    );
}

/// Point 5's last check: every query in the file runs, in each view, at the
/// `$__interval` Grafana would choose for its panel; none is left unrun.
fn every_query_runs_in_every_view(influx: &Influx, dash: &serde_json::Value) {
    let mut ran = 0;
    for view in views_ending(autumn_day()) {
        for p in dash["panels"].as_array().expect("panels") {
            let interval = grafana_interval(view.to_ms - view.from_ms, 1000, min_interval_ms(p));
            for t in p["targets"].as_array().expect("targets") {
                let q = t["query"].as_str().expect("query");
                let answer = influx.query(
                    DB,
                    &as_grafana_sends(q, view.from_ms, view.to_ms, &interval, DEVICE),
                );
                let result = &answer["results"][0];
                assert!(
                    result.get("error").is_none(),
                    "{} view, panel {:?}: {result}\n{q}",
                    view.name,
                    p["title"]
                );
                assert!(
                    result["series"].as_array().is_some_and(|s| !s.is_empty()),
                    "{} view, panel {:?} returns nothing:\n{q}",
                    view.name,
                    p["title"]
                );
                ran += 1;
            }
        }
        for v in dash["templating"]["list"].as_array().expect("variables") {
            if v["type"] == "query" {
                let rows = influx.rows(DB, v["query"].as_str().expect("query"));
                assert_eq!(rows.len(), 1, "{v}");
                assert_eq!(rows[0].get(1).and_then(|d| d.as_str()), Some(DEVICE));
                ran += 1;
            }
        }
    }
    assert_eq!(
        ran,
        3 * dashboard_queries().len(),
        "every query of the file ran"
    );
}

/// Points 1 and 2: the per-day cost and energy panels over a week and over a
/// month, each UK day against the generated use and tariff, to the penny.
fn uk_days_and_their_costs(influx: &Influx, dash: &serde_json::Value) {
    let cost_e = query(dash, "Cost per day", "A");
    let cost_g = query(dash, "Cost per day", "B");
    let energy_e = query(dash, "Energy per day", "A");
    let energy_x = query(dash, "Energy per day", "B");
    let energy_g = query(dash, "Energy per day", "C");
    for week_end in [date(2026, 3, 29), date(2026, 10, 25)] {
        for view in views_ending(week_end).iter().skip(1) {
            let interval = grafana_interval(view.to_ms - view.from_ms, 1000, 0);
            let run = |q: &str| -> BTreeMap<i64, f64> {
                series(
                    influx,
                    &as_grafana_sends(q, view.from_ms, view.to_ms, &interval, DEVICE),
                    view.to_ms,
                )
                .into_iter()
                .collect()
            };
            let (ce, cg, ee, ex, eg) = (
                run(&cost_e),
                run(&cost_g),
                run(&energy_e),
                run(&energy_x),
                run(&energy_g),
            );
            let days: Vec<i64> = all_days()
                .into_iter()
                .filter(|d| {
                    uk_midnight(*d) * 1000 >= view.from_ms && uk_midnight(*d) * 1000 <= view.to_ms
                })
                .collect();
            assert_eq!(
                days.len(),
                7,
                "{} view ending {}",
                view.name,
                name(week_end)
            );
            // One bar per UK day, starting at UK midnight (tz() works here:
            // InfluxDB found its zone data), and no other bar.
            let starts: Vec<i64> = days.iter().map(|d| uk_midnight(*d)).collect();
            for (what, got) in [
                ("electricity cost", &ce),
                ("gas cost", &cg),
                ("import", &ee),
                ("gas", &eg),
            ] {
                assert_eq!(
                    got.keys().copied().collect::<Vec<_>>(),
                    starts,
                    "{what} bars, {} view",
                    view.name
                );
            }
            for day in days {
                let (a, b) = (uk_midnight(day), uk_midnight(day + 1));
                let which = format!("{} ({} view)", name(day), view.name);
                let (e_kwh, e_cost) = electricity_truth(a, b);
                let (g_kwh, g_cost) = gas_truth(a, b);
                if day == glitch_day() {
                    continue; // counter_glitches_are_not_drawn checks it
                }
                assert_kwh(ee[&a], e_kwh, &format!("electricity on {which}"));
                assert_money(
                    ce[&a],
                    e_cost + electricity_standing(day),
                    &format!("electricity cost on {which}"),
                );
                assert_kwh(eg[&a], g_kwh, &format!("gas on {which}"));
                assert_money(
                    cg[&a],
                    g_cost + gas_standing(day),
                    &format!("gas cost on {which}"),
                );
                let mut x_wh = 0;
                let mut t = a;
                while t < b {
                    x_wh += export_wh(t);
                    t += 60;
                }
                if x_wh > 0 {
                    assert_kwh(ex[&a], x_wh as f64 / 1000.0, &format!("export on {which}"));
                }
            }
        }
    }
    // The clock-change days are 23 and 25 hours of readings, and the week
    // loses and double-counts nothing: its days add up to the register's
    // whole advance.
    for (day, hours) in [(spring_day(), 23), (autumn_day(), 25)] {
        assert_eq!((uk_midnight(day + 1) - uk_midnight(day)) / 3600, hours);
    }
    for (first, last) in weeks() {
        let view_from = first * 1000;
        let view_to = last * 1000 - 1;
        let q = as_grafana_sends(&energy_e, view_from, view_to, "10m", DEVICE);
        let sum: f64 = series(influx, &q, view_to).iter().map(|(_, v)| v).sum();
        let (want, _) = electricity_truth(first, last);
        let glitches = if uk_day(first) <= glitch_day() && glitch_day() < uk_day(last) {
            lost_on_glitch_day().0
        } else {
            0.0
        };
        assert_kwh(
            sum,
            want - glitches,
            &format!("the week from {}", name(uk_day(first))),
        );
    }
    // For each listed day, say what was shown (the test log is a record).
    for (day, why) in listed_days() {
        let (_, e) = electricity_truth(uk_midnight(day), uk_midnight(day + 1));
        let (_, g) = gas_truth(uk_midnight(day), uk_midnight(day + 1));
        eprintln!(
            "{}: {why}: electricity £{:.2}, gas £{:.2}",
            name(day),
            e + electricity_standing(day),
            g + gas_standing(day)
        );
    }
}

/// Points 1 and 6: the "today" stats (Grafana's "Today so far" override)
/// at the end of each listed day and halfway through it, and "this month".
fn today_and_this_month(influx: &Influx, dash: &serde_json::Value) {
    let today_e = query(dash, "Electricity today", "A");
    let cost_e = query(dash, "Electricity cost today", "A");
    let today_g = query(dash, "Gas today", "A");
    let cost_g = query(dash, "Gas cost today", "A");
    assert_eq!(panel(dash, "Electricity cost today")["timeFrom"], "now/d");
    assert_eq!(panel(dash, "Cost this month")["timeFrom"], "now/M");
    for (day, why) in listed_days() {
        let a = uk_midnight(day);
        // Just before midnight, and at 15:00 (a "so far" range: the
        // intervals that began by then).
        for to in [uk_midnight(day + 1) * 1000 - 1, (a + 15 * 3600) * 1000] {
            let run =
                |q: &str| single(influx, &as_grafana_sends(q, a * 1000, to, "1m", DEVICE), to);
            // What has been used so far: every interval that has ended by
            // `to` (the one under way has no closing reading yet).
            let now = to.div_euclid(1000);
            let (e_kwh, e_cost) = electricity_truth(a, now - 59);
            let (g_kwh, g_cost) = gas_truth(a, now - 1799);
            let which = format!("{} ({why}) until {}", name(day), rfc3339(to / 1000));
            assert_kwh(run(&today_e), e_kwh, &format!("electricity today, {which}"));
            assert_money(
                run(&cost_e),
                e_cost + electricity_standing(day),
                &format!("electricity cost today, {which}"),
            );
            assert_kwh(run(&today_g), g_kwh, &format!("gas today, {which}"));
            assert_money(
                run(&cost_g),
                g_cost + gas_standing(day),
                &format!("gas cost today, {which}"),
            );
        }
    }
    // This month: March and October, from UK midnight on the 1st.
    for (month, days) in [(3, 23..30), (10, 19..26)] {
        let from = uk_midnight(date(2026, month, 1)) * 1000;
        let to = uk_midnight(date(2026, month + 1, 1)) * 1000 - 1;
        let run = |q: &str| single(influx, &as_grafana_sends(q, from, to, "1h", DEVICE), to);
        let (mut e, mut g) = (0.0, 0.0);
        for d in days {
            let day = date(2026, month, d);
            let (a, b) = (uk_midnight(day), uk_midnight(day + 1));
            e += electricity_truth(a, b).1 + electricity_standing(day);
            g += gas_truth(a, b).1 + gas_standing(day);
        }
        if month == 10 {
            e -= lost_on_glitch_day().1;
            g -= lost_on_glitch_day().3;
        }
        assert_money(
            run(&query(dash, "Cost this month", "A")),
            e,
            &format!("electricity, month {month}"),
        );
        assert_money(
            run(&query(dash, "Cost this month", "B")),
            g,
            &format!("gas, month {month}"),
        );
    }
}

/// Point 3 and 6: the half-hourly bars, in each view at the interval Grafana
/// would use, add up to the day's use and, at half an hour and an hour, each
/// bar is the use of that UK half hour or hour.
fn half_hours_at_every_zoom(influx: &Influx, dash: &serde_json::Value) {
    let p = panel(dash, "Energy per half hour");
    let (elec, gas) = (
        query(dash, "Energy per half hour", "A"),
        query(dash, "Energy per half hour", "C"),
    );
    let volume = query(dash, "Gas volume per half hour", "A");
    let drawn = drawn();
    for day in [date(2026, 3, 24), spring_day(), autumn_day()] {
        for view in views_ending(day) {
            for pixels in [1000, 400] {
                let interval =
                    grafana_interval(view.to_ms - view.from_ms, pixels, min_interval_ms(p));
                let step = match interval.as_str() {
                    "30m" => 1800,
                    "1h" => 3600,
                    "2h" => 7200,
                    other => panic!(
                        "{} view, {pixels} px: unexpected interval {other}",
                        view.name
                    ),
                };
                let (from, to) = (view.from_ms / 1000, view.to_ms / 1000 + 1);
                let bars = series(
                    influx,
                    &as_grafana_sends(&elec, view.from_ms, view.to_ms, &interval, DEVICE),
                    view.to_ms,
                );
                let gas_bars = series(
                    influx,
                    &as_grafana_sends(&gas, view.from_ms, view.to_ms, &interval, DEVICE),
                    view.to_ms,
                );
                let volume_bars = series(
                    influx,
                    &as_grafana_sends(&volume, view.from_ms, view.to_ms, &interval, DEVICE),
                    view.to_ms,
                );
                let what = |bars: &[(i64, f64)], series: &Drawn, name: &str| {
                    let total: f64 = bars.iter().map(|(_, v)| v).sum();
                    let want = series.between(from, to);
                    assert!(
                        (total - want).abs() < 1e-6,
                        "{name}, {} view at {interval}: bars add up to {total}, the drawn use is {want}",
                        view.name
                    );
                    if step <= 3600 {
                        for (t, v) in bars {
                            // Bars start on UK half hours (or hours).
                            assert_eq!(uk(*t) % step, 0, "{name} bar at {}", rfc3339(*t));
                            let want = series.between(*t, t + step);
                            assert!(
                                (v - want).abs() < 1e-6,
                                "{name} bar at {} ({interval}): {v}, the use then was {want}",
                                rfc3339(*t)
                            );
                        }
                    }
                };
                what(&bars, &drawn.0, "electricity");
                what(&gas_bars, &drawn.1, "gas");
                what(&volume_bars, &drawn.2, "gas volume");
            }
        }
    }
}

/// The intervals between consecutive readings that the bars draw, with the
/// use the generator put in each (kWh, or m3 for the volume), by start.
/// Left out: an interval touching a glitched reading (also left out of
/// every total), and one longer than the bars' limit (5 minutes for
/// electricity, 35 for gas), which the daily totals still count.
struct Drawn(Vec<(i64, f64)>);

impl Drawn {
    fn new(readings: &[(i64, bool)], max_len: i64, used: impl Fn(i64, i64) -> f64) -> Drawn {
        Drawn(
            readings
                .windows(2)
                .filter(|w| w[0].1 && w[1].1 && w[1].0 - w[0].0 <= max_len)
                .map(|w| (w[0].0, used(w[0].0, w[1].0)))
                .collect(),
        )
    }

    /// What the bars should add up to over intervals starting in [from, to).
    fn between(&self, from: i64, to: i64) -> f64 {
        let a = self.0.partition_point(|(s, _)| *s < from);
        let b = self.0.partition_point(|(s, _)| *s < to);
        self.0[a..b].iter().map(|(_, u)| u).sum()
    }
}

/// (electricity, gas, gas volume) as the bars should draw them. A reading is
/// (time, good): a 0 register is left out by cadline, so it is no reading.
fn drawn() -> (Drawn, Drawn, Drawn) {
    let mut electricity = Vec::new();
    let mut gas = Vec::new();
    for (first, last) in weeks() {
        let mut t = first;
        while t <= last {
            if !electricity_missing(t) {
                match electricity_glitch(t) {
                    Some(Glitch::Zero) => {}
                    Some(_) => electricity.push((t, false)),
                    None => electricity.push((t, true)),
                }
            }
            if t % 1800 == 0 && !gas_missing(t) {
                gas.push((t, !gas_glitch(t)));
            }
            t += 60;
        }
    }
    let volume: Vec<(i64, bool)> = gas.iter().map(|(t, _)| (*t, true)).collect();
    let sum = |from: i64, to: i64, step: usize, f: &dyn Fn(i64) -> i64| -> f64 {
        (from..to).step_by(step).map(f).sum::<i64>() as f64 / 1000.0
    };
    (
        Drawn::new(&electricity, 300, |a, b| sum(a, b, 60, &import_wh)),
        Drawn::new(&gas, 2100, |a, b| sum(a, b, 1800, &gas_wh)),
        Drawn::new(&volume, 2100, |a, b| sum(a, b, 1800, &gas_litres)),
    )
}

/// On the glitch day, what is lost from the daily totals: the two intervals
/// either side of each glitched reading (electricity kWh, electricity GBP,
/// gas kWh, gas GBP). The 0 reading and the 40 missing minutes lose nothing.
fn lost_on_glitch_day() -> (f64, f64, f64, f64) {
    let (a, b) = (uk_midnight(glitch_day()), uk_midnight(glitch_day() + 1));
    let (mut e, mut ec, mut g, mut gc) = (0i64, 0.0, 0i64, 0.0);
    let mut t = a;
    while t < b {
        let touched = |u: i64| electricity_glitch(u).is_some_and(|g| !matches!(g, Glitch::Zero));
        if touched(t) || touched(t + 60) {
            e += import_wh(t);
            ec += import_wh(t) as f64 / 1000.0 * electricity_rate(t);
        }
        if t % 1800 == 0 && (gas_glitch(t) || gas_glitch(t + 1800)) {
            g += gas_wh(t);
            gc += gas_wh(t) as f64 / 1000.0 * gas_rate(t);
        }
        t += 60;
    }
    (e as f64 / 1000.0, ec, g as f64 / 1000.0, gc)
}

/// Point 4: a register that goes backwards, one that jumps further than the
/// supply could deliver, a 0 after a reboot and 40 missing minutes draw no
/// spike, and the day's totals lose only the intervals touching a bad
/// reading.
fn counter_glitches_are_not_drawn(influx: &Influx, dash: &serde_json::Value) {
    let day = glitch_day();
    let (a, b) = (uk_midnight(day), uk_midnight(day + 1));
    let (from, to) = (a * 1000, b * 1000 - 1);
    let run = |q: &str, interval: &str| {
        series(influx, &as_grafana_sends(q, from, to, interval, DEVICE), to)
    };
    let lost = lost_on_glitch_day();
    assert!(lost.0 > 0.0 && lost.2 > 0.0);
    let drawn = drawn();

    let bars = run(&query(dash, "Energy per half hour", "A"), "30m");
    let gas_bars = run(&query(dash, "Energy per half hour", "C"), "30m");
    let mut biggest = 0.0f64;
    let mut gas_biggest = 0.0f64;
    let mut t = a;
    while t < b {
        biggest = biggest.max(electricity_truth(t, t + 1800).0);
        gas_biggest = gas_biggest.max(gas_truth(t, t + 1800).0);
        t += 1800;
    }
    for (t, v) in &bars {
        assert!(*v <= biggest + 1e-9, "a spike at {}: {v} kWh", rfc3339(*t));
        let want = drawn.0.between(*t, t + 1800);
        assert_kwh(
            *v,
            want,
            &format!("the glitch day's bar at {}", rfc3339(*t)),
        );
    }
    for (t, v) in &gas_bars {
        assert!(
            *v <= gas_biggest + 1e-9,
            "a gas spike at {}: {v} kWh",
            rfc3339(*t)
        );
    }
    // The 40 missing minutes draw nothing at all (no bar from 19:00 to
    // 19:30 UK time) rather than a catch-up spike.
    let hole = a + 19 * 3600;
    assert!(
        !bars.iter().any(|(t, _)| *t == hole),
        "a bar drawn across the missing minutes"
    );

    let (e_kwh, e_cost) = electricity_truth(a, b);
    let (g_kwh, g_cost) = gas_truth(a, b);
    let one = |title: &str, r: &str| run(&query(dash, title, r), "1m");
    assert_kwh(
        one("Energy per day", "A")[0].1,
        e_kwh - lost.0,
        "electricity on the glitch day",
    );
    assert_money(
        one("Cost per day", "A")[0].1,
        e_cost - lost.1 + electricity_standing(day),
        "electricity cost on the glitch day",
    );
    assert_kwh(
        one("Energy per day", "C")[0].1,
        g_kwh - lost.2,
        "gas on the glitch day",
    );
    assert_money(
        one("Cost per day", "B")[0].1,
        g_cost - lost.3 + gas_standing(day),
        "gas cost on the glitch day",
    );
}

/// Point 5: one file for the import dialog and for provisioning. Every panel,
/// target and variable uses the `datasource` variable; there is no
/// `${DS_...}` input that provisioning would leave unresolved; panel ids are
/// unique and the grid has no overlaps.
#[test]
fn the_dashboard_imports_and_provisions_with_the_chosen_data_source() {
    let text =
        std::fs::read_to_string(repo_path("telegraf/grafana-dashboard.json")).expect("dashboard");
    let dash = dashboard();
    assert!(
        !text.contains("${DS_"),
        "an import input provisioning cannot resolve"
    );
    assert!(
        dash.get("__inputs").is_none(),
        "__inputs makes the import ask, and provisioning fail"
    );
    assert!(
        dash["id"].is_null()
            && dash["uid"]
                .as_str()
                .is_some_and(|u| !u.is_empty() && u.len() <= 40)
    );
    assert_eq!(
        dash["schemaVersion"], 39,
        "the model Grafana 10.4 writes, which 10.4 to 12 read"
    );
    assert_eq!(
        dash["timezone"], "Europe/London",
        "today and this month are UK days"
    );
    assert!(dash["refresh"].is_string());

    let vars = dash["templating"]["list"].as_array().expect("variables");
    let ds: Vec<_> = vars.iter().filter(|v| v["type"] == "datasource").collect();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0]["name"], "datasource");
    assert_eq!(ds[0]["query"], "influxdb");
    let chosen = serde_json::json!({"type": "influxdb", "uid": "${datasource}"});
    for v in vars.iter().filter(|v| v["type"] == "query") {
        assert_eq!(v["datasource"], chosen, "variable {}", v["name"]);
        assert_eq!(v["multi"], false, "one CAD at a time: {}", v["name"]);
        assert_eq!(v["includeAll"], false, "one CAD at a time: {}", v["name"]);
    }

    let panels = dash["panels"].as_array().expect("panels");
    let mut ids = std::collections::BTreeSet::new();
    let mut cells = std::collections::BTreeSet::new();
    for p in panels {
        let title = p["title"].as_str().expect("title");
        assert!(
            ids.insert(p["id"].as_i64().expect("id")),
            "duplicate panel id in {title:?}"
        );
        assert!(
            ["stat", "timeseries"].contains(&p["type"].as_str().unwrap_or("")),
            "{title:?}"
        );
        assert_eq!(p["datasource"], chosen, "panel {title:?}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title:?}");
        let mut refs = std::collections::BTreeSet::new();
        for t in targets {
            assert_eq!(t["datasource"], chosen, "a target of {title:?}");
            assert_eq!(t["rawQuery"], true);
            assert!(
                refs.insert(t["refId"].as_str().expect("refId")),
                "{title:?}"
            );
            let q = t["query"].as_str().expect("query");
            assert!(
                q.contains("$timeFilter") && q.contains("/^$device$/"),
                "{title:?}: {q}"
            );
            // Every daily or zoom-sized grouping cuts at UK times.
            assert_eq!(
                q.matches("GROUP BY time(1d)").count()
                    + q.matches("GROUP BY time($__interval)").count(),
                q.matches("tz('Europe/London')").count(),
                "{title:?}: {q}"
            );
            // The pricing interval is fixed; only outer groupings follow the zoom.
            for part in q.split("GROUP BY time(").skip(1) {
                let interval = part.split(')').next().unwrap_or_default();
                assert!(
                    ["1m", "1d", "$__interval"].contains(&interval),
                    "{title:?}: {interval}"
                );
            }
            if q.contains("difference(") {
                assert!(q.contains("GROUP BY time(1m)"), "priced per minute: {q}");
            }
            assert!(
                !q.contains("\"day\""),
                "the meter's day counter is not a daily total: {q}"
            );
            // Every FROM names a measurement of the README's schema (or is a
            // subquery).
            for part in q.split("FROM ").skip(1) {
                if part.starts_with('(') {
                    continue;
                }
                let m = part.split_whitespace().next().unwrap_or_default();
                assert!(
                    ["\"electricitymeter\"", "\"gasmeter\"", "\"cadstate\""].contains(&m),
                    "{title:?}: unknown measurement {m}"
                );
            }
        }
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_i64().expect("x"),
            g["y"].as_i64().expect("y"),
            g["w"].as_i64().expect("w"),
            g["h"].as_i64().expect("h"),
        );
        assert!(
            x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24,
            "{title:?}: {g}"
        );
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{title:?} overlaps another panel at ({cx}, {cy})"
                );
            }
        }
    }
    // The provisioning examples: a data source named as the dashboard's
    // variable expects, and a provider that loads this file.
    let ds = std::fs::read_to_string(repo_path("telegraf/grafana/datasource.yaml"))
        .expect("datasource.yaml");
    assert!(
        ds.contains("apiVersion: 1")
            && ds.contains("type: influxdb")
            && ds.contains("dbName: energy"),
        "{ds}"
    );
    let telegraf =
        std::fs::read_to_string(repo_path("telegraf/telegraf.conf")).expect("telegraf.conf");
    assert!(
        telegraf.contains("database = \"energy\""),
        "the example data source reads what telegraf.conf writes"
    );
    let provider = std::fs::read_to_string(repo_path("telegraf/grafana/dashboards.yaml"))
        .expect("dashboards.yaml");
    assert!(
        provider.contains("apiVersion: 1")
            && provider.contains("type: file")
            && provider.contains("path:"),
        "{provider}"
    );
}
