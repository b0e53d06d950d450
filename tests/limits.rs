//! Resource limits and panics: no limit ends in a panic, and a panic on any
//! thread is one `E!` line and exit 101, under the real Telegraf too.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::rig::{electricity, seq_of, Mosquitto, Telegraf, Watched};
use crate::telegraf::{test_agent, with_environment};

const E: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";

/// cadline started by `sh` after `limit` (e.g. `ulimit -n 7`, which sets
/// the soft and the hard limit), its stdin kept open (Telegraf's control
/// channel), its stdout piped for `take_stdout` and its stderr read.
fn under_limit(limit: &str, args: &[&str]) -> Watched {
    Watched::spawn_keeping_stdout(
        Command::new("sh")
            .arg("-c")
            .arg(format!("{limit}; exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_cadline"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        &format!("cadline after `{limit}`"),
    )
}

#[test]
fn a_low_open_file_limit_is_one_error_line_not_a_panic() {
    let broker = Mosquitto::start();
    let url = broker.url();
    // 6 to 8 panicked in rumqttc (client.rs:265) with a backtrace and
    // SIGABRT; 9 failed every connection "Too many open files" for ever.
    for n in [6, 7, 8, 9, 20] {
        let mut c = under_limit(&format!("ulimit -n {n}"), &["--broker", &url]);
        let status = c.exit_within(Duration::from_secs(10));
        let stderr = c.stderr_so_far();
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(1),
            "ulimit -n {n}: {status:?}\n{stderr}"
        );
        let output = c.finish(Duration::from_secs(5), "its pipes to close");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "ulimit -n {n}: {stderr}");
        for part in [
            "E! The open-file limit is ",
            &format!("is {n} (hard limit {n})"),
            "ulimit -n",
            "LimitNOFILE",
        ] {
            assert!(lines[0].contains(part), "{part:?}: {stderr}");
        }
    }
    // Pipe mode needs fewer, and is refused the same way below that.
    let mut c = under_limit("ulimit -n 8", &["--stdin"]);
    let output = c.finish(Duration::from_secs(10), "to refuse the limit");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("E! The open-file limit is 8"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_low_soft_limit_under_a_higher_hard_limit_is_raised_and_cadline_works() {
    let broker = Mosquitto::start();
    let url = broker.url();
    let mut c = under_limit(
        "ulimit -Sn 7; ulimit -Hn 4096",
        &["--broker", &url, "--log-level", "debug"],
    );
    let lines = crate::rig::line_reader(c.take_stdout());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !c.stderr_so_far().contains("Connected to") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = c.stderr_so_far();
    assert!(
        stderr.contains("D! Raised the open-file limit from 7 to 32 (the hard limit is 4096)"),
        "{stderr}"
    );
    assert!(stderr.contains("Connected to"), "{stderr}");
    std::thread::sleep(Duration::from_millis(300));
    broker.publish(E, &electricity(61), 1);
    let line = lines.recv_timeout(Duration::from_secs(5)).ok();
    assert_eq!(line.as_deref().and_then(seq_of), Some(61), "{stderr}");
}

/// `CADLINE_TEST_PANIC=<thread>` makes that thread panic as it starts its
/// work: the tests' only way to reach a panic on the real binary now that
/// the open-file limit no longer does. Not a flag and not in `--help`.
const PANIC: &str = "CADLINE_TEST_PANIC";

#[test]
fn a_panic_on_any_thread_is_one_error_line_and_exit_101() {
    let broker = Mosquitto::start();
    let url = broker.url();
    for thread in ["main", "mqtt connection", "writer", "pipe"] {
        let mut args = vec!["--broker", url.as_str()];
        if thread == "pipe" {
            args = vec!["--stdin"];
        }
        let mut c = crate::rig::Cadline::spawn(&args, &[(PANIC, thread)]);
        if thread == "pipe" {
            c.write_stdin(format!("{E} {}\n", electricity(1)).as_bytes());
        }
        let status = c.wait_exit(Duration::from_secs(10));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(101),
            "{thread}: {status:?} {:?}",
            c.stderr()
        );
        // The stderr reader may be a moment behind the exit.
        c.wait_for_stderr("crashed", Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(200));
        let stderr = c.stderr();
        assert_eq!(stderr.len(), 1, "{thread}: {stderr:?}");
        let line = &stderr[0];
        assert!(
            line.starts_with("E! cadline ")
                && line.contains(&format!("crashed (panic in thread '{thread}' at src/"))
                && line.contains("second line of the message")
                && line.contains("exiting with status 101 so that Telegraf restarts it"),
            "{line}"
        );
        assert!(c.next_line(Duration::from_millis(100)).is_none());
    }
}

#[test]
fn a_panicking_cadline_is_one_error_line_in_telegrafs_log_and_is_restarted() {
    let broker = Mosquitto::start();
    let execd = format!(
        "[[inputs.execd]]\n  command = [\"{}\", \"--broker\", \"{}\"]\n  signal = \"none\"\n  \
         restart_delay = \"1s\"\n  data_format = \"influx\"\n",
        env!("CARGO_BIN_EXE_cadline"),
        broker.url()
    );
    // No reading is written: a file output in place of InfluxDB.
    let outputs = "\n[[outputs.file]]\n  files = [\"/dev/null\"]\n";
    let conf = test_agent() + &with_environment(&execd, &[&format!("{PANIC}=writer")]);
    let conf = conf + outputs;
    let mut telegraf = Telegraf::start(&conf);
    assert!(
        telegraf.wait_for_log("crashed (panic in thread", 3, Duration::from_secs(30)),
        "three crashes, so Telegraf restarted cadline twice:\n{}",
        telegraf.log()
    );
    telegraf.stop(Duration::from_secs(15));
    let log = telegraf.log();
    // cadline's error lines are its crash lines, one per crash (its I!
    // and W! lines at start are its ordinary ones); Telegraf's own error
    // line for each exit says "Process ... exited". A crash cannot end the
    // writer's own duplicate of stdout as a clean exit does (it belongs to
    // the thread that panicked), so Telegraf's reader may race its close and
    // log "read |0: file already closed": a boundary the README states,
    // Telegraf's line, not cadline's.
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" E! [inputs.execd] ") && !l.contains("] Process "))
        .filter(|l| !l.contains("file already closed"))
        .collect();
    assert!(errors.len() >= 3, "{log}");
    for line in &errors {
        assert!(
            line.contains(" E! [inputs.execd] cadline ")
                && line.contains("crashed (panic in thread 'writer'"),
            "an error line that is not cadline's one crash line: {line}\n{log}"
        );
    }
    for absent in [
        "panicked at",
        "RUST_BACKTRACE",
        "stderr: \"",
        "signal: aborted",
    ] {
        assert!(!log.contains(absent), "{absent}:\n{log}");
    }
    assert!(log.contains("exit status 101"), "{log}");
}
