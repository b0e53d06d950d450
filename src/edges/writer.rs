//! The one thread that owns stdout.
//!
//! Messages from a source arrive over one bounded channel; the writer
//! flattens each into a buffer and writes it when the channel is empty (or
//! the buffer is full): a burst costs a few write syscalls rather than one
//! per line, yet a line is never held back once the stream goes quiet.
//!
//! Two rules make stdout safe to stop at any moment:
//! - **Whole lines only.** To a pipe or socket the buffer goes out in
//!   chunks of at most `PIPE_BUF` bytes that end on a line boundary (every
//!   line is at most that long, see `line_protocol::MAX_LINE_BYTES`); such a
//!   write to a pipe is atomic, so SIGKILL, a drain deadline or a closed
//!   reader can lose whole lines but never cut one into a wrong reading.
//! - **Acknowledge only what was written.** A message's MQTT ack runs only
//!   after every byte carrying its lines was accepted by stdout, and, with
//!   `ack_delay`, only that long afterwards (Telegraf holds what it read in
//!   memory until its next flush; see the README). An ack the connection
//!   cannot take yet is retried, never waited for. Acks not yet due when the
//!   writer stops are not sent: the broker redelivers those messages, and
//!   their duplicates carry the meter's timestamp. With `ack_after_lines`,
//!   an ack also falls due `FLUSH_MARGIN` after that many more lines were
//!   written (Telegraf writes a batch once that many wait; see
//!   `config::delivery`), whichever comes first.
//! - **Paced.** With `pace`, lines go out no faster than Telegraf's buffer
//!   can take them (`edges::pacing`); while the writer waits it takes no
//!   message, so the backlog waits unacknowledged at the broker.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, TryRecvError};

use crate::config::delivery::FLUSH_MARGIN;
use crate::edges::message::{Ack, Message};
use crate::edges::messages;
use crate::edges::pacing::Pace;
use crate::flatten::line_protocol::MAX_LINE_BYTES;
use crate::flatten::{Flattener, Note};

/// How soon to try again to hand over acks the connection could not take,
/// when no message arrives meanwhile.
const ACK_RETRY: Duration = Duration::from_millis(5);

/// How long the last acks may take to be handed over at the end (the
/// connection thread keeps draining its queue until `main` closes it).
const LAST_ACKS: Duration = Duration::from_millis(500);

/// Acks held at most before the writer waits: while that many are not
/// yet due, the writer takes no message until the oldest falls due, and the
/// rest of a backlog waits unacknowledged at the broker. MQTT 3.1.1 puts no
/// bound of its own on them (a broker without an in-flight limit sends a
/// whole backlog), and held acks were most of cadline's peak memory in a
/// replay (README "Performance"). Acks that are due but that the connection
/// cannot take yet do not make the writer wait (see `run`), so the queue
/// may pass the limit while rumqttc catches up; `HELD_ROOM` leaves room
/// for that. The limit is the largest in-flight window cadline asks of an
/// MQTT 5 broker (the disk buffer's), so it only slows a replay that
/// already goes faster than `ack_delay` lets the broker keep up with.
pub const MAX_HELD: usize = 20_000;

/// The held-ack queue's capacity from the start (56 bytes an entry, 1.8
/// MiB; pages are only resident once used): growing it by doubling copied
/// the whole queue at the worst moment.
const HELD_ROOM: usize = 32_768;

/// Output gathered before it is written even though more messages wait.
pub(crate) const BUFFER: usize = 64 * 1024;

/// What the writer did, for the exit summary and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub messages: u64,
    pub lines: u64,
}

/// How the writer treats its output.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// How long after its lines were written a message is acknowledged.
    pub ack_delay: Duration,
    /// Write in line-aligned chunks of at most `PIPE_BUF` bytes (a pipe or
    /// socket), rather than in one go (a regular file, /dev/null, a Vec).
    pub whole_line_writes: bool,
    /// Also acknowledge `FLUSH_MARGIN` after this many more lines were
    /// written, if that is sooner than `ack_delay`.
    pub ack_after_lines: Option<u64>,
    /// At most this many lines per second after a first burst of `.1`.
    pub pace: Option<(f64, usize)>,
    /// At most this many acks held (`None`: `MAX_HELD`).
    pub max_held: Option<usize>,
}

