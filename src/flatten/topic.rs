//! Which CAD message a topic carries, and for which device.

/// The message kinds a CAD publishes, by topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic<'t> {
    /// `<prefix>/<id>/SENSOR/electricitymeter`
    Electricity { device: &'t str },
    /// `<prefix>/<id>/SENSOR/gasmeter`
    Gas { device: &'t str },
    /// `<prefix>/<id>/STATE`
    State { device: &'t str },
    /// `<prefix>/<id>/SENSOR/glowsensorth1/<sensor-id>`
    Sensor { device: &'t str, sensor: &'t str },
    /// The older cloud feed: `SMART/HILD/<id>` or `SMART/DCAD/<id>`, whatever
    /// the prefix.
    LegacyHex { device: &'t str },
}

/// A topic segment that can name a device: not empty, no wildcard, no
/// control character or white space (which a tag could not hold as is).
fn is_id(segment: &str) -> bool {
    if segment.is_ascii() {
        // Every ASCII control and white-space character is at most a space.
        return !segment.is_empty()
            && !segment
                .bytes()
                .any(|b| matches!(b, b'+' | b'#' | 0..=b' ' | 0x7f));
    }
    !segment
        .chars()
        .any(|c| c == '+' || c == '#' || c.is_control() || c.is_whitespace())
}

/// Splits off the first `/`-separated segment. A byte loop: topics are a few
/// dozen bytes, too short for `split`'s searcher to pay for itself, and this
/// runs for every message.
fn segment(s: &str) -> (&str, Option<&str>) {
    match s.bytes().position(|b| b == b'/') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// Classifies `topic` under `prefix` (which may itself contain `/`).
/// `None` for a topic cadline does not know.
pub fn classify<'t>(topic: &'t str, prefix: &str) -> Option<Topic<'t>> {
    let prefix = prefix.trim_end_matches('/');
    if let Some(device) = topic
        .strip_prefix("SMART/HILD/")
        .or_else(|| topic.strip_prefix("SMART/DCAD/"))
    {
        return is_id(device)
            .then_some(Topic::LegacyHex { device })
            .filter(|_| !device.contains('/'));
    }
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let (device, rest) = segment(rest);
    if !is_id(device) {
        return None;
    }
    let kind = match segment(rest?) {
        ("STATE", None) => Topic::State { device },
        ("SENSOR", Some(rest)) => match segment(rest) {
            ("electricitymeter", None) => Topic::Electricity { device },
            ("gasmeter", None) => Topic::Gas { device },
            ("glowsensorth1", Some(sensor)) if is_id(sensor) && !sensor.contains('/') => {
                Topic::Sensor { device, sensor }
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(kind)
}

/// The MQTT filters that cover every topic `classify` knows under `prefix`.
pub fn subscriptions(prefix: &str) -> Vec<String> {
    let prefix = prefix.trim_end_matches('/');
    vec![
        format!("{prefix}/+/SENSOR/electricitymeter"),
        format!("{prefix}/+/SENSOR/gasmeter"),
        format!("{prefix}/+/SENSOR/glowsensorth1/+"),
        format!("{prefix}/+/STATE"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_topics() {
        assert_eq!(
            classify("glow/AABBCCDDEEFF/SENSOR/electricitymeter", "glow"),
            Some(Topic::Electricity {
                device: "AABBCCDDEEFF"
            })
        );
        assert_eq!(
            classify("energy/A1/SENSOR/gasmeter", "energy"),
            Some(Topic::Gas { device: "A1" })
        );
        assert_eq!(
            classify("home/glow/A1/STATE", "home/glow/"),
            Some(Topic::State { device: "A1" })
        );
        assert_eq!(
            classify("glow/A1/SENSOR/glowsensorth1/00CAFE", "glow"),
            Some(Topic::Sensor {
                device: "A1",
                sensor: "00CAFE"
            })
        );
        assert_eq!(
            classify("SMART/DCAD/0123", "glow"),
            Some(Topic::LegacyHex { device: "0123" })
        );
    }

    #[test]
    fn unknown_topics() {
        for t in [
            "energy/A1/STATE",
            "glow/A1/SENSOR/watermeter",
            "glow//STATE",
            "glow/A1/STATE/extra",
            "glowing/A1/STATE",
            "glow/A1/SENSOR/glowsensorth1",
            "SMART/HILD/",
            "SMART/HILD/A1/extra",
            "glow/A1/SENSOR/glowsensorth1/00CAFE/extra",
            "",
        ] {
            assert_eq!(classify(t, "glow"), None, "{t}");
        }
    }

    /// A device or sensor id becomes a tag value: a wildcard, a control
    /// character or white space in it means the topic is not a CAD's, in
    /// ASCII ids and in ids with other characters alike.
    #[test]
    fn ids_with_wildcards_controls_or_spaces_are_not_ids() {
        for id in ["A1", "É1"] {
            assert_eq!(
                classify(&format!("glow/{id}/STATE"), "glow"),
                Some(Topic::State { device: id })
            );
            for bad in ['+', '#', '\u{1}', '\u{7f}', '\u{85}', ' ', '\u{2003}'] {
                let device = format!("{id}{bad}");
                for t in [
                    format!("glow/{device}/STATE"),
                    format!("glow/A1/SENSOR/glowsensorth1/{device}"),
                    format!("SMART/HILD/{device}"),
                ] {
                    assert_eq!(classify(&t, "glow"), None, "{t:?}");
                }
            }
        }
    }

    #[test]
    fn subscriptions_cover_every_kind() {
        let filters = subscriptions("energy");
        assert_eq!(filters.len(), 4);
        assert!(filters.iter().all(|f| f.starts_with("energy/+/")));
    }
}
