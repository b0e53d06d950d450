//! Unit normalisation: energy to kWh, power to kW, volume to m3.
//!
//! The schema promises one unit per field, so a dashboard never has to guess.
//! A value whose unit we do not recognise is refused rather than written as
//! is: a number in the wrong unit is worse than a gap.

use std::fmt;

/// A unit string we cannot convert to the field's normalised unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownUnit {
    pub unit: String,
    pub expected: &'static str,
}

impl fmt::Display for UnknownUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown unit {:?} (expected {})",
            self.unit, self.expected
        )
    }
}

/// Cubic feet to cubic metres (exact: 0.3048^3).
const M3_PER_FT3: f64 = 0.028_316_846_592;

/// How a unit converts to the normalised one. Smaller units divide by an
/// exact integer: `9 Wh * 1e-3` is 0.009000000000000001, `9 Wh / 1000` is
/// 0.009, and the schema promises the number that went in.
#[derive(Debug, Clone, Copy)]
enum Scale {
    Times(f64),
    Per(f64),
}

/// Scales `value` by the factor `table` gives for `unit`.
///
/// An absent or empty unit means the unit the format documents (`default`):
/// devices send `""` only when there is no meter, and then the values are
/// null anyway.
///
/// SI prefixes are case-sensitive: `mWh` is a milliwatt-hour and `MWh` a
/// megawatt-hour, a factor 10^9 apart. So the spelling must match exactly
/// (after trimming); a case variant is accepted only when it matches exactly
/// one entry of the table *and* cannot be read as another prefix (`KWH`,
/// `kwh`: no table has a `Kwh`-like rival). `mwh`, `MWH` and the like fold
/// to both milli and mega and are refused.
fn normalise(
    value: f64,
    unit: Option<&str>,
    table: &[(&str, Scale)],
    expected: &'static str,
) -> Result<f64, UnknownUnit> {
    let apply = |scale: &Scale| match scale {
        Scale::Times(f) => value * f,
        Scale::Per(d) => value / d,
    };
    let unit = unit.unwrap_or("");
    // The spellings devices send, as they send them: no trimming or case
    // folding on the path every reading takes.
    if let Some((_, scale)) = table.iter().find(|(name, _)| *name == unit) {
        return Ok(apply(scale));
    }
    let unit = unit.trim();
    if unit.is_empty() {
        return Ok(value);
    }
    if let Some((_, scale)) = table.iter().find(|(name, _)| *name == unit) {
        return Ok(apply(scale));
    }
    let unknown = || UnknownUnit {
        unit: unit.to_owned(),
        expected,
    };
    // A case variant: only when it is not ambiguous between prefixes. An
    // `m`/`M` first letter is milli or mega; which one cannot be guessed.
    if unit.starts_with(['m', 'M']) && unit.len() > 1 && is_si_prefixed(table) {
        return Err(unknown());
    }
    let mut folded = table
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(unit));
    match (folded.next(), folded.next()) {
        (Some((_, scale)), None) => Ok(apply(scale)),
        _ => Err(unknown()),
    }
}

/// Whether a table's units carry SI prefixes (energy, power), where the case
/// of the first letter decides a factor of 10^9 between milli and mega.
fn is_si_prefixed(table: &[(&str, Scale)]) -> bool {
    table.iter().any(|(name, _)| name.starts_with('M'))
}

/// Energy in kWh. Missing or empty unit: kWh, as GLOW-FORMAT documents.
pub fn normalise_energy(value: f64, unit: Option<&str>) -> Result<f64, UnknownUnit> {
    normalise(
        value,
        unit,
        &[
            ("kWh", Scale::Times(1.0)),
            ("Wh", Scale::Per(1e3)),
            ("mWh", Scale::Per(1e6)),
            ("MWh", Scale::Times(1e3)),
            ("GWh", Scale::Times(1e6)),
        ],
        "an energy unit: mWh, Wh, kWh, MWh",
    )
}

