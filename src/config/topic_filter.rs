//! MQTT topic filters, checked at start-up: whether a `--topic` filter can
//! deliver anything cadline understands, and whether two filters overlap.
//!
//! A filter outside `--prefix` (`--topic 'energy/+/STATE'` with the default
//! prefix `glow`) subscribes fine and then turns every message into an
//! "Unknown topic" warning. That is a configuration that cannot work, so it
//! is refused at start, with the prefix that would make it work.
//!
//! A broker may deliver a message once per matching subscription (MQTT 5
//! brokers such as Mosquitto do), so `--topic 'glow/#' --topic
//! 'glow/+/STATE'` would write every STATE line twice.

/// The topics `topic::classify` accepts under `prefix`, as patterns whose
/// `+` stands for any one level.
fn known_patterns(prefix: &str) -> Vec<String> {
    let mut patterns = crate::flatten::topic::subscriptions(prefix);
    patterns.extend(["SMART/HILD/+".to_owned(), "SMART/DCAD/+".to_owned()]);
    patterns
}

/// Whether some topic matches both `filter` and `pattern` (MQTT filter
/// rules: `+` is one level, `#` the rest, including none).
fn overlap(filter: &str, pattern: &str) -> bool {
    let mut f = filter.split('/');
    let mut p = pattern.split('/');
    loop {
        match (f.next(), p.next()) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (None, None) => return true,
            (Some(a), Some(b)) => {
                if a != b && a != "+" && b != "+" {
                    return false;
                }
            }
            (None, Some(_)) | (Some(_), None) => return false,
        }
    }
}

/// Refuses a filter (with or without `$share/<group>/`) that can match no
/// topic cadline can read under `prefix`; the error is one line for the
/// user and names the prefix that would fit when there is one.
pub fn check(filter: &str, prefix: &str) -> Result<(), String> {
    let plain = without_share(filter);
    if known_patterns(prefix).iter().any(|p| overlap(plain, p)) {
        return Ok(());
    }
    let hint = suggested_prefix(plain)
        .map(|p| format!("set --prefix {p} (then --topic is not needed), or "))
        .unwrap_or_default();
    Err(format!(
        "--topic {filter:?} matches no topic cadline reads under --prefix {prefix:?} \
         (<prefix>/<device>/STATE, <prefix>/<device>/SENSOR/...): every message would be an \
         unknown topic; {hint}give filters under {prefix}/"
    ))
}

/// A filter without its `$share/<group>/` prefix.
fn without_share(filter: &str) -> &str {
    match filter.strip_prefix("$share/") {
        Some(rest) => rest.split_once('/').map_or(rest, |(_, f)| f),
        None => filter,
    }
}

/// The first pair of filters some topic matches both of, if any. Shared
/// subscription prefixes (`$share/<group>/`) are ignored.
pub fn overlapping(filters: &[String]) -> Option<(&str, &str)> {
    filters.iter().enumerate().find_map(|(i, a)| {
        filters[i + 1..]
            .iter()
            .find(|b| overlap(without_share(a), without_share(b)))
            .map(|b| (a.as_str(), b.as_str()))
    })
}

/// The prefix a filter was evidently written for: everything before the
/// device level of a CAD topic (`energy/+/STATE` → `energy`).
fn suggested_prefix(filter: &str) -> Option<String> {
    let levels: Vec<&str> = filter.split('/').collect();
    let device = levels
        .iter()
        .position(|l| *l == "STATE" || *l == "SENSOR")?
        .checked_sub(1)?;
    let prefix = &levels[..device];
    (!prefix.is_empty()
        && prefix
            .iter()
            .all(|l| !l.is_empty() && *l != "+" && *l != "#"))
    .then(|| prefix.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_under_the_prefix_or_wide_enough_are_accepted() {
        for f in [
            "glow/#",
            "#",
            "+/+/STATE",
            "glow/+/STATE",
            "glow/AB12/SENSOR/+",
            "glow/+/SENSOR/glowsensorth1/#",
            "SMART/#",
            "$share/g/glow/+/STATE",
        ] {
            assert_eq!(check(f, "glow"), Ok(()), "{f}");
        }
        assert_eq!(check("home/energy/+/STATE", "home/energy"), Ok(()));
    }

    #[test]
    fn filters_outside_the_prefix_are_refused_with_the_prefix_that_fits() {
        let e = check("energy/+/STATE", "glow").unwrap_err();
        assert!(e.contains("--prefix energy"), "{e}");
        let e = check("$share/g/home/meters/+/SENSOR/gasmeter", "glow").unwrap_err();
        assert!(e.contains("--prefix home/meters"), "{e}");
        for f in [
            "glow/+",
            "glow/+/STATE/x",
            "glow/+/SENSOR/watermeter",
            "glowing/#",
        ] {
            assert!(check(f, "glow").is_err(), "{f}");
        }
    }

    fn overlaps(a: &str, b: &str) -> bool {
        let f = vec![a.to_owned(), b.to_owned()];
        let forward = overlapping(&f).is_some();
        let f = vec![b.to_owned(), a.to_owned()];
        assert_eq!(forward, overlapping(&f).is_some(), "{a} {b}: not symmetric");
        forward
    }

    #[test]
    fn filters_that_share_a_topic_overlap() {
        for (a, b) in [
            ("glow/#", "glow/+/STATE"),
            ("glow/+/STATE", "glow/ABC/STATE"),
            ("glow/+/STATE", "glow/ABC/+"),
            ("#", "energy/x"),
            ("glow/a/#", "glow/a"),
            ("$share/g/glow/#", "glow/+/STATE"),
            ("glow/+/SENSOR/glowsensorth1/+", "glow/+/SENSOR/+/+"),
        ] {
            assert!(overlaps(a, b), "{a} and {b} should overlap");
        }
    }

    #[test]
    fn the_default_filters_do_not_overlap() {
        for (a, b) in [
            ("glow/+/SENSOR/electricitymeter", "glow/+/SENSOR/gasmeter"),
            ("glow/+/SENSOR/glowsensorth1/+", "glow/+/STATE"),
            ("glow/a/b/#", "glow/a"),
            ("glow/+/STATE", "energy/+/STATE"),
            ("glow/+", "glow/+/STATE"),
        ] {
            assert!(!overlaps(a, b), "{a} and {b} should not overlap");
        }
        let defaults = crate::flatten::topic::subscriptions("glow");
        assert_eq!(overlapping(&defaults), None);
    }

    #[test]
    fn a_prefix_is_suggested_only_when_the_filter_names_one() {
        assert_eq!(
            suggested_prefix("energy/+/STATE").as_deref(),
            Some("energy")
        );
        assert_eq!(
            suggested_prefix("a/b/+/SENSOR/gasmeter").as_deref(),
            Some("a/b")
        );
        // No levels before the device, a wildcard or an empty level there.
        for f in [
            "dev/STATE",
            "+/x/STATE",
            "a/#/x/STATE",
            "/x/STATE",
            "a//x/STATE",
        ] {
            assert_eq!(suggested_prefix(f), None, "{f}");
        }
    }
}
