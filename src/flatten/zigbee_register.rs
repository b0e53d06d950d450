//! Zigbee's "invalid" register values, by the register's width.
//!
//! A Zigbee Smart Energy meter reports a register it has no value for as
//! the type's invalid value: all ones for an unsigned register, the most
//! negative number for a signed one (ZCL, "Data Types"). Both feeds pass it
//! on as if it were a reading: the hex feed as `FFFFFFFFFFFF` in a 48-bit
//! summation, the JSON feed as that value scaled, `281474976710.655` kWh.
//! Written, it is a false step of 281 million kWh that every dashboard
//! shows. So every register the schema writes is checked here, in one
//! place for both feeds, and an invalid or impossible value is left out
//! with a note (README, Metrics).
//!
//! The widths are the metering cluster's (0x0702) attribute types, as
//! Zigbee's cluster definitions give them (e.g. ZigBeeNet's generated
//! `ZclMeteringCluster`): summations uint48, today and this week uint24,
//! this month uint32, instantaneous demand int24; the alternative-unit set
//! (0x0C..) mirrors the historical one (0x04..).

use std::fmt;

/// A metering-cluster register that the schema writes, by its ZCL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    /// `0x0000`/`0x0001` summation delivered/received (`cumulative`,
    /// `export.cumulative`, `cumulativevol`): uint48.
    Summation,
    /// `0x0401`/`0x0430` today, this week (and `0x0C01`/`0x0C30`): uint24.
    DayOrWeek,
    /// `0x0440` this month (and `0x0C40`): uint32. The Glow feeds write it
    /// in 24 bits (six hex digits, like the day and week), so all ones in
    /// 24 bits is invalid too: 16 777 MWh in a month is no home's reading.
    Month,
    /// `0x0400` instantaneous demand (`power`): int24.
    Demand,
    /// `0x0301`/`0x0302` multiplier and divisor: uint24. Invalid, every
    /// value of the meter would be scaled wrong.
    Scale,
}

/// All ones in 48 bits, divided by 10^0 to 10^6.
const ALL_ONES_48: [f64; 7] = [
    281_474_976_710_655.0,
    28_147_497_671_065.5,
    2_814_749_767_106.55,
    281_474_976_710.655,
    28_147_497_671.065_5,
    2_814_749_767.106_55,
    281_474_976.710_655,
];
/// All ones in 32 bits, divided by 10^0 to 10^6.
const ALL_ONES_32: [f64; 7] = [
    4_294_967_295.0,
    429_496_729.5,
    42_949_672.95,
    4_294_967.295,
    429_496.729_5,
    42_949.672_95,
    4_294.967_295,
];
/// All ones in 24 bits, divided by 10^0 to 10^6.
const ALL_ONES_24: [f64; 7] = [
    16_777_215.0,
    1_677_721.5,
    167_772.15,
    16_777.215,
    1_677.721_5,
    167.772_15,
    16.777_215,
];
/// The smallest signed 24-bit number, divided by 10^0 to 10^6.
const SMALLEST_24: [f64; 7] = [
    -8_388_608.0,
    -838_860.8,
    -83_886.08,
    -8_388.608,
    -838.860_8,
    -83.886_08,
    -8.388_608,
];

/// Why a register's value is not a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAReading {
    /// Zigbee's invalid value for the register's width.
    Invalid(Register),
    /// More than the register can hold: not a value it can have.
    TooWide(Register),
}

impl Register {
    /// The register's width in bits.
    pub fn bits(self) -> u32 {
        match self {
            Register::Summation => 48,
            Register::DayOrWeek | Register::Demand | Register::Scale => 24,
            Register::Month => 32,
        }
    }

    /// The raw values that mean "no value": all ones for unsigned widths,
    /// the most negative number for the signed demand.
    fn invalid_raw(self) -> &'static [i64] {
        match self {
            Register::Summation => &[(1 << 48) - 1],
            Register::DayOrWeek | Register::Scale => &[(1 << 24) - 1],
            Register::Month => &[(1 << 32) - 1, (1 << 24) - 1],
            Register::Demand => &[-(1 << 23)],
        }
    }

    /// A hex-feed register: `text` as the feed wrote it, `raw` its value.
    /// The value as a signed integer (the demand is two's complement, sign
    /// extended to however many digits the feed wrote, and read as 24 bits
    /// when it wrote fewer), or why it is not a reading.
    pub fn decode_hex(self, text: &str, raw: u64) -> Result<i64, NotAReading> {
        let digits = text.trim();
        let width = u32::try_from(digits.len())
            .unwrap_or(u32::MAX)
            .saturating_mul(4)
            .clamp(self.bits(), 64);
        let value = if self == Register::Demand {
            crate::flatten::legacy_hex::to_signed(raw, width)
        } else {
            // All ones in the width the feed wrote, six digits or more:
            // how the feed writes a register it sees as that wide.
            if digits.len() >= 6 && digits.bytes().all(|b| b.eq_ignore_ascii_case(&b'f')) {
                return Err(NotAReading::Invalid(self));
            }
            i64::try_from(raw).map_err(|_| NotAReading::TooWide(self))?
        };
        let (low, high) = if self == Register::Demand {
            (-(1 << (self.bits() - 1)), (1 << (self.bits() - 1)) - 1)
        } else {
            (0, (1 << self.bits()) - 1)
        };
        if self.invalid_raw().contains(&value) {
            Err(NotAReading::Invalid(self))
        } else if !(low..=high).contains(&value) {
            Err(NotAReading::TooWide(self))
        } else {
            Ok(value)
        }
    }

    /// Whether a JSON-feed value, which the CAD has already scaled by the
    /// meter's divisor, is this register's invalid value. The divisor is
    /// not in the message, so every decimal one a meter uses (1 to 10^6) is
    /// tried: `16777.215` is `FFFFFF` / 1000. Exact comparison is sound:
    /// each table entry is the double nearest that decimal, as is the
    /// number the CAD printed once parsed (a test checks the tables against
    /// `raw / 10^k`). Tables, not divisions, because this runs for every
    /// register of every message.
    #[allow(clippy::float_cmp)]
    pub fn is_invalid_scaled(self, value: f64) -> bool {
        let tables: &[&[f64; 7]] = match self {
            Register::Summation => &[&ALL_ONES_48],
            Register::DayOrWeek | Register::Scale => &[&ALL_ONES_24],
            Register::Month => &[&ALL_ONES_32, &ALL_ONES_24],
            Register::Demand => &[&SMALLEST_24],
        };
        tables.iter().any(|t| t.contains(&value))
    }
}