/// Power in kW. Missing or empty unit: kW.
pub fn normalise_power(value: f64, unit: Option<&str>) -> Result<f64, UnknownUnit> {
    normalise(
        value,
        unit,
        &[
            ("kW", Scale::Times(1.0)),
            ("W", Scale::Per(1e3)),
            ("mW", Scale::Per(1e6)),
            ("MW", Scale::Times(1e3)),
        ],
        "a power unit: mW, W, kW, MW",
    )
}

/// Volume in m3. Missing or empty unit: m3. Imperial gas meters count cubic
/// feet, or hundreds of them (ccf/hcf).
pub fn normalise_volume(value: f64, unit: Option<&str>) -> Result<f64, UnknownUnit> {
    normalise(
        value,
        unit,
        &[
            ("m3", Scale::Times(1.0)),
            ("m³", Scale::Times(1.0)),
            ("dm3", Scale::Per(1e3)),
            ("l", Scale::Per(1e3)),
            ("ft3", Scale::Times(M3_PER_FT3)),
            ("ft³", Scale::Times(M3_PER_FT3)),
            ("cf", Scale::Times(M3_PER_FT3)),
            ("ccf", Scale::Times(100.0 * M3_PER_FT3)),
            ("hcf", Scale::Times(100.0 * M3_PER_FT3)),
            ("mcf", Scale::Times(1000.0 * M3_PER_FT3)),
        ],
        "a volume unit: m3, ft3, ccf",
    )
}

/// Temperature in °C.
pub fn normalise_temperature(value: f64, unit: Option<&str>) -> Result<f64, UnknownUnit> {
    let unit = unit.map(str::trim).unwrap_or("");
    match unit {
        "" | "°C" | "C" | "degC" | "celsius" => Ok(value),
        "°F" | "F" | "degF" | "fahrenheit" => Ok((value - 32.0) * 5.0 / 9.0),
        "K" => Ok(value - 273.15),
        _ => Err(UnknownUnit {
            unit: unit.to_owned(),
            expected: "a temperature unit: °C, °F, K",
        }),
    }
}

/// A percentage (humidity, battery).
pub fn normalise_percent(value: f64, unit: Option<&str>) -> Result<f64, UnknownUnit> {
    normalise(value, unit, &[("%", Scale::Times(1.0))], "%")
}

