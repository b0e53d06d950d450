//! Meter timestamps: parsing, and choosing between the meter's time and the
//! time of arrival.
//!
//! The meter's own time is the default because the CAD republishes the same
//! gas reading every 10 s for 30 minutes: stamped with the meter's time, all
//! those copies land on one point in InfluxDB instead of 180.

/// Nanoseconds per second.
pub const NANOS: i64 = 1_000_000_000;

/// How far ahead of our clock a meter timestamp may be before we distrust it.
pub const MAX_FUTURE_NS: i64 = 3600 * NANOS;

/// 2015-01-01: no Consumer Access Device existed before it (SMETS2 and the
/// Glow CADs came later), so an earlier time is never written. A meter
/// timestamp before it is a placeholder (devices without a paired meter send
/// 1970-01-01T00:00:00Z); a host clock before it is wrong.
pub const EARLIEST_REAL_NS: i64 = 1_420_070_400 * NANOS;

/// 2026-01-01, before this version of cadline was written: a host clock that
/// reads earlier is evidently wrong (a Raspberry Pi without a real-time
/// clock boots at its last saved time, or 1970, until NTP has synced). Then
/// the meter's time, which comes from the smart-meter network, is trusted
/// as it is, and the time of arrival is never used. A constant, not the
/// build time, so that a rebuild changes nothing and tests can state it;
/// move it forward with a release (README, "Which clock is trusted").
pub const HOST_CLOCK_FLOOR_NS: i64 = 1_767_225_600 * NANOS;

/// When a message arrived, and who says so: the one place that tells the
/// host's clock, which may be wrong, from a time the user gave.
///
/// The host-clock rule ([`HOST_CLOCK_FLOOR_NS`]) exists because a Raspberry
/// Pi without a real-time clock reads 1970 or a stale saved time until NTP
/// has synced. A capture's recorded time (`mosquitto_sub -F '%I %t %p'`)
/// is not that clock now: it is when the message came in, and a capture
/// made in 2025 rightly reads 2025. Judged as a host clock it made every
/// old capture lose its times (issue 21 point 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Read from this host's clock as the message came in (Unix ns).
    HostClock(i64),
    /// The time a capture recorded for the message (Unix ns): what the user
    /// asked for, never judged by the host-clock rule. Only a time before
    /// [`EARLIEST_REAL_NS`] (2015, before any CAD existed) is refused, as a
    /// meter's would be, so that no line is ever stamped before it.
    Recorded(i64),
}

impl Arrival {
    /// The arrival time in Unix nanoseconds, trusted or not.
    pub fn ns(self) -> i64 {
        match self {
            Arrival::HostClock(ns) | Arrival::Recorded(ns) => ns,
        }
    }

    /// Why this arrival time cannot stamp a line or judge a meter's time,
    /// if it cannot: a host clock before 2026, a recorded time before 2015.
    pub fn distrusted(self) -> Option<&'static str> {
        match self {
            Arrival::HostClock(ns) if ns < HOST_CLOCK_FLOOR_NS => {
                Some("the host clock reads before 2026, evidently wrong (not synced yet?)")
            }
            Arrival::Recorded(ns) if ns < EARLIEST_REAL_NS => Some(
                "the capture's time reads before 2015, when no CAD existed (recorded on a host \
                 whose clock was wrong?)",
            ),
            _ => None,
        }
    }
}

/// Which clock stamps the lines (`--timestamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampSource {
    /// The reading's own `timestamp` (falls back to arrival when unusable).
    #[default]
    Meter,
    /// The time the message arrived.
    Receive,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), so we need no date crate for one format.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A UTC calendar time, for every place that prints one (the hex feed's
/// timestamps, a certificate's expiry). Named fields rather than a tuple of
/// six integers, so that a caller cannot swap the month and the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
}

