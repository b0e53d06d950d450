//! Writes `Reading`s as InfluxDB line protocol.
//!
//! Every line written here must be accepted by InfluxDB 1.x and Telegraf's
//! parser, whatever a payload contained. The escaping follows the
//! influxdb-line-protocol crate's builder (the project's reference; the tests
//! compare the two byte for byte), and adds what the builder leaves to the
//! caller: non-finite floats, control characters (a raw `\n` would split the
//! line; C1 controls such as U+0085 too), empty tag values, lines without
//! fields, and lines longer than `MAX_LINE_BYTES`.
//!
//! It is hand-written rather than built on the crate's builder because the
//! builder formats every character through `fmt::Write`, which measured as
//! the largest cost of flattening (see the README's performance table).

use std::io::Write;

use crate::flatten::reading::{FieldValue, Reading};

/// The longest line written, newline included: `PIPE_BUF` on Linux.
///
/// Two promises rest on it. A write of at most `PIPE_BUF` bytes to a pipe is
/// atomic, so the writer can hand stdout whole lines in chunks that never
/// end mid-line, whatever moment the process is stopped or killed (a cut
/// line would be a wrong reading InfluxDB accepts). And every InfluxDB limit
/// on a line's parts (a series key of 65 535 bytes, a string field of
/// 64 KiB) lies far beyond it, so a hostile device id or string can only
/// ever cost its own line. Real lines are 150 to 400 bytes.
pub const MAX_LINE_BYTES: usize = 4096;

/// Why a reading produced no line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// No field survived (InfluxDB and Telegraf drop such a line).
    NoFields,
    /// The line would be longer than `MAX_LINE_BYTES` (the length it
    /// would have had); nothing was appended.
    TooLong(usize),
}

/// A table of the bytes to escape: every control character, the lead byte
/// of the C1 controls (U+0080–U+009F are `C2 80`–`C2 9F` in UTF-8; `C2`
/// also leads `£`, which the slow path then copies unchanged), and `extra`.
/// A table, because the checks run over every byte of every key and tag.
const fn escape_table(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[0x7f] = true;
    t[0xc2] = true;
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

/// Bytes to escape in a tag key, tag value or field key.
const KEY_ESCAPE: [bool; 256] = escape_table(b",= \\");

/// Bytes to escape inside a string field value.
const STRING_ESCAPE: [bool; 256] = escape_table(b"\"\\");

/// Appends `s` escaped for a tag key, tag value or field key: `,` `=` and
/// space are backslash-escaped; control characters become (escaped) spaces
/// since line protocol has no way to carry them there; and a backslash
/// becomes `/`, because parsers disagree on it (InfluxDB 1.x keeps `\\` as
/// two characters, Telegraf reads one, and a value ending in one is refused
/// by the influxdb-line-protocol crate). Real tag values (MAC addresses,
/// meter ids) never contain one.
fn push_key(out: &mut Vec<u8>, s: &str) {
    if !s.bytes().any(|b| KEY_ESCAPE[usize::from(b)]) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    each_byte(s, |b| match b {
        Byte::Plain(b @ (b',' | b'=' | b' ')) => out.extend_from_slice(&[b'\\', b]),
        Byte::Plain(b'\\') => out.push(b'/'),
        Byte::Plain(b) => out.push(b),
        Byte::Control => out.extend_from_slice(b"\\ "),
    });
}

/// A byte of text as the escapers see it.
enum Byte {
    Plain(u8),
    /// A C0 control, DEL, or a whole C1 control (two bytes in UTF-8).
    Control,
}

/// Calls `f` for each byte of `s`, with every control character (C0, DEL
/// and C1 alike) reported once as `Byte::Control`: one place decides what a
/// control character is, for every part of a line.
fn each_byte(s: &str, mut f: impl FnMut(Byte)) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            0..=0x1f | 0x7f => f(Byte::Control),
            0xc2 if matches!(bytes.get(i + 1), Some(0x80..=0x9f)) => {
                f(Byte::Control);
                i += 1;
            }
            _ => f(Byte::Plain(b)),
        }
        i += 1;
    }
}