/// Whether a unit names an energy (so a "volume" field carrying it is not a
/// volume at all: current gas firmware labels dayvol/weekvol/monthvol "kWh").
pub fn is_energy_unit(unit: &str) -> bool {
    normalise_energy(1.0, Some(unit)).is_ok() && !unit.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn energy() {
        assert_eq!(normalise_energy(5.5, Some("kWh")), Ok(5.5));
        assert_eq!(normalise_energy(5.5, Some("KWH")), Ok(5.5));
        assert!(close(
            normalise_energy(5500.0, Some("Wh")).unwrap_or(0.0),
            5.5
        ));
        assert!(close(
            normalise_energy(2.0, Some("MWh")).unwrap_or(0.0),
            2000.0
        ));
        assert_eq!(normalise_energy(5.5, None), Ok(5.5));
        assert_eq!(normalise_energy(5.5, Some("")), Ok(5.5));
        assert!(normalise_energy(5.5, Some("therms")).is_err());
        assert!(normalise_energy(5.5, Some("kW")).is_err());
    }

    /// Issue 11 point 4: `mWh`/`mW` once matched `MWh`/`MW` by case folding
    /// and came out 10^9 too large.
    #[test]
    fn si_prefixes_are_case_sensitive() {
        assert!(close(
            normalise_energy(5_000_000.0, Some("mWh")).unwrap_or(0.0),
            5.0
        ));
        assert!(close(
            normalise_power(951_000.0, Some(" mW ")).unwrap_or(0.0),
            0.951
        ));
        assert!(close(
            normalise_energy(5.0, Some("MWh")).unwrap_or(0.0),
            5000.0
        ));
        assert!(close(
            normalise_power(2.0, Some("MW")).unwrap_or(0.0),
            2000.0
        ));
        // Case variants that could be milli or mega are refused, not guessed.
        for ambiguous in ["mwh", "MWH", "Mwh", "mWH"] {
            assert!(
                normalise_energy(5.0, Some(ambiguous)).is_err(),
                "{ambiguous}"
            );
        }
        for ambiguous in ["mw", "Mw"] {
            assert!(
                normalise_power(5.0, Some(ambiguous)).is_err(),
                "{ambiguous}"
            );
        }
        // Unambiguous case variants stay.
        assert_eq!(normalise_energy(5.5, Some("kwh")), Ok(5.5));
        assert_eq!(normalise_power(5.5, Some("KW")), Ok(5.5));
        assert!(close(
            normalise_energy(5500.0, Some("WH")).unwrap_or(0.0),
            5.5
        ));
        assert_eq!(normalise_volume(5.5, Some("M3")), Ok(5.5));
    }

    #[test]
    fn power() {
        assert!(close(
            normalise_power(951.0, Some("W")).unwrap_or(0.0),
            0.951
        ));
        assert_eq!(normalise_power(0.951, Some("kW")), Ok(0.951));
        assert!(normalise_power(1.0, Some("kWh")).is_err());
    }

    #[test]
    fn volume() {
        assert_eq!(normalise_volume(244.238, Some("m3")), Ok(244.238));
        assert!(close(
            normalise_volume(100.0, Some("ft3")).unwrap_or(0.0),
            2.8316846592
        ));
        assert!(close(
            normalise_volume(1.0, Some("ccf")).unwrap_or(0.0),
            2.8316846592
        ));
        // Hundreds and thousands of cubic feet (found missing by a mutant).
        assert!(close(
            normalise_volume(1.0, Some("hcf")).unwrap_or(0.0),
            2.8316846592
        ));
        assert!(close(
            normalise_volume(1.0, Some("mcf")).unwrap_or(0.0),
            28.316846592
        ));
        assert!(close(
            normalise_volume(2.0, Some("l")).unwrap_or(0.0),
            0.002
        ));
        let err = normalise_volume(1.0, Some("kWh")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown unit \"kWh\" (expected a volume unit: m3, ft3, ccf)"
        );
    }

    #[test]
    fn a_lowercase_m_is_never_guessed_to_be_mega() {
        // A table that knows only the mega spelling: case folding alone
        // would read `mwh` as MWh, a factor 10^9 from milli. Refused; and so
        // is `m` of any length over one letter, while other case variants of
        // the same table still fold.
        let mega_only = [("MWh", Scale::Times(1000.0)), ("Wh", Scale::Per(1000.0))];
        assert!(normalise(1.0, Some("mwh"), &mega_only, "energy").is_err());
        assert!(normalise(1.0, Some("Mwh"), &mega_only, "energy").is_err());
        assert_eq!(
            normalise(1.0, Some("MWh"), &mega_only, "energy"),
            Ok(1000.0)
        );
        assert_eq!(normalise(1000.0, Some("wh"), &mega_only, "energy"), Ok(1.0));
        // A table without SI prefixes folds an initial m: `M3` is m3.
        let volumes = [("m3", Scale::Times(1.0))];
        assert_eq!(normalise(2.0, Some("M3"), &volumes, "volume"), Ok(2.0));
    }

    #[test]
    fn temperature_and_percent() {
        assert_eq!(normalise_temperature(19.5, Some("°C")), Ok(19.5));
        assert!(close(
            normalise_temperature(212.0, Some("°F")).unwrap_or(0.0),
            100.0
        ));
        assert!(normalise_temperature(1.0, Some("X")).is_err());
        assert_eq!(normalise_percent(46.0, Some("%")), Ok(46.0));
        assert!(normalise_percent(46.0, Some("ppm")).is_err());
    }

    #[test]
    fn energy_unit_detection() {
        assert!(is_energy_unit("kWh"));
        assert!(!is_energy_unit("m3"));
        assert!(!is_energy_unit(""));
    }
}