/// An ack held until it falls due.
struct Held {
    /// When it falls due by time.
    due: Instant,
    /// Lines written when its own lines were; it falls due `FLUSH_MARGIN`
    /// after `after_lines` more were written (`due` is moved then).
    written: u64,
    ack: Ack,
}

/// Acks in the order their lines were written; the front is the next to
/// go. Both ways of falling due keep that order: `due` grows along the
/// queue, and so does `written`.
#[derive(Default)]
struct HeldAcks {
    queue: VecDeque<Held>,
    /// Lines written so far.
    lines: u64,
    /// How many at the front have already been brought forward by count.
    counted: usize,
    after_lines: Option<u64>,
}

impl HeldAcks {
    fn hold(&mut self, acks: &mut Vec<Ack>, due: Instant, lines: u64, now: Instant) {
        self.lines += lines;
        let written = self.lines;
        self.queue
            .extend(acks.drain(..).map(|ack| Held { due, written, ack }));
        // Those with `after_lines` written after them fall due once the
        // batch that holds them has had time to be written.
        if let Some(n) = self.after_lines {
            let by_count = now + FLUSH_MARGIN;
            while let Some(h) = self.queue.get_mut(self.counted) {
                if h.written + n > self.lines {
                    break;
                }
                h.due = h.due.min(by_count);
                self.counted += 1;
            }
        }
    }

    /// Hands over every ack that is due and that the connection takes now;
    /// returns when to try again (`None`: nothing held).
    fn release(&mut self, now: Instant) -> Option<Instant> {
        while let Some(h) = self.queue.front_mut() {
            if h.due > now {
                return Some(h.due);
            }
            if !h.ack.send() {
                return Some(now + ACK_RETRY);
            }
            self.queue.pop_front();
            self.counted = self.counted.saturating_sub(1);
        }
        None
    }

    /// Whether acks that are already due are still waiting for the connection.
    fn any_due(&self, now: Instant) -> bool {
        self.queue.front().is_some_and(|h| h.due <= now)
    }
}

/// Writes `bytes` (whole lines) to `out`, in line-aligned chunks of at most
/// `MAX_LINE_BYTES` when `whole_lines` is set.
pub(crate) fn write_lines<W: Write>(
    out: &mut W,
    bytes: &[u8],
    whole_lines: bool,
) -> io::Result<()> {
    if !whole_lines {
        return out.write_all(bytes);
    }
    let mut rest = bytes;
    while !rest.is_empty() {
        let end = if rest.len() <= MAX_LINE_BYTES {
            rest.len()
        } else {
            // The last newline within the limit. Every line fits, so there
            // is one; were there none, the rest goes in one write.
            rest[..MAX_LINE_BYTES]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1)
        };
        out.write_all(&rest[..end])?;
        rest = &rest[end..];
    }
    Ok(())
}