/// Appends a string field value between quotes: `"` and `\` escaped, control
/// characters (CR and LF above all) replaced by spaces.
fn push_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    if !s.bytes().any(|b| STRING_ESCAPE[usize::from(b)]) {
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    each_byte(s, |b| match b {
        Byte::Plain(b @ (b'"' | b'\\')) => out.extend_from_slice(&[b'\\', b]),
        Byte::Plain(b) => out.push(b),
        Byte::Control => out.push(b' '),
    });
    out.push(b'"');
}

/// Meter values carry at most a few decimals (Wh resolution, prices in
/// fractions of a penny); this many decimals take the fast path below.
const FAST_DECIMALS: f64 = 1e6;

/// Appends a finite float as the shortest decimal that reads back to the
/// same value, never in exponent form: exactly what `{}` prints.
///
/// `{}` goes through the general shortest-round-trip algorithm, which
/// showed in profiles; numbers with up to six decimals (nearly every meter
/// value) are printed from an integer instead. The fast path is taken only
/// when `n / 10^6` is exactly the same double, so the digits are the same
/// ones `{}` would print; the tests check this against `{}`.
fn push_float(out: &mut Vec<u8>, f: f64) {
    let scaled = f * FAST_DECIMALS;
    // 2^53: every integer below it is exact, and so is the division below.
    // (`n as f64 == scaled` is the whole-number test: `fract()` is a libm
    // call on baseline x86-64.)
    if scaled.abs() < 9_007_199_254_740_992.0 {
        #[allow(clippy::cast_possible_truncation)]
        let n = scaled as i64;
        #[allow(clippy::cast_precision_loss)]
        if n as f64 == scaled && n as f64 / FAST_DECIMALS == f && (n != 0 || f.is_sign_positive()) {
            if n < 0 {
                out.push(b'-');
            }
            let n = n.unsigned_abs();
            push_u64(out, n / 1_000_000);
            let mut frac = n % 1_000_000;
            if frac != 0 {
                // Trailing zeros dropped, leading zeros kept.
                let mut width = 6;
                while frac % 10 == 0 {
                    frac /= 10;
                    width -= 1;
                }
                out.push(b'.');
                push_digits(out, frac, width);
            }
            return;
        }
    }
    let _ = write!(out, "{f}");
}

/// "00" to "99": digits are written two at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes the decimal digits of `n` right-aligned into `buf`, at least
/// `width` of them (zero-padded), and returns where they start.
fn digits(buf: &mut [u8; 20], mut n: u64, width: usize) -> usize {
    let mut i = buf.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    while buf.len() - i < width {
        i -= 1;
        buf[i] = b'0';
    }
    i
}

/// Appends `n` zero-padded to `width` digits.
fn push_digits(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [0u8; 20];
    let start = digits(&mut buf, n, width);
    out.extend_from_slice(&buf[start..]);
}

/// Appends the decimal digits of `n` (formatting machinery is the slow part
/// of `write!` for something this small).
fn push_u64(out: &mut Vec<u8>, n: u64) {
    push_digits(out, n, 1);
}

/// Appends a signed integer.
fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Whether a value is usable: finite floats only (InfluxDB refuses NaN/inf).
fn is_writable(value: &FieldValue<'_>) -> bool {
    match value {
        FieldValue::Float(f) => f.is_finite(),
        FieldValue::Int(_) | FieldValue::Str(_) => true,
    }
}

/// Appends a measurement name: `,` space and backslash escaped, control
/// characters replaced.
fn push_measurement(out: &mut Vec<u8>, name: &str) {
    if !name.bytes().any(|b| KEY_ESCAPE[usize::from(b)]) {
        out.extend_from_slice(name.as_bytes());
        return;
    }
    each_byte(name, |b| match b {
        Byte::Plain(b @ (b',' | b' ' | b'\\')) => out.extend_from_slice(&[b'\\', b]),
        Byte::Plain(b) => out.push(b),
        Byte::Control => out.push(b'_'),
    });
}

