//! MQTT topic filters as a set: which of them overlap.
//!
//! A broker may deliver a message once per matching subscription (MQTT 5
//! brokers such as Mosquitto do), so `--topic 'glow/#' --topic
//! 'glow/+/STATE'` would write every STATE line twice. Pure logic, checked
//! at start-up.

/// The first pair of filters some topic matches both of, if any. Shared
/// subscription prefixes (`$share/<group>/`) are ignored.
pub fn overlapping(filters: &[String]) -> Option<(&str, &str)> {
    for (i, a) in filters.iter().enumerate() {
        for b in &filters[i + 1..] {
            let (la, lb) = (levels(a), levels(b));
            if overlap(&la, &lb) {
                return Some((a, b));
            }
        }
    }
    None
}

fn levels(filter: &str) -> Vec<&str> {
    let bare = filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, f)| f);
    bare.split('/').collect()
}

/// Whether some topic matches both filters, level by level. `#` matches
/// the rest of the topic including its parent level (`a/#` matches `a`).
fn overlap(a: &[&str], b: &[&str]) -> bool {
    match (a.first(), b.first()) {
        (Some(&"#"), _) | (_, Some(&"#")) => true,
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(x), Some(y)) => (*x == "+" || *y == "+" || x == y) && overlap(&a[1..], &b[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: &str, b: &str) -> bool {
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
            assert!(check(a, b), "{a} and {b} should overlap");
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
            assert!(!check(a, b), "{a} and {b} should not overlap");
        }
        let defaults = crate::topic::subscriptions("glow");
        assert_eq!(overlapping(&defaults), None);
    }
}
