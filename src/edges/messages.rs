//! Diagnostics on stderr, in the form Telegraf's execd input expects.
//!
//! Every line starts with `E! `, `W! `, `I! ` or `D! ` (Telegraf maps these
//! to its own log levels and logs anything else as an error), is one line,
//! and is short: Telegraf stops reading stderr for good after a line over
//! 64 KiB. Repeated notes (a CAD with no gas meter sends the same null
//! message every 10 s) are said once and then counted, not repeated.
//!
//! This is the only module that writes to stderr.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::flatten::{Level as NoteLevel, Note};

/// How much to print (`--log-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum LogLevel {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Warn as u8);

/// Longest line we print, well under Telegraf's 64 KiB limit.
const MAX_LINE: usize = 1000;

/// Notes remembered for de-duplication, by count and by bytes; past either
/// the memory is reset, so that a stream of distinct notes (random or
/// hostile topics) cannot grow it forever. A note is remembered by at most
/// its first `MAX_LINE` bytes, all that is ever printed of it.
const MAX_REMEMBERED: usize = 10_000;
const MAX_REMEMBERED_BYTES: usize = 1 << 20;

/// Sets the level below which messages are not printed.
pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether messages at `level` are printed.
pub fn enabled(level: LogLevel) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

fn prefix(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "E! ",
        LogLevel::Warn => "W! ",
        LogLevel::Info => "I! ",
        LogLevel::Debug => "D! ",
    }
}

/// Formats one stderr line: prefix, text on one line (control characters
/// replaced), truncated at a character boundary.
pub fn format_line(level: LogLevel, text: &str) -> String {
    let mut line = String::with_capacity(text.len().min(MAX_LINE) + 5);
    line.push_str(prefix(level));
    for c in text.chars() {
        if line.len() >= MAX_LINE {
            line.push('…');
            break;
        }
        line.push(if c.is_control() { ' ' } else { c });
    }
    line.push('\n');
    line
}

/// Prints one message if `level` is enabled. Errors writing to stderr are
/// ignored: there is nowhere left to report them.
pub fn emit(level: LogLevel, text: &str) {
    if enabled(level) {
        force(level, text);
    }
}

/// Prints one message whatever the level, except `--log-level error`
/// silencing non-errors. For the one line a user always wants: "connected".
pub fn always(level: LogLevel, text: &str) {
    if level == LogLevel::Error || enabled(LogLevel::Warn) {
        force(level, text);
    }
}

fn force(level: LogLevel, text: &str) {
    let line = format_line(level, text);
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.flush();
}

/// `E! ...`
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::edges::messages::emit($crate::edges::messages::LogLevel::Error, &format!($($arg)*)) };
}

/// `W! ...`
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::edges::messages::emit($crate::edges::messages::LogLevel::Warn, &format!($($arg)*)) };
}

/// `D! ...`
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::edges::messages::enabled($crate::edges::messages::LogLevel::Debug) {
            $crate::edges::messages::emit($crate::edges::messages::LogLevel::Debug, &format!($($arg)*))
        }
    };
}

/// Counts repeats of identical notes.
#[derive(Debug, Default)]
pub struct Repeats {
    seen: HashMap<String, u64>,
    bytes: usize,
}

impl Repeats {
    /// Records one occurrence of `text` and returns how many times it has
    /// now been seen if it should be printed: the first time, then at 10,
    /// 100, 1000, ... so a flood becomes a handful of lines that still say
    /// it is going on.
    pub fn record(&mut self, text: &str) -> Option<u64> {
        let mut end = text.len().min(MAX_LINE);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let key = &text[..end];
        if let Some(n) = self.seen.get_mut(key) {
            *n += 1;
            let n = *n;
            return is_power_of_ten(n).then_some(n);
        }
        if self.seen.len() >= MAX_REMEMBERED || self.bytes + key.len() > MAX_REMEMBERED_BYTES {
            self.seen.clear();
            self.bytes = 0;
        }
        self.bytes += key.len();
        self.seen.insert(key.to_owned(), 1);
        Some(1)
    }

    /// Notes remembered now, and their bytes.
    pub fn remembered(&self) -> (usize, usize) {
        (self.seen.len(), self.bytes)
    }
}

/// 10, 100, 1000, ...
fn is_power_of_ten(mut n: u64) -> bool {
    if n < 10 {
        return false;
    }
    while n % 10 == 0 {
        n /= 10;
    }
    n == 1
}

fn note_level(level: NoteLevel) -> LogLevel {
    match level {
        NoteLevel::Warn => LogLevel::Warn,
        NoteLevel::Info => LogLevel::Info,
        NoteLevel::Debug => LogLevel::Debug,
    }
}

/// Prints a flattener note, once and then counted.
pub fn note(note: &Note) {
    let level = note_level(note.level);
    if !enabled(level) {
        return;
    }
    static REPEATS: OnceLock<Mutex<Repeats>> = OnceLock::new();
    let count = REPEATS
        .get_or_init(|| Mutex::new(Repeats::default()))
        .lock()
        .map_or(Some(1), |mut r| r.record(&note.text));
    match count {
        Some(1) => force(level, &note.text),
        Some(n) => force(level, &format!("{} (seen {n} times)", note.text)),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_prefixed_single_and_short() {
        assert_eq!(format_line(LogLevel::Warn, "a\nb"), "W! a b\n");
        let long = format_line(LogLevel::Error, &"é".repeat(100_000));
        assert!(long.len() < 1100);
        assert!(long.starts_with("E! ") && long.ends_with("…\n"));
        assert_eq!(long.matches('\n').count(), 1);
    }

    #[test]
    fn repeats_are_said_once_then_counted() {
        let mut r = Repeats::default();
        let printed: Vec<u64> = (0..1000).filter_map(|_| r.record("same")).collect();
        assert_eq!(printed, vec![1, 10, 100, 1000]);
        assert_eq!(r.record("other"), Some(1));
    }

    #[test]
    fn memory_is_bounded_by_count_and_by_bytes() {
        let mut r = Repeats::default();
        for i in 0..MAX_REMEMBERED * 3 {
            assert_eq!(r.record(&format!("note {i}")), Some(1));
            assert!(r.remembered().0 <= MAX_REMEMBERED);
        }
        // Long, distinct notes: the byte bound holds long before the count.
        let mut r = Repeats::default();
        for i in 0..5000 {
            r.record(&format!("{i} {}", "x".repeat(100_000)));
            let (n, bytes) = r.remembered();
            assert!(bytes <= MAX_REMEMBERED_BYTES, "{bytes} bytes");
            assert!(n <= MAX_REMEMBERED_BYTES / MAX_LINE + 1);
        }
        // A note longer than a line is counted by what is printed of it.
        let mut r = Repeats::default();
        let long = "y".repeat(MAX_LINE * 3);
        assert_eq!(r.record(&long), Some(1));
        assert_eq!(r.remembered().1, MAX_LINE);
    }
}
