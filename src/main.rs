//! cadline's entry point: parse flags, wire a source to the writer through
//! one bounded channel, and turn the outcome into an exit code. Everything
//! else lives in the library.

#![forbid(unsafe_code)]

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use cadline::config::cli::Config;
use cadline::config::delivery;
use cadline::edges::messages::{self, LogLevel};
use cadline::edges::shutdown::{self, Shutdown};
use cadline::edges::{fd_limit, mqtt_source, stdin_source, writer};
use cadline::error;
use cadline::flatten::{FlattenOptions, Flattener, Level};

/// Stdout as a plain file. Rust's `Stdout` reports success for writes to a
/// closed descriptor (EBADF), which would acknowledge readings that went
/// nowhere; a `File` on a duplicate of fd 1 reports every error.
struct StdoutFile {
    file: std::fs::File,
    /// A pipe or socket (Telegraf, `| head`), where only writes of at most
    /// PIPE_BUF bytes are atomic.
    is_pipe_or_socket: bool,
    /// fd 1 looks like a closed stdout (see `was_closed`). Refused in MQTT
    /// mode, where a reading written nowhere would be acknowledged and lost;
    /// pipe mode acknowledges nothing.
    closed_at_start: bool,
}

/// Whether fd 1 is the /dev/null that Rust's runtime opens read-write in
/// place of a closed standard descriptor before `main` runs. A shell's
/// `> /dev/null` opens it write-only, and stays allowed. (Some supervisors
/// also open /dev/null read-write; in MQTT mode they are refused with the
/// same message, which names the write-only redirect.)
fn was_closed(stdout: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let is_dev_null = stdout.file_type().is_char_device()
        && std::fs::metadata("/dev/null").is_ok_and(|null| null.rdev() == stdout.rdev());
    let read_write = std::fs::read_to_string("/proc/self/fdinfo/1").is_ok_and(|info| {
        info.lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .is_some_and(|flags| flags & 0o3 == 0o2)
    });
    is_dev_null && read_write
}

impl StdoutFile {
    fn open() -> io::Result<StdoutFile> {
        use std::os::fd::AsFd;
        use std::os::unix::fs::FileTypeExt;
        let file = std::fs::File::from(io::stdout().as_fd().try_clone_to_owned()?);
        let metadata = file.metadata()?;
        let kind = metadata.file_type();
        Ok(StdoutFile {
            is_pipe_or_socket: kind.is_fifo() || kind.is_socket(),
            closed_at_start: was_closed(&metadata),
            file,
        })
    }
}

/// Messages queued between a source and the writer: enough to ride out a
/// burst, small enough that a stalled stdout pushes back on the broker.
const CHANNEL_CAPACITY: usize = 1024;

/// Bytes read from stdin at a time in pipe mode.
const STDIN_BUFFER: usize = 64 * 1024;

/// How long the writer may take to drain and flush once asked to stop;
/// Telegraf sends SIGKILL 5 s after SIGTERM.
const DRAIN_DEADLINE: Duration = Duration::from_secs(1);

/// How long the MQTT connection may take to send the last acknowledgements
/// and DISCONNECT after the writer is done.
const CLOSE_DEADLINE: Duration = Duration::from_millis(1500);

fn main() -> ExitCode {
    // First: a panic anywhere from here on is one `E!` line and exit 101.
    cadline::edges::panic_exit::install();
    cadline::edges::panic_exit::test_trigger("main");
    let code = start_and_run();
    // Every exit, a start-up error's included: its one `E!` line must reach
    // Telegraf's log before Telegraf closes the pipe.
    cadline::edges::stdio_end::end_stdout_and_stderr();
    code
}

