//! What operators do beside a running service, under the real Telegraf,
//! Mosquitto and InfluxDB: `telegraf --test` and `--once` on the service's
//! own configuration, a copied configuration, `cadline check`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::rig::{
    run_with_timeout, shipped_cadline_conf, telegraf_bin, wait_for_cadlines, Influx, Mosquitto,
    Telegraf,
};
use crate::telegraf::{influx_output, test_agent, wait_for_points, SteadyPublisher};

/// Runs the pinned Telegraf on `config` with `flags` (`--test`, `--once`)
/// to completion, as an operator would in a terminal.
fn telegraf_run(config: &Path, flags: &[&str]) -> Output {
    let mut cmd = Command::new(telegraf_bin());
    cmd.arg("--strict-env-handling")
        .arg("--config")
        .arg(config)
        .args(flags)
        .current_dir(config.parent().expect("config dir"));
    run_with_timeout(
        &mut cmd,
        None,
        Duration::from_secs(90),
        &format!("telegraf {}", flags.join(" ")),
    )
}

/// The electricity lines `telegraf --test` printed (`> electricitymeter,...`).
fn shown_readings(out: &Output) -> usize {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("> electricitymeter"))
        .count()
}

/// Mosquitto's word for one client taking over another's session.
const TAKEOVER: &str = "already connected, closing old connection";

#[test]
fn telegraf_test_and_once_beside_the_service_lose_no_reading() {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let db = "trial";
    let conf = test_agent()
        + &shipped_cadline_conf(&broker.url(), "glow", None)
        + &influx_output(&influx, db);
    let service = Telegraf::start(&conf);
    assert!(
        service.wait_for_log("I! [inputs.execd] Connected to", 1, Duration::from_secs(20)),
        "{}",
        service.log()
    );
    let service_cadline = wait_for_cadlines(&broker.url(), 1, Duration::from_secs(5));
    assert_eq!(service_cadline.len(), 1, "one cadline runs");
    let publisher = SteadyPublisher::start(broker.port, 10);
    std::thread::sleep(Duration::from_secs(2));

    // What a user runs after editing the configuration, beside the service.
    let test = telegraf_run(&service.config_path(), &["--test", "--test-wait", "10"]);
    let test_log = String::from_utf8_lossy(&test.stderr).into_owned();
    assert!(
        shown_readings(&test) >= 20,
        "telegraf --test showed {} readings in 10 s of a 10/s stream:\n{test_log}",
        shown_readings(&test)
    );
    assert!(
        test_log.contains("Run by telegraf --test: subscribing as a client of its own"),
        "the test run says what it did:\n{test_log}"
    );
    let once = telegraf_run(&service.config_path(), &["--once", "--test-wait", "5"]);
    let once_log = String::from_utf8_lossy(&once.stderr).into_owned();
    assert!(
        once_log.contains("Run by telegraf --once"),
        "the once run says what it did:\n{once_log}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let published = publisher.finish();
    eprintln!(
        "telegraf --test showed {} readings, --once {}; {published} published",
        shown_readings(&test),
        once_log.matches("electricitymeter").count()
    );

    let stored = wait_for_points(
        &influx,
        db,
        "electricitymeter",
        "cumulative",
        published,
        Duration::from_secs(60),
    );
    assert_eq!(
        stored,
        published,
        "every published reading stored by the service:\n{}",
        service.log()
    );
    // The service's cadline was never thrown off its session.
    assert_eq!(
        wait_for_cadlines(&broker.url(), 1, Duration::from_secs(5)),
        service_cadline,
        "the service's cadline is the one that started"
    );
    assert!(
        !broker.log().contains(TAKEOVER),
        "a trial run took a session over:\n{}",
        broker.log()
    );
    assert!(
        !service.log().contains("Connection lost"),
        "the service's cadline lost its connection:\n{}",
        service.log()
    );
}
