//! Pipe mode (`cadline --stdin`) on the real binary: captures in, line
//! protocol out, bad input reported on stderr while the stream goes on.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::rig::{
    first_line_then_close, join_within, line_reader, run_with_timeout, signal, Watched,
    TOOL_TIMEOUT,
};

const BIN: &str = env!("CARGO_BIN_EXE_cadline");

/// How long a whole capture may take through `pipe` (the largest, 20 MB of
/// bad input, takes seconds in a debug build).
const WHOLE_INPUT: Duration = Duration::from_secs(120);

fn example_capture() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("telegraf/example-capture.txt"))
        .expect("telegraf/example-capture.txt")
}

/// `cadline --stdin <args>` with piped stdin and stdout, to be spawned.
fn command(args: &[&str], envs: &[(&str, &str)], stderr: Stdio) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--stdin")
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr);
    cmd
}

/// Starts `cadline --stdin <args>`, its stdout read to the end for
/// `Watched::finish`.
fn spawn(args: &[&str], envs: &[(&str, &str)], stderr: Stdio) -> Watched {
    Watched::spawn(&mut command(args, envs, stderr), "cadline --stdin")
}

/// Starts `cadline --stdin <args>` with its stdout left for the test.
fn spawn_keeping_stdout(args: &[&str], envs: &[(&str, &str)], stderr: Stdio) -> Watched {
    Watched::spawn_keeping_stdout(&mut command(args, envs, stderr), "cadline --stdin")
}

