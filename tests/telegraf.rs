//! cadline under the real Telegraf (the pinned build from tests/run.sh):
//! the shipped configuration files load cleanly, and the execd contract
//! holds as Telegraf's own log shows it (stderr levels, reload, stop,
//! crash).

use std::time::{Duration, Instant};

use crate::rig::{
    cadline_pids, electricity, repo_path, rewrite_execd, shipped_cadline_conf, wait_for_cadlines,
    BrokerConfig, Influx, Mosquitto, Telegraf,
};

const E: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";

/// An electricity reading whose `cumulative` is `seq` and whose meter time
/// is `seq` seconds after 2026-03-01T00:00:00Z: each is its own point, and
/// a duplicate is the same point.
pub fn reading(seq: u64) -> String {
    let (d, s) = (seq / 86_400, seq % 86_400);
    format!(
        r#"{{"electricitymeter":{{"timestamp":"2026-03-{:02}T{:02}:{:02}:{:02}Z","energy":{{"import":{{"cumulative":{seq},"units":"kWh"}}}},"power":{{"value":0.5,"units":"kW"}}}}}}"#,
        d + 1,
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// The `[agent]` section of the tests' own Telegraf configurations: a 1 s
/// flush so a test sees a write within seconds (the shipped telegraf.conf
/// says 10 s), debug logging so cadline's `D!` lines are visible, and the
/// v1.40 default for processors after aggregators stated (Telegraf warns
/// while it is left unset).
pub fn test_agent() -> String {
    "[agent]\n  interval = \"10s\"\n  flush_interval = \"1s\"\n  omit_hostname = true\n  \
     debug = true\n  skip_processors_after_aggregators = true\n\n"
        .to_owned()
}

/// An `outputs.influxdb` writing to the test's InfluxDB.
pub fn influx_output(influx: &Influx, db: &str) -> String {
    format!(
        "\n[[outputs.influxdb]]\n  urls = [\"{}\"]\n  database = \"{db}\"\n",
        influx.url()
    )
}

/// Adds `environment = [...]` to the (first) execd block of `conf`.
pub fn with_environment(conf: &str, vars: &[&str]) -> String {
    let list = vars
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    conf.replacen(
        "[[inputs.execd]]\n",
        &format!("[[inputs.execd]]\n  environment = [{list}]\n"),
        1,
    )
}

/// The shipped telegraf.conf, changed only where a test machine differs:
/// the cadline binary, the broker and InfluxDB URLs, a 1 s flush, and the
/// disk buffer's directory inside the test's own directory.
pub fn shipped_telegraf_conf(
    broker: &str,
    influx: &Influx,
    buffer_dir: &std::path::Path,
) -> String {
    let text = std::fs::read_to_string(repo_path("telegraf/telegraf.conf")).expect("telegraf.conf");
    let text = rewrite_execd(&text, broker, "glow", None);
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        out.push(if t.starts_with("urls = [\"http://127.0.0.1:8086\"]") {
            format!("  urls = [\"{}\"]", influx.url())
        } else if t.starts_with("flush_interval = ") {
            "  flush_interval = \"1s\"".to_owned()
        } else if t.starts_with("buffer_directory = ") {
            format!("  buffer_directory = \"{}\"", buffer_dir.display())
        } else {
            line.to_owned()
        });
    }
    out.join("\n") + "\n"
}

/// Waits until InfluxDB holds `n` points of `measurement.field`.
pub fn wait_for_points(
    influx: &Influx,
    db: &str,
    measurement: &str,
    field: &str,
    n: u64,
    timeout: Duration,
) -> u64 {
    let start = Instant::now();
    loop {
        let got = influx.count(db, measurement, field);
        if got >= n || start.elapsed() > timeout {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Telegraf's log lines at error or warning level, except the ones listed.
fn errors_and_warnings(log: &str, allowed: &[&str]) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(" E! ") || l.contains(" W! "))
        .filter(|l| !allowed.iter().any(|a| l.contains(a)))
        .map(str::to_owned)
        .collect()
}

/// The one warning the shipped disk buffer costs: Telegraf 1.39.3 calls it
/// experimental at every start.
pub const DISK_BUFFER_WARNING: &str = "this is an experimental feature";

/// Starts Telegraf on `config`, sees one reading through to InfluxDB,
/// stops it with SIGTERM and returns its log.
fn run_one_reading(config: &str, broker: &Mosquitto, influx: &Influx, db: &str) -> String {
    let mut telegraf = Telegraf::start(config);
    assert!(
        telegraf.wait_for_log("I! [inputs.execd] Connected to", 1, Duration::from_secs(20)),
        "cadline did not connect under Telegraf:\n{}",
        telegraf.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    broker.publish(E, &electricity(4242), 1);
    let got = wait_for_points(
        influx,
        db,
        "electricitymeter",
        "cumulative",
        1,
        Duration::from_secs(20),
    );
    assert_eq!(got, 1, "the reading reached InfluxDB:\n{}", telegraf.log());
    let status = telegraf.stop(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "Telegraf stopped on SIGTERM ({status:?}):\n{}",
        telegraf.log()
    );
    telegraf.log()
}

#[test]
fn shipped_telegraf_conf_loads_with_no_error_or_warning() {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let buffer = crate::rig::TempDir::new("telegraf-buffer");
    let config = shipped_telegraf_conf(&broker.url(), &influx, buffer.path());
    // telegraf.conf names the database "energy" and Telegraf creates it.
    let log = run_one_reading(&config, &broker, &influx, "energy");
    let bad = errors_and_warnings(&log, &[DISK_BUFFER_WARNING]);
    assert!(bad.is_empty(), "{bad:#?}\n{log}");
}

#[test]
fn shipped_cadline_conf_loads_with_no_error_or_warning() {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let config = test_agent()
        + &shipped_cadline_conf(&broker.url(), "glow", None)
        + &influx_output(&influx, "snippet");
    let log = run_one_reading(&config, &broker, &influx, "snippet");
    let bad = errors_and_warnings(&log, &[]);
    assert!(bad.is_empty(), "{bad:#?}\n{log}");
}

/// The NixOS module's execd settings (evaluated with the stub lib of
/// tests/nix/stub-eval.nix) rendered to TOML the way nixpkgs' Telegraf
/// module renders `extraConfig`: one `key = value` per setting.
fn nixos_execd_toml(case: &str, broker: &str) -> String {
    let out = std::process::Command::new(crate::rig::tool("nix-instantiate", "nix-bin"))
        .args(["--eval", "--strict", "--json"])
        .arg(repo_path("tests/nix/stub-eval.nix"))
        .output()
        .expect("nix-instantiate runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eval: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let execd = eval[case]["execd"][0]
        .as_object()
        .expect("the module's execd settings");
    let mut toml = String::from("[[inputs.execd]]\n");
    for (key, value) in execd {
        let value = if key == "command" {
            // The store path and the broker exist only on the NixOS machine.
            let mut cmd: Vec<serde_json::Value> = value.as_array().expect("command").clone();
            cmd[0] = env!("CARGO_BIN_EXE_cadline").into();
            if let Some(i) = cmd.iter().position(|a| a == "--broker") {
                cmd[i + 1] = broker.into();
            }
            serde_json::Value::Array(cmd)
        } else {
            value.clone()
        };
        // JSON strings and string lists are valid TOML as they are.
        toml.push_str(&format!("  {key} = {value}\n"));
    }
    toml
}

#[test]
fn nixos_module_settings_load_with_no_error_or_warning() {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let config = test_agent()
        + &nixos_execd_toml("minimal", &broker.url())
        + &influx_output(&influx, "nixos");
    let log = run_one_reading(&config, &broker, &influx, "nixos");
    let bad = errors_and_warnings(&log, &[]);
    assert!(bad.is_empty(), "{bad:#?}\n{log}");
    // The full set of options produces the same keys, every one of which
    // Telegraf accepts (it refuses to start on an unknown key).
    let everything = nixos_execd_toml("everything", &broker.url());
    let keys = |t: &str| -> Vec<String> {
        t.lines()
            .skip(1)
            .map(|l| l.split(" = ").next().unwrap_or("").trim().to_owned())
            .collect()
    };
    assert_eq!(
        keys(&everything),
        keys(&nixos_execd_toml("minimal", &broker.url()))
    );
}

#[test]
fn cadline_stderr_lines_appear_at_their_level_in_telegrafs_log() {
    // A broker with a login: one Telegraf gives the right password (I!, W!
    // and D! lines), one the wrong one (E! lines).
    let broker = Mosquitto::with(BrokerConfig {
        login: Some(("meter".into(), "s3cret-pass".into())),
        ..BrokerConfig::persistent()
    });
    let influx = Influx::start();
    let conf = |password: &str| {
        let execd = shipped_cadline_conf(&broker.url(), "glow", None).replace(
            "\"--prefix\", \"glow\"]",
            "\"--prefix\", \"glow\", \"--username\", \"meter\"]",
        );
        test_agent()
            + &with_environment(
                &execd,
                &[
                    "CADLINE_LOG_LEVEL=debug",
                    &format!("CADLINE_MQTT_PASSWORD={password}"),
                ],
            )
            + &influx_output(&influx, "levels")
    };
    let mut good = Telegraf::start(&conf("s3cret-pass"));
    let mut bad = Telegraf::start(&conf("wrong"));
    assert!(
        good.wait_for_log("I! [inputs.execd] Connected to", 1, Duration::from_secs(20)),
        "{}",
        good.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    broker.publish(E, "hello", 1);
    broker.publish(E, &electricity(7), 1);
    assert_eq!(
        wait_for_points(
            &influx,
            "levels",
            "electricitymeter",
            "cumulative",
            1,
            Duration::from_secs(20)
        ),
        1
    );
    assert!(
        good.wait_for_log("W! [inputs.execd] ", 1, Duration::from_secs(10)),
        "{}",
        good.log()
    );
    assert!(
        bad.wait_for_log("E! [inputs.execd] ", 1, Duration::from_secs(20)),
        "{}",
        bad.log()
    );
    good.stop(Duration::from_secs(15));
    bad.stop(Duration::from_secs(15));
    let (good, bad) = (good.log(), bad.log());
    let at = |log: &str, level: &str, text: &str| {
        log.lines()
            .any(|l| l.contains(&format!(" {level}! [inputs.execd] ")) && l.contains(text))
    };
    assert!(at(&good, "I", "Connected to"), "{good}");
    assert!(at(&good, "W", "payload is not a JSON object"), "{good}");
    assert!(at(&good, "D", "Stdin closed"), "{good}");
    assert!(at(&bad, "E", "refused the user name or password"), "{bad}");
    for log in [&good, &bad] {
        assert!(
            !log.contains("stderr: \""),
            "a cadline line Telegraf did not recognise:\n{log}"
        );
    }
}

/// The shipped cadline.conf with its persistent-session alternative
/// running, under the test agent, writing to `db`.
fn persistent_config(broker: &Mosquitto, influx: &Influx, db: &str) -> String {
    test_agent()
        + &shipped_cadline_conf(&broker.url(), "glow", Some("--persistent-session"))
        + &influx_output(influx, db)
}

#[test]
fn reload_restarts_cadline_and_loses_nothing_with_a_persistent_session() {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let telegraf = Telegraf::start(&persistent_config(&broker, &influx, "reload"));
    assert!(
        telegraf.wait_for_log("I! [inputs.execd] Connected to", 1, Duration::from_secs(20)),
        "{}",
        telegraf.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    let first = wait_for_cadlines(&broker.url(), 1, Duration::from_secs(5));
    assert_eq!(first.len(), 1, "one cadline runs");
    // A steady stream with a reload (SIGHUP to Telegraf) in the middle.
    let total = 400;
    for seq in 1..=total {
        broker.publish(E, &reading(seq), 1);
        if seq == total / 2 {
            telegraf.signal("HUP");
        }
    }
    assert!(
        telegraf.wait_for_log("Starting process", 2, Duration::from_secs(20)),
        "Telegraf started cadline again on reload:\n{}",
        telegraf.log()
    );
    let got = wait_for_points(
        &influx,
        "reload",
        "electricitymeter",
        "cumulative",
        total,
        Duration::from_secs(30),
    );
    assert_eq!(got, total, "every reading stored:\n{}", telegraf.log());
    let now = wait_for_cadlines(&broker.url(), 1, Duration::from_secs(5));
    assert!(
        now.len() == 1 && now != first,
        "the old cadline exited and a new one runs: {first:?} then {now:?}"
    );
}

#[test]
fn sigterm_to_telegraf_ends_cadline_through_stdin_within_a_second() {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let mut telegraf = Telegraf::start(&with_environment(
        &persistent_config(&broker, &influx, "stop"),
        &["CADLINE_LOG_LEVEL=debug"],
    ));
    assert!(
        telegraf.wait_for_log("I! [inputs.execd] Connected to", 1, Duration::from_secs(20)),
        "{}",
        telegraf.log()
    );
    let pids = wait_for_cadlines(&broker.url(), 1, Duration::from_secs(5));
    assert_eq!(pids.len(), 1);
    telegraf.signal("TERM");
    let t0 = Instant::now();
    let left = wait_for_cadlines(&broker.url(), 0, Duration::from_secs(5));
    let took = t0.elapsed();
    assert!(
        left.is_empty(),
        "cadline still runs 5 s after SIGTERM to Telegraf"
    );
    assert!(
        took < Duration::from_secs(1),
        "cadline took {took:?} to exit"
    );
    let status = telegraf.stop(Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let log = telegraf.log();
    // cadline saw stdin close, and Telegraf never had to signal it.
    assert!(log.contains("D! [inputs.execd] Stdin closed"), "{log}");
    assert!(
        log.contains("I! [inputs.execd] Process ") && log.contains(" shut down"),
        "{log}"
    );
    assert!(
        !log.contains("Error after sending SIGTERM") && !log.contains("Error after killing"),
        "{log}"
    );
    // Telegraf sends SIGTERM only 5 s after closing stdin: a cadline that
    // needed it would have taken 5 s, which the timing above rules out.
}

#[test]
fn sigkill_of_telegraf_leaves_no_cadline_and_the_next_start_carries_on_the_session() {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let mut telegraf = Telegraf::start(&persistent_config(&broker, &influx, "crash"));
    assert!(
        telegraf.wait_for_log("I! [inputs.execd] Connected to", 1, Duration::from_secs(20)),
        "{}",
        telegraf.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    for seq in 1..=50 {
        broker.publish(E, &reading(seq), 1);
    }
    assert_eq!(
        wait_for_points(
            &influx,
            "crash",
            "electricitymeter",
            "cumulative",
            50,
            Duration::from_secs(20)
        ),
        50
    );
    telegraf.kill();
    let left = wait_for_cadlines(&broker.url(), 0, Duration::from_secs(2));
    assert!(
        left.is_empty(),
        "cadline {left:?} outlived a SIGKILLed Telegraf by 2 s"
    );
    // Readings published while nothing reads them wait at the broker.
    for seq in 51..=100 {
        broker.publish(E, &reading(seq), 1);
    }
    telegraf.start_again();
    let got = wait_for_points(
        &influx,
        "crash",
        "electricitymeter",
        "cumulative",
        100,
        Duration::from_secs(30),
    );
    assert_eq!(got, 100, "the session carried on:\n{}", telegraf.log());
    assert_eq!(cadline_pids(&broker.url()).len(), 1);
}