impl fmt::Display for NotAReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotAReading::Invalid(Register::Demand) => f.write_str(
                "the meter's error value (the smallest signed 24-bit number: Zigbee's \"invalid\"), \
                 not a reading",
            ),
            NotAReading::Invalid(r) => write!(
                f,
                "the meter's error value (all ones for a {}-bit register: Zigbee's \"invalid\"), \
                 not a reading",
                r.bits()
            ),
            NotAReading::TooWide(r) => write!(
                f,
                "more than a {}{}-bit register holds, not a reading",
                if *r == Register::Demand { "signed " } else { "" },
                r.bits()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_ones_by_width_in_the_hex_feed() {
        use NotAReading::{Invalid, TooWide};
        use Register::{DayOrWeek, Demand, Month, Summation};
        for (register, text, want) in [
            (Summation, "FFFFFFFFFFFF", Err(Invalid(Summation))),
            (Summation, "ffffffffffff", Err(Invalid(Summation))),
            (Summation, "0000FFFFFFFFFFFF", Err(Invalid(Summation))),
            (Summation, "FFFFFFFFFFFE", Ok(0xFFFF_FFFF_FFFE)),
            (Summation, "0000004D64CC", Ok(0x4D_64CC)),
            (Summation, "1000000000000", Err(TooWide(Summation))),
            (DayOrWeek, "FFFFFF", Err(Invalid(DayOrWeek))),
            (DayOrWeek, "00FFFFFF", Err(Invalid(DayOrWeek))),
            (DayOrWeek, "FFFFFFFF", Err(Invalid(DayOrWeek))),
            (DayOrWeek, "FFFFFE", Ok(0xFF_FFFE)),
            (DayOrWeek, "01000000", Err(TooWide(DayOrWeek))),
            (DayOrWeek, "001F23", Ok(0x1F23)),
            (DayOrWeek, "FF", Ok(0xFF)),
            (Month, "FFFFFFFF", Err(Invalid(Month))),
            (Month, "FFFFFF", Err(Invalid(Month))),
            (Month, "00FFFFFF", Err(Invalid(Month))),
            (Month, "01000000", Ok(0x100_0000)),
            (Month, "0100000000", Err(TooWide(Month))),
            (Demand, "800000", Err(Invalid(Demand))),
            (Demand, "FF800000", Err(Invalid(Demand))),
            (Demand, "000009F3", Ok(2547)),
            (Demand, "9F3", Ok(2547)),
            (Demand, "FFFFFF", Ok(-1)),
            (Demand, "FFFFFFFF", Ok(-1)),
            (Demand, "FF7FFFFF", Err(TooWide(Demand))),
            (Demand, "00800000", Err(TooWide(Demand))),
            (Demand, "7FFFFF", Ok(8_388_607)),
        ] {
            let raw = crate::flatten::legacy_hex::decode_hex(text).expect("hex");
            assert_eq!(register.decode_hex(text, raw), want, "{register:?} {text}");
        }
    }

    /// The tables hold exactly `raw / 10^k`, the double nearest each
    /// decimal a CAD prints.
    #[test]
    #[allow(clippy::cast_precision_loss, clippy::float_cmp)]
    fn the_scaled_tables_are_the_raw_values_divided() {
        for (table, raw) in [
            (ALL_ONES_48, (1i64 << 48) - 1),
            (ALL_ONES_32, (1 << 32) - 1),
            (ALL_ONES_24, (1 << 24) - 1),
            (SMALLEST_24, -(1 << 23)),
        ] {
            let mut divisor = 1.0;
            for v in table {
                assert_eq!(v, raw as f64 / divisor, "{raw} / {divisor}");
                divisor *= 10.0;
            }
        }
    }

    #[test]
    fn all_ones_scaled_in_the_json_feed() {
        use Register::{DayOrWeek, Demand, Month, Summation};
        for (register, value) in [
            (Summation, 281_474_976_710.655),
            (Summation, 281_474_976_710_655.0),
            (Summation, 2_814_749_767.106_55),
            (DayOrWeek, 16_777.215),
            (DayOrWeek, 16_777_215.0),
            (DayOrWeek, 16.777_215),
            (Month, 4_294_967.295),
            (Month, 16_777.215),
            (Demand, -8_388.608),
            (Demand, -8_388_608.0),
        ] {
            assert!(register.is_invalid_scaled(value), "{register:?} {value}");
        }
        for (register, value) in [
            (Summation, 281_474_976_710.654),
            (Summation, 16_777.215),
            (DayOrWeek, 16_777.214),
            (DayOrWeek, 4_294_967.295),
            (DayOrWeek, 167_772_150.0),
            (Demand, 8_388.608),
            (Demand, -8_388.607),
            (Demand, 16_777.215),
        ] {
            assert!(!register.is_invalid_scaled(value), "{register:?} {value}");
        }
    }
}