/// Flattens and writes messages until the channel closes or `stop` fires,
/// then drains what is already queued and writes it. An error is a write to
/// `out` that failed (EPIPE when Telegraf or `head` has gone, EBADF for a
/// closed stdout): nothing written after the last successful write is
/// acknowledged.
pub fn run<W: Write>(
    rx: &Receiver<Message>,
    stop: &Receiver<()>,
    flattener: &Flattener,
    mut out: W,
    options: Options,
) -> io::Result<Stats> {
    let mut buf: Vec<u8> = Vec::with_capacity(BUFFER + 2 * MAX_LINE_BYTES);
    let mut notes: Vec<Note> = Vec::new();
    // Acks of the messages whose lines are in `buf`.
    let mut unwritten: Vec<Ack> = Vec::new();
    let mut held = HeldAcks {
        after_lines: options.ack_after_lines,
        queue: VecDeque::with_capacity(HELD_ROOM),
        ..HeldAcks::default()
    };
    let mut pace = options
        .pace
        .map(|(rate, burst)| Pace::new(rate, burst, Instant::now()));
    // Paced, messages are taken off the channel a batch at a time (see
    // `Pace::batch`); those taken wait here, in order, for their turn.
    let mut taken: VecDeque<Message> = VecDeque::new();
    let max_held = options.max_held.unwrap_or(MAX_HELD).max(1);
    let mut stats = Stats::default();
    let mut stopping = false;
    // Lines in `buf`.
    let mut buffered = 0u64;
    let mut write =
        |buf: &mut Vec<u8>, unwritten: &mut Vec<Ack>, held: &mut HeldAcks, buffered: &mut u64| {
            write_lines(&mut out, buf, options.whole_line_writes)?;
            out.flush()?;
            buf.clear();
            let now = Instant::now();
            held.hold(unwritten, now + options.ack_delay, *buffered, now);
            *buffered = 0;
            io::Result::Ok(())
        };
    loop {
        // Paced: what is buffered goes out, then nothing is taken until the
        // pace allows (acks still fall due meanwhile).
        if let Some(until) = pace.as_mut().and_then(|p| p.wait_until(Instant::now())) {
            if stopping {
                break;
            }
            write(&mut buf, &mut unwritten, &mut held, &mut buffered)?;
            let wake = held
                .release(Instant::now())
                .map_or(until, |at| at.min(until));
            select! {
                recv(stop) -> _ => stopping = true,
                recv(crossbeam_channel::at(wake)) -> _ => {}
            }
            continue;
        }
        // Too many acks held and none due yet: what is buffered goes out,
        // then nothing is taken until the oldest ack falls due. Only then:
        // an ack that is due but refused needs the connection thread to poll,
        // and that thread may be waiting for the writer to take a message.
        if held.queue.len() + unwritten.len() >= max_held {
            held.release(Instant::now());
        }
        if held.queue.len() + unwritten.len() >= max_held && !held.any_due(Instant::now()) {
            if stopping {
                break;
            }
            write(&mut buf, &mut unwritten, &mut held, &mut buffered)?;
            let now = Instant::now();
            let next = held.release(now);
            if held.queue.len() >= max_held && !held.any_due(now) {
                if let Some(at) = next {
                    select! {
                        recv(stop) -> _ => stopping = true,
                        recv(crossbeam_channel::at(at.max(now))) -> _ => {}
                    }
                }
                continue;
            }
        }
        if let (Some(p), true) = (pace.as_ref(), taken.is_empty()) {
            taken.extend(rx.try_iter().take(p.batch()));
        }
        let next = match taken.pop_front() {
            Some(m) => Ok(m),
            None => rx.try_recv(),
        };
        let message = match next {
            Ok(m) => m,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) if stopping => break,
            Err(TryRecvError::Empty) => {
                write(&mut buf, &mut unwritten, &mut held, &mut buffered)?;
                let wake = match held.release(Instant::now()) {
                    Some(at) => crossbeam_channel::at(at),
                    None => crossbeam_channel::never(),
                };
                select! {
                    recv(rx) -> m => match m {
                        Ok(m) => m,
                        Err(_) => break,
                    },
                    recv(stop) -> _ => {
                        stopping = true;
                        continue;
                    }
                    recv(wake) -> _ => continue,
                }
            }
        };
        notes.clear();
        let lines = flattener.flatten(
            &message.topic,
            &message.payload,
            message.received_ns,
            &mut buf,
            &mut notes,
        );
        notes.iter().for_each(messages::note);
        stats.messages += 1;
        stats.lines += lines as u64;
        buffered += lines as u64;
        if let Some(p) = pace.as_mut() {
            p.spend(lines, Instant::now());
        }
        unwritten.extend(message.ack);
        if buf.len() >= BUFFER {
            write(&mut buf, &mut unwritten, &mut held, &mut buffered)?;
            held.release(Instant::now());
        }
    }
    write(&mut buf, &mut unwritten, &mut held, &mut buffered)?;
    // The acks that are due go out; those still held are left for the
    // broker to redeliver.
    let deadline = Instant::now() + LAST_ACKS;
    held.release(Instant::now());
    while held.any_due(Instant::now()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        held.release(Instant::now());
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn message(topic: &str, payload: &str, ack: Option<Ack>) -> Message {
        Message {
            topic: topic.into(),
            payload: payload.into(),
            received_ns: 1_772_366_400_000_000_000,
            ack,
        }
    }

    #[test]
    fn writes_every_message_then_acks_after_the_flush() {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let acked = Arc::new(AtomicUsize::new(0));
        for i in 0..3 {
            let acked = acked.clone();
            let payload = format!(r#"{{"software":"v{i}","timestamp":"2023-01-01T00:00:00Z"}}"#);
            tx.send(message(
                "glow/A/STATE",
                &payload,
                Some(Ack::from_fn(move || {
                    acked.fetch_add(1, Ordering::SeqCst);
                    true
                })),
            ))
            .expect("channel open");
        }
        tx.send(message("glow/A/unknown", "{}", None))
            .expect("channel open");
        drop(tx);
        let mut out = Vec::new();
        let stats = run(
            &rx,
            &stop,
            &Flattener::default(),
            &mut out,
            Options::default(),
        )
        .expect("writes to a Vec");
        assert_eq!(
            stats,
            Stats {
                messages: 4,
                lines: 3
            }
        );
        assert_eq!(acked.load(Ordering::SeqCst), 3);
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text.lines().count(), 3);
        assert!(text
            .lines()
            .all(|l| l.starts_with("cadstate,device=A software=\"v")));
    }

    #[test]
    fn an_ack_the_connection_cannot_take_yet_is_retried_not_waited_for() {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let (attempts, acked) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let payload = r#"{"software":"v1","timestamp":"2023-01-01T00:00:00Z"}"#;
        let (a, b) = (attempts.clone(), acked.clone());
        // A connection whose queue is full for the first three tries.
        let ack = Ack::from_fn(move || {
            if a.fetch_add(1, Ordering::SeqCst) < 3 {
                return false;
            }
            b.fetch_add(1, Ordering::SeqCst);
            true
        });
        tx.send(message("glow/A/STATE", payload, Some(ack)))
            .expect("open");
        let writer = std::thread::spawn(move || {
            let mut out = Vec::new();
            run(
                &rx,
                &stop,
                &Flattener::default(),
                &mut out,
                Options::default(),
            )
            .map(|_| out)
        });
        // The writer takes the next message while the ack is still waiting.
        tx.send(message("glow/A/STATE", payload, None))
            .expect("open");
        let deadline = Instant::now() + Duration::from_secs(5);
        while acked.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(tx);
        let out = writer.join().expect("no panic").expect("writes");
        assert_eq!(String::from_utf8(out).expect("utf-8").lines().count(), 2);
        assert_eq!(acked.load(Ordering::SeqCst), 1, "acknowledged exactly once");
        assert_eq!(attempts.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn stop_drains_what_is_queued() {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        tx.send(message("glow/A/STATE", r#"{"software":"v1"}"#, None))
            .expect("open");
        drop(stop_tx);
        let mut out = Vec::new();
        let stats = run(
            &rx,
            &stop,
            &Flattener::default(),
            &mut out,
            Options::default(),
        )
        .expect("writes");
        assert_eq!(stats.lines, 1);
        drop(tx);
    }

    /// Output whose first flush waits for the test: the writer is then
    /// held just before its `select!`, while the test arranges what that
    /// select finds ready.
    struct HeldAtFirstFlush {
        written: Arc<std::sync::Mutex<Vec<u8>>>,
        entered: Option<crossbeam_channel::Sender<()>>,
        release: crossbeam_channel::Receiver<()>,
    }
    impl Write for HeldAtFirstFlush {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.written.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            if let Some(entered) = self.entered.take() {
                drop(entered);
                let _ = self.release.recv();
            }
            Ok(())
        }
    }

    #[test]
    fn messages_queued_when_the_stop_arrives_are_written_not_dropped() {
        // The stop and two messages are ready at the same instant; the
        // select picks either at random. Whichever it picks, both messages
        // must be written: they were handed over, and at QoS 0 nobody
        // sends them again. 32 rounds: a writer that leaves on the stop
        // instead of draining passes all of them once in 4 billion.
        for round in 0..32 {
            let (tx, rx) = crossbeam_channel::bounded(8);
            let (stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
            let (entered_tx, entered) = crossbeam_channel::bounded::<()>(0);
            let (release_tx, release) = crossbeam_channel::bounded::<()>(0);
            let written = Arc::new(std::sync::Mutex::new(Vec::new()));
            let out = HeldAtFirstFlush {
                written: written.clone(),
                entered: Some(entered_tx),
                release,
            };
            let writer = std::thread::spawn(move || {
                run(&rx, &stop, &Flattener::default(), out, Options::default())
            });
            // The writer found the channel empty and is flushing.
            let _ = entered.recv();
            drop(stop_tx);
            for i in 1..=2 {
                tx.send(message("glow/A/STATE", &state(i), None))
                    .expect("open");
            }
            drop(release_tx);
            let stats = writer.join().expect("no panic").expect("writes");
            let text = String::from_utf8(written.lock().expect("lock").clone()).expect("utf-8");
            assert_eq!(stats.lines, 2, "round {round}: {text:?}");
            assert!(
                text.contains("software=\"v1\"") && text.contains("software=\"v2\""),
                "round {round}: a queued message was dropped at stop: {text:?}"
            );
            drop(tx);
        }
    }

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
    }

    #[test]
    fn a_closed_stdout_is_an_error_not_a_panic() {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        tx.send(message("glow/A/STATE", r#"{"software":"v1"}"#, None))
            .expect("open");
        drop(tx);
        let err = run(
            &rx,
            &stop,
            &Flattener::default(),
            Closed,
            Options::default(),
        )
        .expect_err("EPIPE");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    /// Records every write call and the bytes accepted so far, so a test can
    /// check what an ack saw at the moment it ran.
    #[derive(Clone, Default)]
    struct Recorder {
        writes: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
        fail_after: Option<usize>,
    }
    impl Recorder {
        fn written(&self) -> Vec<u8> {
            self.writes.lock().expect("lock").concat()
        }
    }
    impl Write for Recorder {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let mut w = self.writes.lock().expect("lock");
            if self.fail_after.is_some_and(|n| w.len() >= n) {
                return Err(io::Error::from_raw_os_error(9)); // EBADF
            }
            w.push(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn state(i: usize) -> String {
        format!(r#"{{"software":"v{i}","timestamp":"2023-01-01T00:00:00Z"}}"#)
    }

    /// An ack that checks, when it runs, that its message's line is already
    /// in what stdout accepted, and counts itself.
    fn checking_ack(rec: &Recorder, i: usize, acked: &Arc<AtomicUsize>) -> Ack {
        let (rec, acked) = (rec.clone(), acked.clone());
        Ack::from_fn(move || {
            let written = String::from_utf8(rec.written()).expect("utf-8");
            assert!(
                written.contains(&format!("software=\"v{i}\"")),
                "message {i} acknowledged before its line was written"
            );
            acked.fetch_add(1, Ordering::SeqCst);
            true
        })
    }

    #[test]
    fn no_ack_runs_before_the_bytes_carrying_its_lines_were_written() {
        let (tx, rx) = crossbeam_channel::bounded(4096);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let rec = Recorder::default();
        let acked = Arc::new(AtomicUsize::new(0));
        // Enough for several buffer-full writes within one burst.
        let n = 1500;
        for i in 0..n {
            let payload = format!("{}{}", state(i), " ".repeat(50));
            tx.send(message(
                "glow/A/STATE",
                &payload,
                Some(checking_ack(&rec, i, &acked)),
            ))
            .expect("open");
        }
        drop(tx);
        let options = Options {
            whole_line_writes: true,
            ..Options::default()
        };
        run(&rx, &stop, &Flattener::default(), rec.clone(), options).expect("writes");
        assert_eq!(acked.load(Ordering::SeqCst), n);
    }

    #[test]
    fn a_failed_write_acknowledges_nothing_it_carried() {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let acked = Arc::new(AtomicUsize::new(0));
        let a = acked.clone();
        tx.send(message(
            "glow/A/STATE",
            &state(1),
            Some(Ack::from_fn(move || {
                a.fetch_add(1, Ordering::SeqCst);
                true
            })),
        ))
        .expect("open");
        drop(tx);
        let rec = Recorder {
            fail_after: Some(0),
            ..Recorder::default()
        };
        let err = run(&rx, &stop, &Flattener::default(), rec, Options::default())
            .expect_err("EBADF is an error");
        assert_eq!(err.raw_os_error(), Some(9));
        assert_eq!(acked.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn to_a_pipe_every_write_is_whole_lines_within_pipe_buf() {
        let (tx, rx) = crossbeam_channel::bounded(4096);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        for i in 0..3000 {
            // Lines of varied length, some near the limit.
            let software = "x".repeat((i * 37) % (MAX_LINE_BYTES - 100));
            let payload =
                format!(r#"{{"software":"{software}","timestamp":"2023-01-01T00:00:00Z"}}"#);
            tx.send(message("glow/A/STATE", &payload, None))
                .expect("open");
        }
        drop(tx);
        let rec = Recorder::default();
        let options = Options {
            whole_line_writes: true,
            ..Options::default()
        };
        let stats = run(&rx, &stop, &Flattener::default(), rec.clone(), options).expect("writes");
        let writes = rec.writes.lock().expect("lock");
        assert!(writes.len() > 100, "{} writes", writes.len());
        for w in writes.iter() {
            assert!(w.len() <= MAX_LINE_BYTES, "a write of {} bytes", w.len());
            assert_eq!(w.last(), Some(&b'\n'), "a write that ends mid-line");
        }
        assert_eq!(stats.lines, 3000);
        assert_eq!(
            writes.concat().iter().filter(|&&b| b == b'\n').count(),
            3000
        );
    }

    /// Linux's PIPE_BUF: a write of at most this many bytes to a pipe is
    /// atomic. Written out here, not taken from the code under test.
    const PIPE_BUF: usize = 4096;

    /// The chunks `write_lines` makes of `bytes` for a pipe.
    fn pipe_writes(bytes: &[u8]) -> Vec<Vec<u8>> {
        let rec = Recorder::default();
        write_lines(&mut rec.clone(), bytes, true).expect("writes");
        let writes = rec.writes.lock().expect("lock").clone();
        writes
    }

    /// Lines of the given lengths, each counting its `\n`.
    fn lines_of(lengths: &[usize]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (i, &len) in lengths.iter().enumerate() {
            let fill = b'a' + (i % 26) as u8;
            bytes.extend(std::iter::repeat_n(fill, len - 1));
            bytes.push(b'\n');
        }
        bytes
    }

    #[test]
    fn a_newline_at_byte_4097_is_not_in_the_first_write() {
        // Lines of 100 and 3 997 bytes end at byte 4 097: the first write
        // must stop after the first line, not take both (4 097 bytes, not
        // atomic to a pipe).
        let bytes = lines_of(&[100, 3997, 2]);
        assert_eq!(bytes[PIPE_BUF], b'\n');
        let writes = pipe_writes(&bytes);
        assert_eq!(writes, vec![bytes[..100].to_vec(), bytes[100..].to_vec()]);
    }

    proptest::proptest! {
        #[test]
        fn every_write_to_a_pipe_is_whole_lines_within_pipe_buf(
            // The first two lines end exactly one byte past PIPE_BUF; the
            // rest are of any length up to the longest line, often at it.
            first in 1..MAX_LINE_BYTES,
            rest in proptest::collection::vec(
                proptest::prop_oneof![1..=MAX_LINE_BYTES, MAX_LINE_BYTES - 2..=MAX_LINE_BYTES, 1..=3usize],
                0..40,
            ),
        ) {
            let mut lengths = vec![first, PIPE_BUF + 1 - first];
            lengths.extend(rest);
            let bytes = lines_of(&lengths);
            let writes = pipe_writes(&bytes);
            for w in &writes {
                proptest::prop_assert!(w.len() <= PIPE_BUF, "a write of {} bytes", w.len());
                proptest::prop_assert_eq!(w.last(), Some(&b'\n'), "a write that ends mid-line");
            }
            proptest::prop_assert_eq!(writes.concat(), bytes);
        }
    }

    #[test]
    fn with_an_ack_delay_acks_wait_and_those_not_due_at_the_end_are_not_sent() {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let acked = Arc::new(AtomicUsize::new(0));
        let rec = Recorder::default();
        let delay = Duration::from_millis(300);
        let options = Options {
            ack_delay: delay,
            whole_line_writes: true,
            ..Options::default()
        };
        let writer = {
            let rec = rec.clone();
            std::thread::spawn(move || run(&rx, &stop, &Flattener::default(), rec, options))
        };
        let start = Instant::now();
        tx.send(message(
            "glow/A/STATE",
            &state(1),
            Some(checking_ack(&rec, 1, &acked)),
        ))
        .expect("open");
        // Written at once, acknowledged only after the delay.
        while rec.written().is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "line never written"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            acked.load(Ordering::SeqCst),
            0,
            "acknowledged before the delay"
        );
        while acked.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < Duration::from_secs(5), "ack never sent");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(start.elapsed() >= delay);
        // A second message, then a stop before its ack is due: not sent.
        tx.send(message(
            "glow/A/STATE",
            &state(2),
            Some(checking_ack(&rec, 2, &acked)),
        ))
        .expect("open");
        while !String::from_utf8(rec.written())
            .expect("utf-8")
            .contains("v2")
        {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "second line never written"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(stop_tx);
        writer.join().expect("no panic").expect("writes");
        assert_eq!(
            acked.load(Ordering::SeqCst),
            1,
            "an ack not yet due was sent at stop"
        );
    }

    #[test]
    fn acks_the_connection_refuses_at_the_end_are_retried_before_returning() {
        // The channel is closed before the writer starts: its last chance to
        // hand over the ack is the retry after the final write.
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let (attempts, acked) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (a, b) = (attempts.clone(), acked.clone());
        let ack = Ack::from_fn(move || {
            if a.fetch_add(1, Ordering::SeqCst) < 5 {
                return false;
            }
            b.fetch_add(1, Ordering::SeqCst);
            true
        });
        tx.send(message("glow/A/STATE", &state(1), Some(ack)))
            .expect("open");
        drop(tx);
        let mut out = Vec::new();
        run(
            &rx,
            &stop,
            &Flattener::default(),
            &mut out,
            Options::default(),
        )
        .expect("writes");
        assert_eq!(acked.load(Ordering::SeqCst), 1, "the ack was given up");
        assert_eq!(attempts.load(Ordering::SeqCst), 6);
    }

    /// Counts acks; each checks that its line was written before it.
    fn counted_acks(
        tx: &crossbeam_channel::Sender<Message>,
        rec: &Recorder,
        range: std::ops::Range<usize>,
        acked: &Arc<AtomicUsize>,
    ) {
        for i in range {
            tx.send(message(
                "glow/A/STATE",
                &state(i),
                Some(checking_ack(rec, i, acked)),
            ))
            .expect("open");
        }
    }

    fn wait_for(what: &str, timeout: Duration, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn a_batch_written_after_a_reading_acknowledges_it_before_its_flush_deadline() {
        let (tx, rx) = crossbeam_channel::bounded(256);
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let acked = Arc::new(AtomicUsize::new(0));
        let rec = Recorder::default();
        let options = Options {
            ack_delay: Duration::from_secs(60),
            whole_line_writes: true,
            ack_after_lines: Some(10),
            pace: None,
            max_held: None,
        };
        let writer = {
            let rec = rec.clone();
            std::thread::spawn(move || run(&rx, &stop, &Flattener::default(), rec, options))
        };
        // Nine lines: not a batch after the first, so nothing is acked.
        counted_acks(&tx, &rec, 0..9, &acked);
        wait_for("9 lines written", Duration::from_secs(5), || {
            rec.written().iter().filter(|&&b| b == b'\n').count() == 9
        });
        // 10 more: the first ten now have a batch after them.
        let t0 = Instant::now();
        counted_acks(&tx, &rec, 9..19, &acked);
        std::thread::sleep(FLUSH_MARGIN / 2);
        assert_eq!(acked.load(Ordering::SeqCst), 0, "acked before the margin");
        wait_for("the first batch acked", FLUSH_MARGIN * 3, || {
            acked.load(Ordering::SeqCst) >= 9
        });
        assert!(t0.elapsed() >= FLUSH_MARGIN);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            acked.load(Ordering::SeqCst),
            9,
            "only the readings with 10 lines after them"
        );
        drop(stop_tx);
        writer.join().expect("no panic").expect("writes");
        assert_eq!(acked.load(Ordering::SeqCst), 9, "the rest were not due");
    }

    #[test]
    fn paced_lines_go_out_no_faster_than_the_pace_and_in_order() {
        let (tx, rx) = crossbeam_channel::bounded(4096);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let acked = Arc::new(AtomicUsize::new(0));
        let rec = Recorder::default();
        // 50 at once, then 200 lines/s: 250 lines take about a second.
        let options = Options {
            whole_line_writes: true,
            pace: Some((200.0, 50)),
            ..Options::default()
        };
        counted_acks(&tx, &rec, 0..250, &acked);
        drop(tx);
        let t0 = Instant::now();
        let stats = run(&rx, &stop, &Flattener::default(), rec.clone(), options).expect("writes");
        let took = t0.elapsed();
        assert_eq!(stats.lines, 250);
        assert_eq!(acked.load(Ordering::SeqCst), 250);
        assert!(took >= Duration::from_millis(950), "{took:?}");
        let text = String::from_utf8(rec.written()).expect("utf-8");
        let order: Vec<&str> = text.lines().collect();
        assert_eq!(order.len(), 250);
        assert!(order[249].contains("software=\"v249\""));
    }

    #[test]
    fn no_more_acks_are_held_than_the_limit_and_every_message_is_still_written() {
        let (tx, rx) = crossbeam_channel::bounded(4096);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let acked = Arc::new(AtomicUsize::new(0));
        let rec = Recorder::default();
        // 100 messages ready at once, each held 50 ms after its write, at
        // most 10 held: at every write, lines written minus acks sent stays
        // within the limit (without it all 100 go out before any ack).
        let options = Options {
            ack_delay: Duration::from_millis(50),
            whole_line_writes: true,
            max_held: Some(10),
            ..Options::default()
        };
        let worst = Arc::new(AtomicUsize::new(0));
        for i in 0..100 {
            let (rec, acked) = (rec.clone(), acked.clone());
            tx.send(message(
                "glow/A/STATE",
                &state(i),
                Some(Ack::from_fn(move || {
                    let written = rec.written().iter().filter(|&&b| b == b'\n').count();
                    assert!(
                        written > i,
                        "message {i} acknowledged before its line was written"
                    );
                    acked.fetch_add(1, Ordering::SeqCst);
                    true
                })),
            ))
            .expect("open");
        }
        drop(tx);
        let out = Watching {
            rec: rec.clone(),
            acked: acked.clone(),
            worst: worst.clone(),
        };
        let stats = run(&rx, &stop, &Flattener::default(), out, options).expect("writes");
        assert_eq!(stats.lines, 100);
        assert!(
            worst.load(Ordering::SeqCst) <= 10,
            "{} held",
            worst.load(Ordering::SeqCst)
        );
        assert!(worst.load(Ordering::SeqCst) >= 9, "the limit was reached");
    }

    /// A `Recorder` that notes, after each write, the most lines ever
    /// written and not yet acknowledged.
    struct Watching {
        rec: Recorder,
        acked: Arc<AtomicUsize>,
        worst: Arc<AtomicUsize>,
    }
    impl Write for Watching {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let n = self.rec.write(b)?;
            let written = self.rec.written().iter().filter(|&&b| b == b'\n').count();
            let held = written - self.acked.load(Ordering::SeqCst).min(written);
            self.worst.fetch_max(held, Ordering::SeqCst);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn at_the_limit_acks_the_connection_cannot_take_do_not_stop_the_writer() {
        // The connection thread drains the ack queue only while it polls,
        // and it waits for the writer to take the next message: a writer
        // that waited for refused acks at the limit froze both for good.
        let (tx, rx) = crossbeam_channel::bounded(4096);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        for i in 0..100 {
            let (open, acked) = (open.clone(), acked.clone());
            tx.send(message(
                "glow/A/STATE",
                &state(i),
                Some(Ack::from_fn(move || {
                    if !open.load(Ordering::SeqCst) {
                        return false;
                    }
                    acked.fetch_add(1, Ordering::SeqCst);
                    true
                })),
            ))
            .expect("open");
        }
        let options = Options {
            max_held: Some(10),
            ..Options::default()
        };
        let watch = rx.clone();
        let writer =
            std::thread::spawn(move || run(&rx, &stop, &Flattener::default(), Vec::new(), options));
        wait_for(
            "the writer took every message",
            Duration::from_secs(10),
            || watch.is_empty(),
        );
        open.store(true, Ordering::SeqCst);
        drop(tx);
        let stats = writer.join().expect("no panic").expect("writes");
        assert_eq!(stats.lines, 100);
        assert_eq!(acked.load(Ordering::SeqCst), 100);
    }
}