fn start_and_run() -> ExitCode {
    // Before anything else can open a file descriptor: with fd 1 closed the
    // next one opened (a socket, a pipe) would take its number.
    let stdout = match StdoutFile::open() {
        Ok(s) => s,
        Err(e) => {
            messages::emit(
                LogLevel::Error,
                &format!("Stdout is not usable: {e}; nothing could be written, exiting"),
            );
            return ExitCode::FAILURE;
        }
    };
    if let Some(what) = cadline::config::manual::requested(std::env::args_os()) {
        return generate(what, &stdout.file);
    }
    let cli = match cadline::config::cli::parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            messages::emit(LogLevel::Error, &cadline::config::cli::usage_error(&e));
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    messages::set_level(cli.log_level);
    let mut cli = cli;
    let subcommand = cli.command.take();
    let config = match Config::from_cli(cli).and_then(cadline::config::client_id::on_this_host) {
        Ok(c) => c,
        Err(e) => {
            error!("{e}; see cadline --help");
            return ExitCode::from(2);
        }
    };
    // Before any thread or library opens a descriptor. (The steps above
    // need one, our copy of stdout: below 4 the dynamic loader already
    // fails before `main`.)
    let needed = match config.stdin {
        true => fd_limit::PIPE_MODE,
        false => fd_limit::MQTT_MODE,
    };
    match fd_limit::ensure(needed) {
        Ok(Some(raised)) => cadline::debug!("{raised}"),
        Ok(None) => {}
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(cadline::config::cli::Subcommand::Check { listen }) = subcommand {
        return check(&config, Duration::from_secs(listen), &stdout.file);
    }
    // A `telegraf --once` on a running Telegraf's disk buffer is stopped.
    if cadline::edges::shared_buffer::guard() {
        return ExitCode::FAILURE;
    }
    cadline::config::duplicate_cadline::say_at_start();
    // Under `telegraf --test` or `--once`: never the service's session.
    let config = cadline::config::trial_run::for_parent(config);
    match run(&config, stdout) {
        Ok(code) => code,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `cadline check`: the report on stdout, and why readings would not flow
/// as one `E!` line.
fn check(config: &Config, listen: Duration, mut stdout: &std::fs::File) -> ExitCode {
    use std::io::Write;
    if config.stdin {
        error!("cadline check reads a broker, not --stdin; see cadline --help");
        return ExitCode::from(2);
    }
    let password = std::env::var("CADLINE_MQTT_PASSWORD").ok();
    let (report, verdict) = cadline::edges::check::run(config, listen, password);
    let _ = stdout.write_all(report.as_bytes());
    match verdict {
        Ok(()) => {
            let _ = stdout.write_all(b"Readings would flow.\n");
            ExitCode::SUCCESS
        }
        Err(why) => {
            error!("cadline check: {why}");
            ExitCode::FAILURE
        }
    }
}

/// When to acknowledge and how fast to write, for the Telegraf running
/// cadline (flags win); said once at start.
fn delivery_for(config: &Config) -> delivery::Delivery {
    let learned = delivery::Learned::from_parent();
    let explicit = delivery::Explicit {
        ack_delay: config.ack_delay,
        pace: config.pace,
    };
    let (chosen, said) = delivery::choose(
        &learned,
        explicit,
        config.qos == 1 && config.persistent_session,
    );
    for line in said {
        match (line, &learned) {
            // Outside Telegraf only on request: nothing there to time to.
            (delivery::Say::Info(s), delivery::Learned::NotTelegraf) => {
                messages::emit(LogLevel::Info, &s)
            }
            (delivery::Say::Info(s), _) => messages::always(LogLevel::Info, &s),
            (delivery::Say::Warn(s), _) => messages::always(LogLevel::Warn, &s),
        }
    }
    chosen
}

/// `--generate`: the man page or a completion script on stdout.
fn generate(
    what: Result<cadline::config::manual::Generate, String>,
    mut stdout: &std::fs::File,
) -> ExitCode {
    use std::io::Write;
    let what = match what {
        Ok(w) => w,
        Err(e) => {
            error!("{e}");
            return ExitCode::from(2);
        }
    };
    match cadline::config::manual::render(what).and_then(|bytes| stdout.write_all(&bytes)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("--generate {what:?}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &Config, stdout: StdoutFile) -> Result<ExitCode, String> {
    if stdout.closed_at_start && !config.stdin {
        return Err(
            "Stdout is not usable: it was closed when cadline started (`>&-`), or is \
                    /dev/null opened read-write, which is what a closed stdout becomes; every \
                    reading would be acknowledged and lost. Give cadline a real stdout (to \
                    discard on purpose, redirect write-only: `> /dev/null`)"
                .to_owned(),
        );
    }
    let flattener = Flattener::new(FlattenOptions {
        prefix: config.prefix.clone(),
        timestamp: config.timestamp,
        meter_tags: config.meter_tags,
        note_level: match config.log_level {
            LogLevel::Error | LogLevel::Warn => Level::Warn,
            LogLevel::Info => Level::Info,
            LogLevel::Debug => Level::Debug,
        },
    });
    let shutdown = Shutdown::new();
    shutdown::watch_signals(shutdown.clone())
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let mut mqtt = None;
    let whole_line_writes = stdout.is_pipe_or_socket;
    // One thread does the work (pipe mode: read, flatten, write; MQTT mode:
    // the writer), so that a stop request can put a deadline on it even if
    // stdout is blocked.
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let stop = shutdown.receiver();
    // Pipe mode: set while everything read is written and the next read may
    // wait on stdin, so a stop has nothing to drain and need not wait.
    let waiting = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if config.stdin {
        if io::stdin().is_terminal() {
            messages::emit(
                LogLevel::Info,
                "Reading `mosquitto_sub -v` lines from the terminal; Ctrl-D ends",
            );
        }
        let max = config.max_message_size;
        let waiting = waiting.clone();
        thread::Builder::new()
            .name("pipe".into())
            .spawn(move || {
                cadline::edges::panic_exit::test_trigger("pipe");
                // 64 KiB reads: stdin's own buffer is 8 KiB, a read syscall
                // for every 25 messages of a capture.
                let input = io::BufReader::with_capacity(STDIN_BUFFER, io::stdin().lock());
                let result = stdin_source::run(
                    input,
                    max,
                    &flattener,
                    stdout.file,
                    whole_line_writes,
                    &stop,
                    &waiting,
                );
                let _ = done_tx.send(result);
            })
            .map_err(|e| e.to_string())?;
    } else {
        let (tx, rx) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        let password = std::env::var("CADLINE_MQTT_PASSWORD").ok();
        let mut prepared = mqtt_source::prepare(config, password)?;
        // After the checks: only a configuration that would run is worth
        // this warning. Stdin at its end from the start (/dev/null, a file)
        // is a stop already given: connecting would only take the session
        // over and drop it again.
        if let Some(warning) = cadline::edges::control_stdin::warning() {
            cadline::warn!("{warning}");
            return Ok(ExitCode::SUCCESS);
        }
        shutdown::watch_stdin(shutdown.clone()).map_err(|e| e.to_string())?;
        // Before connecting: the MQTT 5 window is sized for the
        // acknowledgements the writer will hold.
        let delivery = delivery_for(config);
        prepared.set_receive_maximum(delivery.receive_maximum());
        mqtt = Some(mqtt_source::spawn(prepared, tx, shutdown.clone()).map_err(|e| e.to_string())?);
        let options = writer::Options {
            ack_delay: delivery.ack_delay,
            whole_line_writes,
            ack_after_lines: delivery.ack_after_lines,
            pace: delivery.pace.map(|rate| (rate, delivery.pace_burst)),
        };
        thread::Builder::new()
            .name("writer".into())
            .spawn(move || {
                cadline::edges::panic_exit::test_trigger("writer");
                let result = writer::run(&rx, &stop, &flattener, stdout.file, options);
                let _ = done_tx.send(result);
            })
            .map_err(|e| e.to_string())?;
    }

    let stop = shutdown.receiver();
    let result = crossbeam_channel::select! {
        recv(done_rx) -> r => r.ok(),
        recv(stop) -> _ => {
            // A pipe-mode worker blocked on stdin gets a moment to notice.
            let deadline = if waiting.load(std::sync::atomic::Ordering::SeqCst) {
                Duration::from_millis(20)
            } else {
                DRAIN_DEADLINE
            };
            match done_rx.recv_timeout(deadline) {
                Ok(r) => Some(r),
                Err(_) if waiting.load(std::sync::atomic::Ordering::SeqCst) => {
                    Some(Ok(writer::Stats::default()))
                }
                Err(_) => None,
            }
        }
    };
    if let Some(mqtt) = mqtt {
        mqtt.close(CLOSE_DEADLINE);
    }
    match result {
        Some(Ok(stats)) => {
            cadline::debug!(
                "Wrote {} lines from {} messages",
                stats.lines,
                stats.messages
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe && config.stdin => {
            Ok(ExitCode::SUCCESS)
        }
        Some(Err(e)) => Err(format!("Writing to stdout failed ({e}); exiting")),
        None => {
            cadline::warn!("Stdout did not drain within {DRAIN_DEADLINE:?}; exiting anyway");
            Ok(ExitCode::SUCCESS)
        }
    }
}