/// Runs `cadline --stdin <args>` on `input` to completion.
fn pipe(args: &[&str], envs: &[(&str, &str)], input: &[u8]) -> Output {
    pipe_within(args, envs, input, WHOLE_INPUT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

/// Every stdout line parses as line protocol; every stderr line is a short
/// Telegraf-prefixed message and nothing panicked.
fn assert_clean(output: &Output) {
    let stdout = text(&output.stdout);
    for line in stdout.lines() {
        let parsed = influxdb_line_protocol::parse_lines(line).next();
        assert!(
            matches!(parsed, Some(Ok(_))),
            "bad line {line:?}: {parsed:?}"
        );
    }
    assert!(stdout.is_empty() || stdout.ends_with('\n'));
    assert!(!stdout.contains('\r'));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stderr.lines() {
        assert!(
            ["E! ", "W! ", "I! ", "D! "]
                .iter()
                .any(|p| line.starts_with(p)),
            "stderr line without a level prefix: {line:?}"
        );
        assert!(line.len() < 2048, "stderr line of {} bytes", line.len());
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_example_capture_becomes_line_protocol() {
    let output = pipe(&[], &[], &example_capture());
    assert!(output.status.success(), "{output:?}");
    assert_clean(&output);
    let stdout = text(&output.stdout);
    // 9 messages: the null gas message writes nothing; the rest one line each.
    assert_eq!(stdout.lines().count(), 8, "{stdout}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("electricitymeter,device=0A1B2C3D4E5F "))
            .count(),
        4
    );
    assert!(stdout.contains("cumulativevol=1834.567"));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("-8388.608 is the meter's error value"),
        "{stderr}"
    );
    assert!(
        stderr.contains("placeholder timestamp and no readings"),
        "{stderr}"
    );
}

#[test]
fn crlf_captures_give_the_same_lines() {
    let lf = example_capture();
    let crlf: Vec<u8> = text(&lf).replace('\n', "\r\n").into_bytes();
    let a = pipe(&[], &[], &lf);
    let b = pipe(&[], &[], &crlf);
    assert_clean(&b);
    assert_eq!(text(&a.stdout), text(&b.stdout));
}

#[test]
fn bad_input_is_reported_and_the_stream_goes_on() {
    let good = "glow/AA/SENSOR/electricitymeter {\"electricitymeter\":{\"timestamp\":\"2026-03-01T11:59:50Z\",\"energy\":{\"import\":{\"cumulative\":12.5,\"units\":\"kWh\"}}}}\n";
    let mut input = Vec::new();
    input.extend_from_slice(good.as_bytes());
    input.extend_from_slice(b"glow/AA/SENSOR/electricitymeter {\"electricitymeter\":{\"timest\n");
    input.extend_from_slice(b"glow/AA/STATE {\"software\":\"\xff\xfe\"}\n");
    input.extend_from_slice(b"\xc3\x28/AA/STATE {}\n");
    input.extend_from_slice(b"glow/AA/SENSOR/watermeter {}\n");
    input.extend_from_slice(b"glow/AA/STATE {\"han\":{\"rssi\":\"strong\"},\"software\":\"v1\"}\n");
    input.extend_from_slice(b"glow/AA/SENSOR/gasmeter {\"gasmeter\":{\"energy\":{\"import\":{\"cumulative\":1e400}}}}\n");
    // 10 MB payload on one line.
    input.extend_from_slice(b"glow/AA/STATE {\"software\":\"");
    input.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    input.extend_from_slice(b"\"}\n");
    // JSON nested 100 000 deep.
    input.extend_from_slice(b"glow/AA/STATE ");
    input.extend(std::iter::repeat_n(b'[', 100_000));
    input.extend(std::iter::repeat_n(b']', 100_000));
    input.push(b'\n');
    input.extend_from_slice(b"glow/AA/STATE {\"a\":");
    input.extend(std::iter::repeat_n(b"{\"a\":", 100_000).flatten());
    input.push(b'1');
    input.extend(std::iter::repeat_n(b'}', 100_001));
    input.push(b'\n');
    input.extend_from_slice(good.replace("12.5", "13.5").as_bytes());

    let output = pipe(&[], &[], &input);
    assert!(output.status.success(), "{output:?}");
    assert_clean(&output);
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].contains("cumulative=12.5"));
    assert!(
        lines[1].starts_with("cadstate,device=AA software=\"v1\""),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("cumulative=13.5"));
    let stderr = text(&output.stderr);
    for expected in [
        "invalid JSON",
        "not UTF-8",
        "Unknown topic",
        "field han.rssi: expected a number, found a string",
        "longer than",
        "not a JSON object",
        "no readings",
    ] {
        assert!(
            stderr.contains(expected),
            "stderr lacks {expected:?}:\n{stderr}"
        );
    }
}

#[test]
fn repeated_warnings_are_said_once_then_counted() {
    let null_gas = "glow/AA/SENSOR/gasmeter {\"gasmeter\":{\"timestamp\":\"1970-01-01T00:00:00Z\",\"energy\":{\"import\":{\"cumulative\":null,\"units\":\"\"}}}}\n";
    let output = pipe(&[], &[], null_gas.repeat(1000).as_bytes());
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(
        lines[1].ends_with("(seen 10 times)") && lines[3].ends_with("(seen 1000 times)"),
        "{stderr}"
    );
}

#[test]
fn each_line_is_flushed_as_it_comes() {
    let mut child = spawn_keeping_stdout(&[], &[], Stdio::null());
    let mut stdin = child.take_stdin();
    let rx = line_reader(child.take_stdout());
    let capture = text(&example_capture());
    let mut first_lines = capture.lines();
    for _ in 0..2 {
        writeln!(stdin, "{}", first_lines.next().expect("line")).expect("write");
        stdin.flush().expect("flush");
        // stdin stays open: the line must arrive anyway.
        let line = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("a line while stdin is still open");
        assert!(!line.is_empty());
    }
    drop(stdin);
    let output = child.finish(Duration::from_secs(10), "to exit after stdin closed");
    assert!(output.status.success());
}

#[test]
fn sigterm_flushes_and_exits_promptly() {
    let mut child = spawn(&[], &[], Stdio::piped());
    let mut stdin = child.take_stdin();
    stdin.write_all(&example_capture()).expect("write");
    stdin.flush().expect("flush");
    thread::sleep(Duration::from_millis(300));
    assert!(signal(child.id(), "TERM"));
    let start = Instant::now();
    // Stdin stays open: only the signal can end it. 5 s, not the 1 s
    // asserted below, so that a slow exit says how slow.
    let output = child.finish(
        Duration::from_secs(5),
        "to flush and exit after SIGTERM (stdin still open)",
    );
    let (exit, out) = (output.status, text(&output.stdout));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    assert!(exit.success(), "{exit:?}");
    assert_eq!(out.lines().count(), 8);
    drop(stdin);
}

#[test]
fn sighup_and_sigusr_do_not_kill_it() {
    let mut child = spawn(&[], &[], Stdio::null());
    thread::sleep(Duration::from_millis(200));
    for sig in ["HUP", "USR1", "USR2"] {
        signal(child.id(), sig);
    }
    thread::sleep(Duration::from_millis(200));
    assert!(
        child.exited().is_none(),
        "died on a signal it should ignore"
    );
    child.feed(example_capture());
    let output = child.finish(Duration::from_secs(10), "to exit after stdin closed");
    assert!(output.status.success());
    assert_eq!(text(&output.stdout).lines().count(), 8);
}

#[test]
fn a_reader_that_goes_away_ends_it_quietly() {
    let mut child = spawn_keeping_stdout(&[], &[], Stdio::piped());
    let mut stdin = child.take_stdin();
    let stdout = child.take_stdout();
    let capture = text(&example_capture());
    let first = capture.lines().nth(1).expect("electricity line").to_owned();
    writeln!(stdin, "{first}").expect("write");
    // One line read, then the pipe closed: like `| head -1`.
    first_line_then_close(
        stdout,
        Duration::from_secs(5),
        "cadline --stdin: its first line on stdout while stdin is still open",
    );
    let feeder = thread::spawn(move || {
        for _ in 0..10_000 {
            if writeln!(stdin, "{first}").is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let output = child.finish(
        Duration::from_secs(5),
        "to exit quietly once its reader went away",
    );
    join_within(feeder, Duration::from_secs(5), "the stdin feeder to end");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(output.status.success(), "{output:?}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
}

#[test]
fn environment_variables_set_flags() {
    let capture = text(&example_capture()).replace("glow/", "energy/");
    let output = pipe(
        &[],
        &[
            ("CADLINE_PREFIX", "energy"),
            ("CADLINE_TIMESTAMP", "receive"),
        ],
        capture.as_bytes(),
    );
    assert_clean(&output);
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 8);
    // Arrival time, not the meter's 2026-03-01 timestamps.
    assert!(!stdout.contains(" 177236"), "{stdout}");
}

#[test]
fn usage_errors_are_one_line_and_non_zero() {
    for args in [
        &["--qos", "7"][..],
        &["--persistent-session"],
        &["--broker", "mqtt://user:secret@host"],
        &["--no-such-flag"],
    ] {
        let output = run_with_timeout(Command::new(BIN).args(args), None, TOOL_TIMEOUT, "cadline");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("E! "), "{stderr}");
        assert!(!stderr.contains("secret"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn help_explains_with_examples_and_environment() {
    let output = run_with_timeout(
        Command::new(BIN).arg("--help"),
        None,
        TOOL_TIMEOUT,
        "cadline --help",
    );
    assert!(output.status.success());
    let help = text(&output.stdout);
    for needle in [
        "Examples:",
        "cadline --stdin <",
        "mosquitto_sub -v",
        "CADLINE_MQTT_PASSWORD",
        "--password-file",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}");
    }
    // Every flag can be set from the environment.
    let options = help.split("Examples:").next().unwrap_or_default();
    let flags = options
        .lines()
        .filter(|l| l.len() - l.trim_start().len() < 10 && l.trim_start().starts_with('-'))
        .count();
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let envs = flat.matches("[env: CADLINE_").count();
    assert!(flags >= 15, "{help}");
    assert_eq!(
        envs,
        flags - 2,
        "--help and --version aside, every flag has an env var:\n{help}"
    );
}

/// Runs `cadline --stdin` on `input` with the host clock shifted by
/// libfaketime to `faketime` (its `@YYYY-MM-DD hh:mm:ss` form: the clock
/// starts there and runs). Fails, rather than hangs, after 20 s.
fn pipe_at_host_time(faketime: &str, input: &[u8]) -> (String, String) {
    const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} is missing: install it with `apt-get install libfaketime`"
    );
    let mut child = spawn(
        &["--log-level", "info"],
        &[("LD_PRELOAD", LIBFAKETIME), ("FAKETIME", faketime)],
        Stdio::piped(),
    );
    child.feed(input.to_vec());
    let output = child.finish(
        Duration::from_secs(20),
        &format!("under FAKETIME={faketime:?}, to exit after stdin closed"),
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Issue 15 point 7, on the real binary with a really shifted clock: a host
/// clock behind (a Pi before NTP) no longer turns correct meter times into
/// its own wrong ones, and a clock in 1969 never writes a line at 0 or
/// before 2015.
#[test]
fn a_host_clock_that_is_wrong_keeps_the_meter_time() {
    let input = concat!(
        r#"glow/0A1B2C3D4E5F/SENSOR/electricitymeter {"electricitymeter":{"timestamp":"2026-03-01T11:59:50Z","energy":{"import":{"cumulative":8123.449}}}}"#,
        "\n",
        r#"glow/0A1B2C3D4E5F/SENSOR/electricitymeter {"electricitymeter":{"energy":{"import":{"cumulative":8123.5}}}}"#,
        "\n",
    );
    for host in ["@1969-12-31 23:59:59", "@2024-06-01 00:00:00"] {
        let (stdout, stderr) = pipe_at_host_time(host, input.as_bytes());
        assert_eq!(
            stdout,
            "electricitymeter,device=0A1B2C3D4E5F cumulative=8123.449 1772366390000000000\n",
            "host clock {host}; stderr:\n{stderr}"
        );
        assert!(
            stderr.contains("host clock reads before 2026") && stderr.contains("nothing written"),
            "host clock {host}: {stderr}"
        );
    }
    // A sane clock (a minute after the reading): both lines, the second at
    // arrival, which is after the reading.
    let (stdout, stderr) = pipe_at_host_time("@2026-03-01 12:00:50", input.as_bytes());
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}\n{stderr}");
    assert!(lines[0].ends_with(" 1772366390000000000"), "{stdout}");
    let arrival: i64 = lines[1]
        .rsplit(' ')
        .next()
        .and_then(|t| t.parse().ok())
        .expect("timestamp");
    assert!(
        (1_772_366_450_000_000_000..1_772_366_480_000_000_000).contains(&arrival),
        "{stdout}"
    );
}
/// Runs `cadline --stdin <args>` on `input`, failing (and killing it) if it
/// has not exited within `timeout`.
fn pipe_within(args: &[&str], envs: &[(&str, &str)], input: &[u8], timeout: Duration) -> Output {
    let mut child = spawn(args, envs, Stdio::piped());
    child.feed(input.to_vec());
    child.finish(
        timeout,
        &format!("with {args:?}, to finish its input and exit"),
    )
}

/// A STATE payload pretty-printed over `keys + 2` short lines.
fn pretty_state(keys: usize) -> String {
    let mut p = String::from("{\n  \"software\": \"v3.1.4\",\n");
    for i in 0..keys {
        p.push_str(&format!("  \"x{i}\": [{i}],\n"));
    }
    p.push_str("  \"hardware\": \"GLOW-T\"\n}");
    p
}

#[test]
fn a_megabyte_pretty_printed_over_short_lines_is_read_whole() {
    // 80 000 lines of about 14 bytes: 1.1 MB in one message. Before bracket
    // counting kept its state across lines this took minutes.
    let payload = pretty_state(80_000);
    assert!(payload.len() > 1_000_000);
    let input = format!("glow/AB12/STATE {payload}\nglow/AB12/STATE {{\"software\":\"v9\"}}\n");
    let output = pipe_within(
        &["--max-message-size", "2000000"],
        &[],
        input.as_bytes(),
        Duration::from_secs(20),
    );
    assert!(output.status.success(), "{output:?}");
    assert_clean(&output);
    assert_eq!(
        text(&output.stdout)
            .lines()
            .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        [
            "cadstate,device=AB12 software=\"v3.1.4\",hardware=\"GLOW-T\"",
            "cadstate,device=AB12 software=\"v9\""
        ]
    );
}

#[test]
fn an_oversized_pretty_printed_payload_is_one_warning() {
    let mut input = String::from("glow/AB12/STATE {\"software\":\"v1\"}\n");
    input.push_str(&format!("glow/AB12/STATE {}\n", pretty_state(5000)));
    input.push_str("glow/AB12/STATE {\"software\":\"v2\"}\n");
    let output = pipe_within(
        &["--max-message-size", "1000"],
        &[],
        input.as_bytes(),
        Duration::from_secs(20),
    );
    assert!(output.status.success(), "{output:?}");
    assert_clean(&output);
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("software=\"v1\"") && stdout.contains("software=\"v2\""));
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one warning for one skipped message:\n{stderr}"
    );
    assert!(
        lines[0].starts_with("W! stdin line 2: ") && lines[0].contains("longer than"),
        "{stderr}"
    );
}

#[test]
fn timestamped_captures_keep_their_time() {
    // `mosquitto_sub -v -F '%I %t %p'` prints the time of arrival first.
    // With --timestamp receive that time stamps the line: 2026-12-01
    // 08:23:06 UTC is 1796113386 (`date -u -d 2026-12-01T08:23:06Z +%s`).
    let input = "2026-12-01T08:23:06+0000 glow/AB12/STATE {\"software\":\"v1\"}\n\
                 2026-12-01T09:23:16+0100 glow/AB12/STATE {\n  \"software\": \"v2\"\n}\n";
    let output = pipe_within(
        &["--timestamp", "receive"],
        &[],
        input.as_bytes(),
        Duration::from_secs(10),
    );
    assert!(output.status.success(), "{output:?}");
    assert_clean(&output);
    assert_eq!(
        text(&output.stdout),
        "cadstate,device=AB12 software=\"v1\" 1796113386000000000\n\
         cadstate,device=AB12 software=\"v2\" 1796113396000000000\n"
    );
    assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
}

/// Issue 21 point 1: a capture made before 2026 keeps its own times. The
/// recorded time is what the user gave, not this host's clock: it stamps
/// the lines with `--timestamp receive`, and a STATE line without a time
/// of its own is written at it instead of being dropped because "the host
/// clock reads before 2026".
#[test]
fn an_old_capture_keeps_its_times() {
    // 2025-06-11T20:38:00Z is 1749674280 (`date -u -d 2025-06-11T20:38:00Z +%s`).
    let input = concat!(
        r#"2025-06-11T20:38:00+0000 glow/0A1B2C3D4E5F/SENSOR/electricitymeter {"electricitymeter":{"timestamp":"2025-06-11T20:37:55Z","energy":{"import":{"cumulative":8123.449}}}}"#,
        "\n",
        r#"2025-06-11T21:38:10+0100 glow/0A1B2C3D4E5F/STATE {"software":"v1.8.12","han":{"rssi":-74}}"#,
        "\n",
    );
    for (args, electricity) in [
        (&["--timestamp", "receive"][..], 1_749_674_280),
        (&[][..], 1_749_674_275),
    ] {
        let output = pipe_within(args, &[], input.as_bytes(), Duration::from_secs(10));
        assert!(output.status.success(), "{output:?}");
        assert_clean(&output);
        assert_eq!(
            text(&output.stdout),
            format!(
                "electricitymeter,device=0A1B2C3D4E5F cumulative=8123.449 {electricity}000000000\n\
                 cadstate,device=0A1B2C3D4E5F han.rssi=-74i,software=\"v1.8.12\" 1749674290000000000\n"
            ),
            "{args:?}; stderr:\n{}",
            text(&output.stderr)
        );
        assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
    }
}

/// Issue 21 point 2, on the real binary: a value serde_json cannot
/// represent cost the whole reading ("invalid JSON ... skipped"). Now it
/// costs its own field and one warning; the rest is written.
#[test]
fn a_value_that_cannot_be_represented_costs_only_its_field() {
    let input = concat!(
        r#"glow/0A1B2C3D4E5F/SENSOR/electricitymeter {"electricitymeter":{"timestamp":"2026-03-01T11:59:50Z","energy":{"import":{"cumulative":8123.449,"day":1e400,"units":"kWh","supplier":"ACME\ud800"}},"power":{"value":0.412,"units":"kW"}}}"#,
        "\n",
        r#"glow/0A1B2C3D4E5F/STATE {"software":"v2.0.2","hardware":"GLOW-\x","timestamp":"2026-03-01T11:59:00Z"}"#,
        "\n",
    );
    let mut input = input.as_bytes().to_vec();
    // A gas message with bytes that are not UTF-8 in one string.
    input.extend_from_slice(
        b"glow/0A1B2C3D4E5F/SENSOR/gasmeter {\"gasmeter\":{\"timestamp\":\"2026-03-01T11:30:00Z\",\"energy\":{\"import\":{\"cumulative\":20456.789,\"mprn\":\"\xff\xfe\",\"units\":\"kWh\"}}}}\n",
    );
    let output = pipe_within(&[], &[], &input, Duration::from_secs(10));
    assert!(output.status.success(), "{output:?}");
    assert_clean(&output);
    assert_eq!(
        text(&output.stdout),
        "electricitymeter,device=0A1B2C3D4E5F cumulative=8123.449,power=0.412 1772366390000000000\n\
         cadstate,device=0A1B2C3D4E5F software=\"v2.0.2\" 1772366340000000000\n\
         gasmeter,device=0A1B2C3D4E5F cumulative=20456.789 1772364600000000000\n",
        "stderr:\n{}",
        text(&output.stderr)
    );
    let stderr = text(&output.stderr);
    for want in [
        "field energy.import.day: 1e400 is beyond what a number can hold (a 64-bit float); left out",
        r"field energy.import.supplier: a string with a lone surrogate (\ud800), which no text can hold; left out",
        r"field hardware: a string with an invalid escape (\x); left out",
        "field energy.import.mprn: a string that is not UTF-8; left out",
    ] {
        assert!(stderr.contains(want), "no {want:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("invalid JSON"), "{stderr}");
    assert_eq!(stderr.lines().count(), 4, "{stderr}");
}

/// Issue 21 point 3, on the real binary: Zigbee's invalid register values
/// (all ones for the register's width) were written as readings, a false
/// step of 281 million kWh. Now each is left out with a warning, in the
/// hex feed and in the JSON feed; the other registers are written.
#[test]
fn all_ones_registers_are_not_readings() {
    let input = concat!(
        r#"SMART/HILD/0A1B2C3D4E5F {"elecMtr":{"0702":{"03":{"00":"00","01":"000001","02":"0003E8"},"00":{"00":"FFFFFFFFFFFF"},"04":{"00":"00000123","01":"FFFFFF","30":"002EE0","40":"FFFFFFFF"}}},"gmtime":1772366000}"#,
        "\n",
        r#"glow/0A1B2C3D4E5F/SENSOR/electricitymeter {"electricitymeter":{"timestamp":"2026-03-01T11:59:50Z","energy":{"import":{"cumulative":281474976710.655,"day":16777.215,"week":12.0,"month":4294967.295,"units":"kWh"}},"power":{"value":-8388.608,"units":"kW"}}}"#,
        "\n",
    );
    let output = pipe_within(&[], &[], input.as_bytes(), Duration::from_secs(10));
    assert!(output.status.success(), "{output:?}");
    assert_clean(&output);
    assert_eq!(
        text(&output.stdout),
        "electricitymeter,device=0A1B2C3D4E5F week=12,power=0.291 1772366000000000000\n\
         electricitymeter,device=0A1B2C3D4E5F week=12 1772366390000000000\n",
        "stderr:\n{}",
        text(&output.stderr)
    );
    let stderr = text(&output.stderr);
    for want in [
        r#"elecMtr.0702.00.00: "FFFFFFFFFFFF" is the meter's error value (all ones for a 48-bit register: Zigbee's "invalid"), not a reading; left out"#,
        r#"elecMtr.0702.04.01: "FFFFFF" is the meter's error value (all ones for a 24-bit register"#,
        r#"elecMtr.0702.04.40: "FFFFFFFF" is the meter's error value (all ones for a 32-bit register"#,
        "field energy.import.cumulative: 281474976710.655 is the meter's error value (all ones for a 48-bit register",
        "field energy.import.day: 16777.215 is the meter's error value (all ones for a 24-bit register",
        "field energy.import.month: 4294967.295 is the meter's error value (all ones for a 32-bit register",
        "field power.value: -8388.608 is the meter's error value",
    ] {
        assert!(stderr.contains(want), "no {want:?} in:\n{stderr}");
    }
}

#[test]
fn a_capture_without_topics_is_one_warning_naming_dash_v() {
    // `mosquitto_sub -t 'glow/#'` without -v: payloads only, compact and
    // pretty-printed.
    let mut input = String::new();
    for _ in 0..3 {
        input.push_str("{\"software\":\"v1\"}\n");
        input.push_str("{\n  \"electricitymeter\": {\n    \"power\": {\"value\": 0.5}\n  }\n}\n");
    }
    let output = pipe_within(&[], &[], input.as_bytes(), Duration::from_secs(10));
    assert!(output.status.success(), "{output:?}");
    assert_clean(&output);
    assert!(output.stdout.is_empty());
    // Issue 21 point 10: the line read `W! stdin line 1 on: ...`.
    assert_eq!(
        text(&output.stderr),
        "W! stdin has payloads without a topic from line 1, as `mosquitto_sub` prints them \
         without -v; they are skipped: capture with `mosquitto_sub -v` (or -F '%I %t %p')\n"
    );
}

/// Runs cadline with `args` and `envs` and stdin closed; (exit code,
/// stderr). Fails if it has not exited within 10 s.
fn start_error(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Watched::spawn(
        Command::new(BIN)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "cadline",
    )
    .finish(
        Duration::from_secs(10),
        &format!("with {args:?} and stdin closed, to exit"),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(stdout.is_empty(), "{stdout}");
    (output.status.code(), stderr)
}

#[test]
fn usage_errors_keep_the_part_that_names_the_fix() {
    for (args, needles) in [
        (
            &["--broker", "mqtts://b.lan", "--cert-file", "c.pem"][..],
            &["--key-file"][..],
        ),
        (
            &["--password", "hunter2"],
            &["--password-file", "CADLINE_MQTT_PASSWORD"],
        ),
        (
            &["--password=hunter2"],
            &["--password-file", "CADLINE_MQTT_PASSWORD"],
        ),
        (&["--log-level", "warning"], &["error, warn, info, debug"]),
        (&["--mqtt-version", "3"], &["3.1.1, 5"]),
        (&["--timestamp", "arrival"], &["meter, receive"]),
        (&["--pasword-file", "pw"], &["'--password-file'"]),
    ] {
        let (code, stderr) = start_error(args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("E! "), "{stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "the password was logged: {stderr}"
        );
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{args:?}: no {needle:?} in {stderr}"
            );
        }
    }
}

/// A capture with a real MPAN, so that `--meter-tags` shows in the output.
const WITH_MPAN: &str = "glow/AB12/SENSOR/electricitymeter {\"electricitymeter\":{\"timestamp\":\"2026-03-01T11:59:50Z\",\"energy\":{\"import\":{\"cumulative\":12.5,\"units\":\"kWh\",\"mpan\":\"1200012345678\"}}}}\n";

#[test]
fn boolean_environment_variables_take_the_usual_spellings() {
    for value in ["1", "yes", "ON", "True", "y"] {
        let output = pipe_within(
            &[],
            &[("CADLINE_METER_TAGS", value)],
            WITH_MPAN.as_bytes(),
            Duration::from_secs(10),
        );
        assert!(output.status.success(), "{value}: {output:?}");
        assert!(
            text(&output.stdout).contains("mpan=1200012345678"),
            "CADLINE_METER_TAGS={value}: {}",
            text(&output.stdout)
        );
    }
    for value in ["0", "no", "OFF", "False", ""] {
        let output = pipe_within(
            &[],
            &[("CADLINE_METER_TAGS", value)],
            WITH_MPAN.as_bytes(),
            Duration::from_secs(10),
        );
        assert!(output.status.success(), "{value:?}: {output:?}");
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains("cumulative=12.5") && !stdout.contains("mpan"),
            "{value:?}: {stdout}"
        );
    }
    let (code, stderr) = start_error(&["--stdin"], &[("CADLINE_METER_TAGS", "maybe")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("CADLINE_METER_TAGS")
            && stderr.contains("1/0, yes/no, on/off or true/false"),
        "{stderr}"
    );
}

#[test]
fn empty_environment_variables_mean_unset() {
    // Every flag's variable set to "" (a unit file's `Environment=CADLINE_PREFIX=`):
    // all defaults, as if none were set.
    let help = text(
        &run_with_timeout(
            Command::new(BIN).arg("--help"),
            None,
            TOOL_TIMEOUT,
            "cadline --help",
        )
        .stdout,
    );
    let flat = help.split_whitespace().collect::<String>();
    let vars: Vec<String> = flat
        .split("[env:")
        .skip(1)
        .filter_map(|s| s.split(['=', ']']).next().map(str::to_owned))
        .filter(|v| v != "CADLINE_STDIN")
        .collect();
    assert!(vars.len() >= 15, "{vars:?}");
    let envs: Vec<(&str, &str)> = vars.iter().map(|v| (v.as_str(), "")).collect();
    let output = pipe_within(&[], &envs, &example_capture(), Duration::from_secs(10));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).lines().count(), 8);
}

#[test]
fn broker_flags_with_stdin_are_refused() {
    let (code, stderr) = start_error(&["--stdin", "--ca-file", "/nope"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--stdin") && stderr.contains("--ca-file"),
        "{stderr}"
    );
    let (code, stderr) = start_error(&["--stdin", "--username", "u", "--qos", "0"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--username, --qos"), "{stderr}");
}

#[test]
fn broker_urls_say_how_to_write_them() {
    let (code, stderr) = start_error(&["--broker", "mqtt://::1"], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("mqtt://[::1]:1883"), "{stderr}");
    let (code, stderr) = start_error(&["--broker", "http://b.lan"], &[]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("mqtt://") && stderr.contains("ssl://"),
        "{stderr}"
    );
}

#[test]
fn a_topic_outside_the_prefix_is_refused_naming_the_prefix() {
    let (code, stderr) = start_error(&["--topic", "energy/+/STATE"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--prefix energy"), "{stderr}");
    // Under the prefix it is fine (stdin closed: it exits 0 at once).
    let (code, stderr) = start_error(
        &[
            "--prefix",
            "energy",
            "--topic",
            "energy/+/STATE",
            "--broker",
            "mqtt://127.0.0.1:9",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
}