/// Appends one line (ending in `\n`) for `reading` to `out`.
///
/// Fields that cannot be written (NaN, infinities) and tags with empty values
/// are left out; if no field is left, or the line would be longer than
/// `MAX_LINE_BYTES`, nothing is appended.
pub fn write_line(reading: &Reading<'_>, out: &mut Vec<u8>) -> Result<(), LineError> {
    if !reading.fields.iter().any(|(_, v)| is_writable(v)) {
        return Err(LineError::NoFields);
    }
    let start = out.len();
    // Enough for a typical line, so the pushes below never reallocate.
    out.reserve(256);
    push_measurement(out, reading.measurement);
    for (key, value) in &reading.tags {
        let value = value.trim();
        if value.is_empty() || key.is_empty() {
            continue;
        }
        out.push(b',');
        push_key(out, key);
        out.push(b'=');
        push_key(out, value);
    }
    let mut separator = b' ';
    for (key, value) in reading.fields.iter().filter(|(_, v)| is_writable(v)) {
        out.push(separator);
        separator = b',';
        push_key(out, key);
        out.push(b'=');
        match value {
            // `{}` on f64 is the shortest text that reads back to the same
            // number, and never uses an exponent: valid line protocol.
            FieldValue::Float(f) => push_float(out, *f),
            FieldValue::Int(i) => {
                push_i64(out, *i);
                out.push(b'i');
            }
            FieldValue::Str(s) => push_string(out, s),
        }
    }
    out.push(b' ');
    push_i64(out, reading.time_ns);
    out.push(b'\n');
    let len = out.len() - start;
    if len > MAX_LINE_BYTES {
        out.truncate(start);
        return Err(LineError::TooLong(len));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use influxdb_line_protocol::LineProtocolBuilder;

    fn line(r: &Reading<'_>) -> String {
        let mut out = Vec::new();
        write_line(r, &mut out).expect("line written");
        String::from_utf8(out).expect("utf-8")
    }

    fn sample() -> Reading<'static> {
        let mut r = Reading::new("electricitymeter", 1_654_979_880_000_000_000);
        r.tag("device", "AABBCCDDEEFF");
        r.tag("supplier", "Octopus, \"Energy\" = ab");
        r.float("cumulative", 6613.405);
        r.float("day", 46.0);
        r.float("power", -0.5);
        r.int("han.rssi", -88);
        r.text("software", "v1.8 \"beta\" C:\\x");
        r
    }

    #[test]
    fn matches_the_reference_builder_byte_for_byte() {
        let r = sample();
        let reference = LineProtocolBuilder::new()
            .measurement("electricitymeter")
            .tag("device", "AABBCCDDEEFF")
            .tag("supplier", "Octopus, \"Energy\" = ab")
            .field("cumulative", 6613.405)
            .field("day", 46.0)
            .field("power", -0.5)
            .field("han.rssi", -88_i64)
            .field("software", "v1.8 \"beta\" C:\\x")
            .timestamp(1_654_979_880_000_000_000)
            .close_line()
            .build();
        assert_eq!(line(&r), String::from_utf8(reference).expect("utf-8"));
    }

    #[test]
    fn escape_tables_hold_exactly_the_bytes_the_escapers_change() {
        for b in 0..=255u8 {
            let key = matches!(b, b',' | b'=' | b' ' | b'\\' | 0..=0x1f | 0x7f | 0xc2);
            let string = matches!(b, b'"' | b'\\' | 0..=0x1f | 0x7f | 0xc2);
            assert_eq!(KEY_ESCAPE[usize::from(b)], key, "{b:#x}");
            assert_eq!(STRING_ESCAPE[usize::from(b)], string, "{b:#x}");
        }
    }

    #[test]
    fn floats_stay_floats_and_integers_get_the_suffix() {
        let text = line(&sample());
        assert!(text.contains(" cumulative=6613.405,day=46,power=-0.5,han.rssi=-88i,"));
    }

    #[test]
    fn control_characters_never_reach_the_output() {
        let mut r = Reading::new("cadstate", 1);
        r.tag("device", "ab\ncd");
        r.text("software", "line1\r\nline2\tend");
        let text = line(&r);
        assert_eq!(
            text,
            "cadstate,device=ab\\ cd software=\"line1  line2 end\" 1\n"
        );
        assert_eq!(text.matches('\n').count(), 1);
    }

    #[test]
    fn c1_controls_are_control_characters_too() {
        let mut r = Reading::new("cad\u{85}state", 1);
        r.tag("device", "ab\u{9f}cd\u{a3}");
        r.text("software", "v1\u{85}v2 \u{80}£\u{a0}");
        assert_eq!(
            line(&r),
            "cad_state,device=ab\\ cd£ software=\"v1 v2  £\u{a0}\" 1\n"
        );
    }

    #[test]
    fn a_line_over_pipe_buf_is_not_written_and_nothing_is_left_behind() {
        let mut out = b"before\n".to_vec();
        let mut r = Reading::new("cadstate", 1);
        r.tag("device", "D".repeat(MAX_LINE_BYTES));
        r.text("software", "v1");
        assert_eq!(
            write_line(&r, &mut out),
            Err(LineError::TooLong(MAX_LINE_BYTES + 33))
        );
        assert_eq!(out, b"before\n");
        // The longest line that fits is written whole.
        let mut r = Reading::new("cadstate", 1);
        r.text("software", "s".repeat(MAX_LINE_BYTES - 23));
        let mut out = Vec::new();
        assert_eq!(write_line(&r, &mut out), Ok(()));
        assert_eq!(out.len(), MAX_LINE_BYTES);
    }

    #[test]
    fn backslashes_in_tags_become_slashes() {
        let mut r = Reading::new("glowsensorth1", 1);
        r.tag("sensor", "a\\b\\");
        r.text("status", "c:\\");
        assert_eq!(line(&r), "glowsensorth1,sensor=a/b/ status=\"c:\\\\\" 1\n");
    }

    #[test]
    fn non_finite_floats_and_empty_tags_are_left_out() {
        let mut r = Reading::new("electricitymeter", 7);
        r.tag("device", "X");
        r.tags.push(("supplier", "  ".into()));
        r.float("power", f64::NAN);
        r.float("day", f64::INFINITY);
        r.float("week", 1.25);
        assert_eq!(line(&r), "electricitymeter,device=X week=1.25 7\n");
    }

    #[test]
    fn a_line_without_fields_is_not_written() {
        let mut r = Reading::new("electricitymeter", 7);
        r.tag("device", "X");
        r.float("power", f64::NAN);
        let mut out = Vec::new();
        assert_eq!(write_line(&r, &mut out), Err(LineError::NoFields));
        assert!(out.is_empty());
    }

    #[test]
    fn fast_float_path_prints_what_display_prints() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            46.0,
            0.1,
            0.2451,
            8123.456,
            -8388.608,
            1e-6,
            123_456.789_012,
        ];
        // A deterministic spread of magnitudes and decimals.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            #[allow(clippy::cast_precision_loss)]
            let base = (x % 10_000_000_000) as f64;
            let scale = [1.0, 10.0, 1e3, 1e6, 1e7, 3.0, 7.0][(x >> 40) as usize % 7];
            values.push(base / scale);
            values.push(-base / scale);
            values.push(f64::from_bits(x));
        }
        for v in values.into_iter().filter(|v| v.is_finite()) {
            let mut out = Vec::new();
            push_float(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{v}"), "{v:e}");
        }
    }

    #[test]
    fn integers_print_like_display() {
        for n in [
            0,
            1,
            -1,
            9,
            10,
            -88,
            1_772_366_390_000_000_000,
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = Vec::new();
            push_i64(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }

    #[test]
    fn extreme_floats_are_plain_decimals() {
        let mut r = Reading::new("m", 0);
        r.float("big", 1e300);
        r.float("small", 1e-300);
        let text = line(&r);
        assert!(!text.contains('e'), "{text}");
        let parsed: Vec<_> = influxdb_line_protocol::parse_lines(text.trim_end()).collect();
        assert!(parsed[0].is_ok(), "{parsed:?}");
    }
}