/// Unix seconds as UTC calendar time (Howard Hinnant's `civil_from_days`):
/// the one inverse of `days_from_civil`.
pub fn civil_from_unix(unix: i64) -> CivilTime {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    CivilTime {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs / 60 % 60,
        second: secs % 60,
    }
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

fn is_leap_year(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` (1-12) of year `y`, leap years included.
fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap_year(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A UTC offset after the time: `Z`, nothing (UTC), or `±HH`, `±HHMM`,
/// `±HH:MM`, optionally after spaces (early local firmware sends
/// `2022-08-12T09:50:59 +00`). Returns the offset in seconds east of UTC.
fn parse_offset(rest: &[u8]) -> Option<i64> {
    let rest = rest.trim_ascii_start();
    let (sign, hhmm) = match rest {
        b"" | b"Z" | b"z" => return Some(0),
        [b'+', hhmm @ ..] => (1, hhmm),
        [b'-', hhmm @ ..] => (-1, hhmm),
        _ => return None,
    };
    let (h, m) = match hhmm {
        [h1, h2] => (digits(&[*h1, *h2])?, 0),
        [h1, h2, m1, m2] | [h1, h2, b':', m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (what the CAD sends) into Unix nanoseconds.
///
/// Also accepts a space instead of `T`, a fraction of a second, and a UTC
/// offset (`+01:00`, `+0100`, `+00`, also after a space), which is
/// converted; a time without zone is taken as UTC (the older cloud format's
/// `ts`). The calendar is checked: `2023-02-31` or `12:00:60` is not a time
/// (`None`), never silently rolled over into the next month or minute.
pub fn parse_meter_timestamp(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[10] != b'T' && b[10] != b' ' {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, min, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut frac_ns = 0;
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let n = after_dot.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let kept = &after_dot[..n.min(9)];
        frac_ns = digits(kept)? * 10_i64.pow(9 - u32::try_from(kept.len()).ok()?);
        rest = &after_dot[n..];
    }
    let offset = parse_offset(rest)?;
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset;
    secs.checked_mul(NANOS)?.checked_add(frac_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cad_timestamps() {
        assert_eq!(parse_meter_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_meter_timestamp("2022-06-11T20:38:00Z"),
            Some(1_654_979_880 * NANOS)
        );
        assert_eq!(
            parse_meter_timestamp("2020-10-06 20:53:16"),
            Some(1_602_017_596 * NANOS)
        );
        assert_eq!(
            parse_meter_timestamp("2024-02-29T12:00:00.25+00:00"),
            Some(1_709_208_000 * NANOS + 250_000_000)
        );
    }

    /// Issue 11 point 11 and issue 15 point 8: impossible dates and
    /// seconds were rolled over (`2023-02-31` became 2023-03-03, `12:00:60`
    /// 12:01:00).
    #[test]
    fn refuses_impossible_dates_and_times() {
        for bad in [
            "2023-02-31T16:12:16Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2023-04-31T00:00:00Z",
            "2023-06-00T00:00:00Z",
            "2023-06-11T12:00:60Z",
        ] {
            assert_eq!(parse_meter_timestamp(bad), None, "{bad}");
        }
        for leap in ["2024-02-29T00:00:00Z", "2000-02-29T00:00:00Z"] {
            assert!(parse_meter_timestamp(leap).is_some(), "{leap}");
        }
        assert_eq!(
            parse_meter_timestamp("2023-12-31T23:59:59Z"),
            Some(1_704_067_199 * NANOS)
        );
    }

    /// Issue 15 point 8: an offset was refused (arrival time used instead).
    #[test]
    fn converts_utc_offsets() {
        let utc = Some(1_654_979_880 * NANOS); // 2022-06-11T20:38:00Z
        for text in [
            "2022-06-11T21:38:00+01:00",
            "2022-06-11T21:38:00+0100",
            "2022-06-11T21:38:00+01",
            "2022-06-11T19:38:00-01:00",
            "2022-06-11T20:38:00 +00",
            "2022-06-11T20:38:00+00",
            "2022-06-11T20:38:00-00:00",
            "2022-06-12T02:08:00+05:30",
            "2022-06-12T20:37:00+23:59",
            "2022-06-10T20:39:00-23:59",
        ] {
            assert_eq!(parse_meter_timestamp(text), utc, "{text}");
        }
    }

    /// Every day of the years a timestamp's four digits can spell, one at
    /// a time: the next date comes from `days_in_month` (month lengths and
    /// leap years, apart from the day-count arithmetic), `civil_from_unix`
    /// must print it, `days_from_civil` must count it, and 1970-01-01 is
    /// day 0. A wrong day count would stamp readings on the wrong day.
    #[test]
    fn the_calendar_walks_every_day_from_year_0_to_9999() {
        let mut date = (0, 1, 1);
        let mut day = days_from_civil(0, 1, 1);
        let mut epoch_seen = false;
        loop {
            let (y, m, d) = date;
            let t = civil_from_unix(day * 86_400);
            assert_eq!((t.year, t.month, t.day), date, "day {day}");
            assert_eq!(days_from_civil(y, m, d), day, "{date:?}");
            if date == (1970, 1, 1) {
                assert_eq!(day, 0);
                epoch_seen = true;
            }
            if date == (9999, 12, 31) {
                break;
            }
            date = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            day += 1;
        }
        assert!(epoch_seen);
        // About one date in 1000 as the text a meter sends, parsed back.
        for day in (days_from_civil(0, 1, 1)..=days_from_civil(9999, 12, 31)).step_by(997) {
            let t = civil_from_unix(day * 86_400 + 45_296);
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year, t.month, t.day, t.hour, t.minute, t.second
            );
            // Nanoseconds in an i64 reach 1677 to 2262; beyond, no time.
            assert_eq!(
                parse_meter_timestamp(&text),
                (day * 86_400 + 45_296).checked_mul(NANOS),
                "{text}"
            );
        }
    }

    #[test]
    fn the_time_of_day_of_unix_seconds() {
        for (unix, want) in [
            (0, (1970, 1, 1, 0, 0, 0)),
            (-1, (1969, 12, 31, 23, 59, 59)),
            (3_661, (1970, 1, 1, 1, 1, 1)),
            (86_399, (1970, 1, 1, 23, 59, 59)),
            (1_709_208_000, (2024, 2, 29, 12, 0, 0)),
        ] {
            let t = civil_from_unix(unix);
            assert_eq!(
                (t.year, t.month, t.day, t.hour, t.minute, t.second),
                want,
                "{unix}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_utc_time() {
        for bad in [
            "",
            "yesterday",
            "2022-13-01T00:00:00Z",
            "2022-06-11T25:00:00Z",
            "2022-06-11T20:38",
            "2022-06-11T20:38:00.Z",
            "２０２２-06-11T20:38:00Z",
            "2022-06-11T20:38:00+1",
            "2022-06-11T20:38:00+01:0",
            "2022-06-11T20:38:00+24:00",
            "2022-06-11T20:38:00+01:60",
            "2022-06-11T20:38:00-0160",
            // A character just past '9' (':' - '0' is 10) or before '0'
            // where a digit belongs.
            "2022-06-11T20:38:0:Z",
            "2022-06-11T20:3:00Z",
            "2022-06-11T2 :38:00Z",
            "2022-06-11T20:38:00+0:",
            // One separator out of place.
            "2022/06-11T20:38:00Z",
            "2022-06/11T20:38:00Z",
            "2022-06-11T20-38:00Z",
            "2022-06-11T20:38-00Z",
            "2022-06-11T20:38:00 UTC",
            "2022-06-11T20:38:00Zjunk",
        ] {
            assert_eq!(parse_meter_timestamp(bad), None, "{bad}");
        }
    }
}
