//! What operators do beside a running service, under the real Telegraf,
//! Mosquitto and InfluxDB: `telegraf --test` and `--once` on the service's
//! own configuration, a copied configuration, `cadline check`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::rig::{
    electricity, repo_path, rewrite_execd, run_with_timeout, shipped_cadline_conf, telegraf_bin,
    wait_for_cadlines, Influx, Mosquitto, Telegraf, TempDir, Watched,
};
use crate::telegraf::{
    influx_output, shipped_telegraf_conf, test_agent, wait_for_points, SteadyPublisher,
};

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

const E: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";

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

/// The shipped `telegraf.conf` on this machine (the disk buffer in
/// `buffer`), with its shipped 10 s `flush_interval`: a `--once` run
/// flushes at its end, or on its first tick.
fn shipped_disk_service(broker: &Mosquitto, influx: &Influx, buffer: &Path) -> String {
    shipped_telegraf_conf(&broker.url(), influx, buffer)
        .replace("  flush_interval = \"1s\"", "  flush_interval = \"10s\"")
}

/// `shipped_disk_service` running and connected, with its own broker,
/// InfluxDB and buffer directory. Fields drop in order: Telegraf first.
struct DiskService {
    service: Telegraf,
    conf: String,
    buffer: TempDir,
    influx: Influx,
    broker: Mosquitto,
}

impl DiskService {
    fn start() -> DiskService {
        let broker = Mosquitto::start();
        let influx = Influx::start();
        let buffer = TempDir::new("buffer");
        let conf = shipped_disk_service(&broker, &influx, buffer.path());
        let service = Telegraf::start(&conf);
        assert!(
            service.wait_for_log("I! [inputs.execd] Connected to", 1, Duration::from_secs(20)),
            "{}",
            service.log()
        );
        DiskService {
            service,
            conf,
            buffer,
            influx,
            broker,
        }
    }
}

/// Whether process `pid` still runs (and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next().map(|st| st != "Z"))
        })
        .unwrap_or(false)
}

/// The database the shipped telegraf.conf writes to.
const SHIPPED_DB: &str = "energy";

#[test]
fn telegraf_once_beside_a_disk_buffered_service_is_stopped_and_the_service_loses_nothing() {
    use std::os::unix::process::ExitStatusExt;
    let DiskService {
        service,
        influx,
        broker,
        ..
    } = &DiskService::start();
    let publisher = SteadyPublisher::start(broker.port, 10);
    // Readings wait in the service's disk buffer for its next flush.
    std::thread::sleep(Duration::from_secs(3));

    let started = std::time::Instant::now();
    let once = telegraf_run(&service.config_path(), &["--once"]);
    eprintln!(
        "telegraf --once stopped {:?} after it started",
        started.elapsed()
    );
    let once_log = String::from_utf8_lossy(&once.stderr).into_owned();
    assert_eq!(
        once.status.signal(),
        Some(9),
        "cadline stopped the once run ({:?}):\n{once_log}",
        once.status
    );
    let said = format!(
        "E! [inputs.execd] Run by telegraf --once while another Telegraf (pid {}",
        service.pid()
    );
    assert!(
        once_log.contains(&said) && once_log.contains("`cadline check`"),
        "{said}:\n{once_log}"
    );
    std::thread::sleep(Duration::from_secs(3));
    let published = publisher.finish();
    let stored = wait_for_points(
        influx,
        SHIPPED_DB,
        "electricitymeter",
        "cumulative",
        published,
        Duration::from_secs(60),
    );
    eprintln!("beside telegraf --once: {stored} of {published} stored");
    assert_eq!(stored, published, "{}", service.log());
    assert!(
        alive(service.pid()),
        "the service stopped:\n{}",
        service.log()
    );
    assert!(
        !service.log().contains("panic"),
        "the service's buffer broke:\n{}",
        service.log()
    );
}

/// The boundary: a `--once` run that has no cadline in it (here the
/// service's configuration with `inputs.internal` in place of cadline, so
/// the same output and the same buffer) is not stopped, and the service's
/// disk buffer breaks under it. Telegraf's own limit: no lock on
/// `buffer_directory`.
#[test]
fn a_once_run_without_cadline_still_breaks_a_disk_buffered_service() {
    let DiskService {
        service,
        conf,
        broker,
        ..
    } = &DiskService::start();
    let publisher = SteadyPublisher::start(broker.port, 10);
    std::thread::sleep(Duration::from_secs(3));
    let (before, rest) = conf.split_once("[[inputs.execd]]").expect("an execd block");
    let after = rest
        .split_once("data_format = \"influx\"\n")
        .expect("the block's end")
        .1;
    let other = TempDir::new("other");
    let path = other.path().join("telegraf.conf");
    std::fs::write(&path, format!("{before}[[inputs.internal]]\n{after}")).expect("conf");
    let once = telegraf_run(&path, &["--once"]);
    assert!(
        once.status.code().is_some(),
        "the once run ran to its end: {:?}\n{}",
        once.status,
        String::from_utf8_lossy(&once.stderr)
    );
    let broke = service.wait_for_log("panic", 1, Duration::from_secs(30));
    publisher.finish();
    let panic_line = service
        .log()
        .lines()
        .find(|l| l.contains("panic"))
        .unwrap_or_default()
        .to_owned();
    eprintln!("after a once run with no cadline, the service: {panic_line}");
    assert!(broke, "the service's buffer survived:\n{}", service.log());
    assert!(
        ["log corrupt", "no such file or directory", "out of range"]
            .iter()
            .any(|s| service.log().contains(s)),
        "{}",
        service.log()
    );
}

#[test]
fn a_second_telegraf_on_the_same_disk_buffer_is_said_at_error_level() {
    let DiskService {
        service: first,
        conf,
        buffer,
        ..
    } = &DiskService::start();
    let second = Telegraf::start(conf);
    let said = format!("E! [inputs.execd] Another Telegraf (pid {}", first.pid());
    assert!(
        second.wait_for_log(&said, 1, Duration::from_secs(20)),
        "{said}:\n{}",
        second.log()
    );
    let line = second
        .log()
        .lines()
        .find(|l| l.contains(&said))
        .unwrap_or_default()
        .to_owned();
    assert!(
        line.contains(&buffer.path().display().to_string())
            && line.contains("its own buffer_directory"),
        "{line}"
    );
    assert_eq!(
        second
            .log()
            .matches("uses this Telegraf's disk buffer")
            .count(),
        1,
        "one line:\n{}",
        second.log()
    );
}

/// The kernel's host name, which `{hostname}` in the shipped
/// `--client-id cadline-{hostname}` becomes.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("host name")
        .trim()
        .to_owned()
}

/// A second Telegraf on the shipped configuration (the same host, so the
/// same `cadline-{hostname}`): both cadlines say so at error level within
/// 10 s of the second start. The first has been connected for `settled`
/// (with MQTT 3.1.1, past the 30 s after which a lost connection is no
/// longer evidence by itself, as for a service that has run for hours).
fn two_copies_are_said_at_error_level_within_10_s(mqtt_version: &str, settled: Duration) {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let shipped = shipped_cadline_conf(&broker.url(), "glow", None);
    let execd = shipped.replace(
        "\"cadline-{hostname}\"]",
        &format!("\"cadline-{{hostname}}\", \"--mqtt-version\", \"{mqtt_version}\"]"),
    );
    assert_ne!(
        execd, shipped,
        "--mqtt-version {mqtt_version} was not added"
    );
    let conf = test_agent() + &execd + &influx_output(&influx, "copies");
    let first = Telegraf::start(&conf);
    assert!(
        first.wait_for_log("I! [inputs.execd] Connected to", 1, Duration::from_secs(20)),
        "{}",
        first.log()
    );
    // The shipped line gave this machine's own client id, and the broker
    // saw the protocol asked for (Mosquitto's p2 is 3.1.1, p5 is 5).
    let id = format!("cadline-{}", hostname());
    let protocol = if mqtt_version == "5" { "p5" } else { "p2" };
    assert!(
        broker.log().contains(&format!(" as {id} ({protocol},")),
        "the broker saw no client {id} ({protocol}):\n{}",
        broker.log()
    );
    std::thread::sleep(settled);
    let started = std::time::Instant::now();
    let second = Telegraf::start(&conf);
    let said = |t: &Telegraf| {
        t.log().lines().any(|l| {
            l.contains(" E! [inputs.execd] ")
                && l.contains(&format!(
                    "Two copies of cadline use the same --client-id {id}"
                ))
        })
    };
    let mut when = [None, None];
    while started.elapsed() < Duration::from_secs(10) && when.iter().any(Option::is_none) {
        for (i, t) in [&first, &second].into_iter().enumerate() {
            if when[i].is_none() && said(t) {
                when[i] = Some(started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "MQTT {mqtt_version}: said by the first after {:?}, the second after {:?}",
        when[0], when[1]
    );
    assert!(
        when[0].is_some(),
        "the first copy did not say so within 10 s:\n{}",
        first.log()
    );
    assert!(
        when[1].is_some(),
        "the second copy did not say so within 10 s:\n{}",
        second.log()
    );
    let line = first
        .log()
        .lines()
        .find(|l| l.contains("Two copies of cadline"))
        .unwrap_or_default()
        .to_owned();
    eprintln!("MQTT {mqtt_version}: {line}");
    for source in [
        "second Telegraf",
        "telegraf.d copied",
        "telegraf --test",
        "its own --client-id",
    ] {
        assert!(line.contains(source), "{source} not named: {line}");
    }
}

#[test]
fn two_copies_of_one_config_are_said_at_error_level_within_10_s_with_mqtt_3_1_1() {
    two_copies_are_said_at_error_level_within_10_s("3.1.1", Duration::from_secs(32));
}

#[test]
fn two_copies_of_one_config_are_said_at_error_level_within_10_s_with_mqtt_5() {
    two_copies_are_said_at_error_level_within_10_s("5", Duration::from_secs(32));
}

/// A typical `telegraf.conf` someone already runs: its own `[agent]` and an
/// InfluxDB output, plus `agent_extra` lines in `[agent]`.
fn existing_telegraf_conf(influx: &Influx, db: &str, agent_extra: &str) -> String {
    format!(
        "[agent]\n  interval = \"10s\"\n  round_interval = true\n  metric_batch_size = 1000\n  \
         metric_buffer_limit = 10000\n  flush_interval = \"1s\"\n  omit_hostname = true\n  \
         skip_processors_after_aggregators = true\n{agent_extra}\n[[outputs.influxdb]]\n  \
         urls = [\"{}\"]\n  database = \"{db}\"\n",
        influx.url()
    )
}

/// `/etc/telegraf` (with `telegraf.d/`), `/var/lib/telegraf` and
/// `/usr/local/bin` inside a temporary directory.
struct FakeRoot {
    dir: TempDir,
}

impl FakeRoot {
    fn new(telegraf_conf: &str) -> FakeRoot {
        let dir = TempDir::new("root");
        for d in ["etc/telegraf/telegraf.d", "usr/local/bin", "var/lib"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        std::fs::write(dir.path().join("etc/telegraf/telegraf.conf"), telegraf_conf)
            .expect("telegraf.conf");
        FakeRoot { dir }
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }

    /// A shell command from the README, with its system paths moved into
    /// this root, `sudo` and the telegraf owner left out, and the binary
    /// the one under test.
    fn localise(&self, command: &str) -> String {
        let root = self.dir.path().display().to_string();
        command
            .replace("sudo ", "")
            .replace(" -o telegraf -g telegraf", "")
            .replace("target/release/cadline", env!("CARGO_BIN_EXE_cadline"))
            .replace(" /etc/telegraf", &format!(" {root}/etc/telegraf"))
            .replace(" /var/lib/telegraf", &format!(" {root}/var/lib/telegraf"))
            .replace("\"/var/lib/telegraf", &format!("\"{root}/var/lib/telegraf"))
            .replace(" /usr/local/bin", &format!(" {root}/usr/local/bin"))
    }

    /// Runs `block` as the README's reader would (from the repository),
    /// localised; its output.
    fn run(&self, block: &str) -> Output {
        let script = self.localise(block);
        let out = run_with_timeout(
            Command::new("sh")
                .args(["-e", "-c", &script])
                .current_dir(repo_path("")),
            None,
            Duration::from_secs(30),
            "the README's commands",
        );
        assert!(
            out.status.success(),
            "{script}\nfailed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Telegraf as the Debian service starts it:
    /// `telegraf -config /etc/telegraf/telegraf.conf -config-directory /etc/telegraf/telegraf.d`.
    fn start_service(&self) -> Watched {
        Watched::spawn(
            Command::new(telegraf_bin())
                .arg("--strict-env-handling")
                .arg("-config")
                .arg(self.path("etc/telegraf/telegraf.conf"))
                .arg("-config-directory")
                .arg(self.path("etc/telegraf/telegraf.d"))
                .current_dir(self.dir.path())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped()),
            "telegraf",
        )
    }
}

/// The first ```sh block after `heading` in the README.
fn readme_block(heading: &str) -> String {
    let readme = std::fs::read_to_string(repo_path("README.md")).expect("README");
    let after = readme
        .split_once(heading)
        .unwrap_or_else(|| panic!("README has no {heading}"))
        .1;
    let block = after.split_once("```sh\n").expect("a sh block").1;
    block
        .split_once("```")
        .expect("the block ends")
        .0
        .to_owned()
}

const AT_LEAST_ONCE: &str = "### At-least-once in a Telegraf you already run";

fn wait_for(what: &Watched, needle: &str, timeout: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if what.stderr_so_far().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn the_readme_steps_give_an_existing_telegraf_at_least_once() {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let root = FakeRoot::new(&existing_telegraf_conf(&influx, "existing", ""));
    let block = readme_block(AT_LEAST_ONCE);
    assert!(
        block.contains("at-least-once.conf") && block.contains("cadline.conf"),
        "{block}"
    );
    root.run(&block);
    // The inserted lines name the system's /var/lib/telegraf: moved too.
    let conf_path = root.path("etc/telegraf/telegraf.conf");
    let conf = std::fs::read_to_string(&conf_path).expect("telegraf.conf");
    assert!(
        conf.contains("[agent]\n  ## At least once")
            && conf.contains(
                "  buffer_strategy = \"disk\"\n  buffer_directory = \"/var/lib/telegraf/buffer\""
            ),
        "the lines went under [agent]:\n{conf}"
    );
    std::fs::write(&conf_path, root.localise(&conf)).expect("telegraf.conf");
    // The reader sets the broker in the copied cadline.conf.
    let installed = root.path("etc/telegraf/telegraf.d/cadline.conf");
    let text = std::fs::read_to_string(&installed).expect("installed cadline.conf");
    std::fs::write(
        &installed,
        rewrite_execd(&text, &broker.url(), "glow", None),
    )
    .expect("edit");
    assert!(
        root.path("var/lib/telegraf/buffer").is_dir(),
        "the buffer directory was made"
    );
    let telegraf = root.start_service();
    assert!(
        wait_for(
            &telegraf,
            "I! [inputs.execd] Connected to",
            Duration::from_secs(20)
        ),
        "{}",
        telegraf.stderr_so_far()
    );
    let log = telegraf.stderr_so_far();
    assert!(
        log.contains("Using disk-write-through buffer strategy for plugin outputs.influxdb"),
        "the existing output got the disk buffer:\n{log}"
    );
    assert!(
        !log.contains("Overlapping settings"),
        "one [agent] table:\n{log}"
    );
    std::thread::sleep(Duration::from_millis(300));
    broker.publish(E, &electricity(77), 1);
    assert_eq!(
        wait_for_points(
            &influx,
            "existing",
            "electricitymeter",
            "cumulative",
            1,
            Duration::from_secs(20)
        ),
        1,
        "{}",
        telegraf.stderr_so_far()
    );
    let outputs: Vec<_> = std::fs::read_dir(root.path("var/lib/telegraf/buffer"))
        .expect("buffer dir")
        .collect();
    assert_eq!(outputs.len(), 1, "one subdirectory for the one output");
    drop(telegraf);

    // A telegraf.conf that already sets the keys is left as it was (and
    // the lines are shown); a second copy would stop Telegraf at start.
    let own = existing_telegraf_conf(&influx, "existing", "  buffer_strategy = \"memory\"\n");
    let root = FakeRoot::new(&own);
    let out = root.run(&block);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("buffer_strategy = \"memory\""),
        "the existing line is shown"
    );
    assert_eq!(
        std::fs::read_to_string(root.path("etc/telegraf/telegraf.conf")).expect("conf"),
        own
    );
    let twice = existing_telegraf_conf(
        &influx,
        "existing",
        &format!(
            "  buffer_strategy = \"memory\"\n{}",
            std::fs::read_to_string(repo_path("telegraf/at-least-once.conf")).expect("snippet")
        ),
    );
    let path = root.path("twice.conf");
    std::fs::write(&path, twice).expect("twice.conf");
    let out = telegraf_run(&path, &["--test"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && log.contains("is in conflict"),
        "a key given twice stops Telegraf: {log}"
    );
}

#[test]
fn an_agent_table_in_telegraf_d_leaves_telegraf_conf_outputs_in_memory() {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let root = FakeRoot::new(&existing_telegraf_conf(&influx, "split", ""));
    let buffer = root.path("var/lib/telegraf/buffer");
    std::fs::create_dir_all(&buffer).expect("buffer dir");
    std::fs::write(
        root.path("etc/telegraf/telegraf.d/cadline.conf"),
        shipped_cadline_conf(&broker.url(), "glow", None),
    )
    .expect("cadline.conf");
    std::fs::write(
        root.path("etc/telegraf/telegraf.d/buffer.conf"),
        format!(
            "[agent]\n  buffer_strategy = \"disk\"\n  buffer_directory = \"{}\"\n",
            buffer.display()
        ),
    )
    .expect("buffer.conf");
    let telegraf = root.start_service();
    assert!(
        wait_for(
            &telegraf,
            "I! [inputs.execd] Connected to",
            Duration::from_secs(20)
        ),
        "{}",
        telegraf.stderr_so_far()
    );
    let log = telegraf.stderr_so_far();
    assert!(
        log.contains("Overlapping settings in multiple agent tables"),
        "{log}"
    );
    assert!(
        !log.contains("disk-write-through"),
        "telegraf.conf's output got no disk buffer:\n{log}"
    );
    assert_eq!(
        std::fs::read_dir(&buffer).expect("buffer dir").count(),
        0,
        "nothing in the buffer directory"
    );
    drop(telegraf);

    // The shipped lines copied into telegraf.d/ stop Telegraf instead.
    std::fs::remove_file(root.path("etc/telegraf/telegraf.d/buffer.conf")).expect("rm");
    std::fs::copy(
        repo_path("telegraf/at-least-once.conf"),
        root.path("etc/telegraf/telegraf.d/at-least-once.conf"),
    )
    .expect("copy");
    let mut telegraf = root.start_service();
    let status = telegraf.exit_within(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| !s.success()),
        "Telegraf refused to start ({status:?}):\n{}",
        telegraf.stderr_so_far()
    );
    // Telegraf names whichever of the two keys its map gives it first: the
    // order changes from run to run.
    let log = telegraf.stderr_so_far();
    assert!(
        ["buffer_strategy", "buffer_directory"]
            .iter()
            .any(|key| log.contains(&format!("error parsing field \"{key}\" as table"))),
        "{log}"
    );
}

#[test]
fn a_buffer_directory_telegraf_cannot_create_stops_telegraf_at_start() {
    // As an unprivileged user (the telegraf user would be one), under a
    // directory it cannot write to (/var/lib before `install -d`).
    let influx = Influx::start();
    let dir = TempDir::new("nobody");
    let locked = dir.path().join("var-lib");
    std::fs::create_dir_all(&locked).expect("mkdir");
    let conf = existing_telegraf_conf(
        &influx,
        "nobody",
        &format!(
            "  buffer_strategy = \"disk\"\n  buffer_directory = \"{}/telegraf/buffer\"\n",
            locked.display()
        ),
    )
        + "\n[[inputs.execd]]\n  command = [\"sleep\", \"60\"]\n  data_format = \"influx\"\n";
    let path = dir.path().join("telegraf.conf");
    std::fs::write(&path, conf).expect("conf");
    let out = run_with_timeout(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(telegraf_bin())
            .arg("--strict-env-handling")
            .arg("--config")
            .arg(&path),
        None,
        Duration::from_secs(30),
        "telegraf as nobody",
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "Telegraf ran: {log}");
    assert!(
        log.contains("creating buffer failed") && log.contains("permission denied"),
        "{log}"
    );
}

/// `cadline check` with `args`, run to completion.
fn cadline_check(args: &[&str]) -> Output {
    run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_cadline"))
            .arg("check")
            .args(args),
        None,
        Duration::from_secs(90),
        "cadline check",
    )
}

/// The message count of `Listened Ns: M messages on …`.
fn messages_seen(report: &str) -> usize {
    report
        .lines()
        .find_map(|l| l.strip_prefix("Listened "))
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn cadline_check_beside_the_service_costs_it_no_reading() {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let db = "checked";
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
    let publisher = SteadyPublisher::start(broker.port, 10);
    std::thread::sleep(Duration::from_secs(1));
    // The service's own flags, as a newcomer would copy them.
    let url = broker.url();
    let out = cadline_check(&[
        "--broker",
        &url,
        "--prefix",
        "glow",
        "--persistent-session",
        "--client-id",
        "cadline-{hostname}",
        "--ack-delay",
        "1",
        "--listen",
        "8",
    ]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{report}\n{errors}");
    for needle in [
        "Broker: reached, ",
        "MQTT 3.1.1, no TLS, no login",
        "granted QoS 1",
        "Device 0A1B2C3D4E5F: electricitymeter",
        "At least once: holds",
        "  electricitymeter,device=0A1B2C3D4E5F",
        "Readings would flow.",
    ] {
        assert!(report.contains(needle), "{needle}:\n{report}");
    }
    let seen = messages_seen(&report);
    std::thread::sleep(Duration::from_secs(1));
    let published = publisher.finish();
    eprintln!("cadline check saw {seen} messages in 8 s; {published} published");
    assert!(
        seen >= 40,
        "check saw {seen} of a 10/s stream in 8 s:\n{report}"
    );
    let stored = wait_for_points(
        &influx,
        db,
        "electricitymeter",
        "cumulative",
        published,
        Duration::from_secs(60),
    );
    assert_eq!(stored, published, "the service stored every reading");
    assert_eq!(
        wait_for_cadlines(&broker.url(), 1, Duration::from_secs(5)),
        service_cadline
    );
    assert!(!broker.log().contains(TAKEOVER), "{}", broker.log());
}

#[test]
fn cadline_check_names_the_prefix_the_cad_really_uses() {
    let broker = Mosquitto::start();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publishing = {
        let (stop, port) = (stop.clone(), broker.port);
        std::thread::spawn(move || {
            let bin = crate::rig::tool("mosquitto_pub", "mosquitto-clients");
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = run_with_timeout(
                    Command::new(&bin).args([
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &port.to_string(),
                        "-t",
                        "energy/0A1B2C3D4E5F/SENSOR/electricitymeter",
                        "-m",
                        &electricity(1),
                    ]),
                    None,
                    Duration::from_secs(10),
                    "mosquitto_pub",
                );
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    let url = broker.url();
    let out = cadline_check(&["--broker", &url, "--listen", "3"]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = publishing.join();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{report}");
    assert!(
        errors.contains("E! cadline check: ")
            && errors.contains("the CAD publishes under energy/, not glow/: set --prefix energy"),
        "{errors}\n{report}"
    );
    assert_eq!(
        errors.lines().filter(|l| l.starts_with("E! ")).count(),
        1,
        "{errors}"
    );
    assert!(
        report.contains("energy/0A1B2C3D4E5F/SENSOR/electricitymeter"),
        "{report}"
    );
}

/// A broker with TLS (a CA of the test's own) and a login, and a CAD
/// publishing to it every 300 ms while `body` runs.
fn with_a_tls_broker_with_a_login<T>(
    body: impl FnOnce(&Mosquitto, &crate::rig::TlsFiles, &Path) -> T,
) -> T {
    let dir = TempDir::new("check-tls");
    let tls = crate::rig::make_tls(dir.path());
    let broker = Mosquitto::with(crate::rig::BrokerConfig {
        login: Some(("glow".into(), "s3cret-pw".into())),
        tls: Some(crate::rig::BrokerTls {
            ca: tls.ca.clone(),
            cert: tls.server_cert.clone(),
            key: tls.server_key.clone(),
            require_client_cert: false,
            publisher_cert: None,
        }),
        ..crate::rig::BrokerConfig::default()
    });
    let password = dir.path().join("password");
    std::fs::write(&password, "s3cret-pw\n").expect("password file");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut seq = 1;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                broker.publish(E, &electricity(seq), 1);
                seq += 1;
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        let result = body(&broker, &tls, &password);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        result
    })
}

#[test]
fn cadline_check_over_tls_with_a_login_says_how_it_connected_with_mqtt_5_and_3_1_1() {
    with_a_tls_broker_with_a_login(|broker, tls, password| {
        let url = broker.url();
        for (version, protocol) in [("5", "p5"), ("3.1.1", "p2")] {
            let out = cadline_check(&[
                "--broker",
                &url,
                "--ca-file",
                tls.ca.to_str().expect("utf-8"),
                "--username",
                "glow",
                "--password-file",
                password.to_str().expect("utf-8"),
                "--mqtt-version",
                version,
                "--persistent-session",
                "--client-id",
                "cadline-{hostname}",
                "--listen",
                "3",
            ]);
            let report = String::from_utf8_lossy(&out.stdout).into_owned();
            let errors = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "MQTT {version}:\n{report}\n{errors}");
            for needle in [
                format!("Broker: reached, {url} as cadline-check-"),
                format!("MQTT {version}, TLS verified, logged in as glow"),
                "granted QoS 1".to_owned(),
                "Device 0A1B2C3D4E5F: electricitymeter".to_owned(),
                "At least once: holds".to_owned(),
                "Readings would flow.".to_owned(),
            ] {
                assert!(report.contains(&needle), "{needle}:\n{report}");
            }
            // The broker saw the protocol and the login the report names.
            let log = broker.log();
            let seen = log.lines().any(|l| {
                l.contains("New client connected")
                    && l.contains(" as cadline-check-")
                    && l.contains(&format!("({protocol},"))
                    && l.contains("u'glow'")
            });
            assert!(seen, "no check client with {protocol} and u'glow':\n{log}");
        }
    });
}

#[test]
fn cadline_check_says_a_wrong_password_and_a_wrong_ca_each_in_one_line() {
    with_a_tls_broker_with_a_login(|broker, tls, password| {
        let url = broker.url();
        let wrong = password.with_file_name("wrong-password");
        std::fs::write(&wrong, "not-it\n").expect("wrong password file");
        for version in ["5", "3.1.1"] {
            for (what, ca, pw, needles) in [
                (
                    "a wrong password",
                    tls.ca.as_path(),
                    wrong.as_path(),
                    &["refused the user name or password", "--username"][..],
                ),
                (
                    "a CA that did not sign the broker's certificate",
                    tls.other_ca.as_path(),
                    password,
                    &["--ca-file"][..],
                ),
            ] {
                let started = std::time::Instant::now();
                let out = cadline_check(&[
                    "--broker",
                    &url,
                    "--ca-file",
                    ca.to_str().expect("utf-8"),
                    "--username",
                    "glow",
                    "--password-file",
                    pw.to_str().expect("utf-8"),
                    "--mqtt-version",
                    version,
                    "--listen",
                    "20",
                ]);
                let took = started.elapsed();
                let report = String::from_utf8_lossy(&out.stdout).into_owned();
                let errors = String::from_utf8_lossy(&out.stderr).into_owned();
                eprintln!("MQTT {version}, {what}, {took:?}: {errors}");
                assert_eq!(out.status.code(), Some(1), "{what}:\n{report}\n{errors}");
                let lines: Vec<&str> = errors.lines().filter(|l| l.starts_with("E! ")).collect();
                assert_eq!(lines.len(), 1, "{what}: one E! line:\n{errors}");
                assert!(
                    lines[0].starts_with("E! cadline check: the broker was not reached"),
                    "{what}: {}",
                    lines[0]
                );
                for needle in needles {
                    assert!(lines[0].contains(needle), "{what}: {needle}: {}", lines[0]);
                }
                assert!(
                    report.contains(&format!("MQTT {version}, TLS verified, logged in as glow")),
                    "{what}: the report says what was tried:\n{report}"
                );
                // A fault a person must fix is said at once, not after
                // the whole --listen.
                assert!(took < Duration::from_secs(15), "{what}: took {took:?}");
            }
        }
    });
}

/// A backup of `cadline.conf` left in `telegraf.d/` under a name that
/// still ends in `.conf`: Telegraf runs cadline twice with one client id.
/// Said at start, at error level, naming both files.
#[test]
fn two_cadline_confs_in_one_telegraf_d_are_said_at_error_level_naming_both() {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let root = FakeRoot::new(&existing_telegraf_conf(&influx, "twice", ""));
    let conf = shipped_cadline_conf(&broker.url(), "glow", None);
    let first = root.path("etc/telegraf/telegraf.d/cadline.conf");
    let backup = root.path("etc/telegraf/telegraf.d/cadline.conf.bak.conf");
    std::fs::write(&first, &conf).expect("cadline.conf");
    std::fs::write(&backup, &conf).expect("the backup");
    let telegraf = root.start_service();
    let said = "This Telegraf runs cadline 2 times with --client-id cadline-{hostname}";
    assert!(
        wait_for(&telegraf, said, Duration::from_secs(20)),
        "{}",
        telegraf.stderr_so_far()
    );
    let log = telegraf.stderr_so_far();
    let line = log.lines().find(|l| l.contains(said)).unwrap_or_default();
    eprintln!("{line}");
    assert!(line.contains(" E! [inputs.execd] "), "{line}");
    assert!(
        line.contains(&format!("{} and {}", first.display(), backup.display())),
        "both files named: {line}"
    );
    // One copy alone says nothing.
    drop(telegraf);
    std::fs::remove_file(&backup).expect("rm the backup");
    let telegraf = root.start_service();
    assert!(
        wait_for(
            &telegraf,
            "I! [inputs.execd] Connected to",
            Duration::from_secs(20)
        ),
        "{}",
        telegraf.stderr_so_far()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !telegraf.stderr_so_far().contains("runs cadline"),
        "{}",
        telegraf.stderr_so_far()
    );
}

/// What the README says of Mosquitto 2.0.11: when a second client takes
/// over an MQTT 5 session, the old connection is closed without a
/// DISCONNECT (no reason 0x8E, session taken over), so cadline infers the
/// takeover as it does with MQTT 3.1.1. Two raw MQTT 5 clients, one id.
#[test]
fn mosquitto_closes_a_taken_over_mqtt_5_connection_without_a_reason() {
    use std::io::{Read, Write};
    let broker = Mosquitto::start();
    let connect = |id: &[u8]| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", broker.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        // CONNECT: MQTT 5, clean start, keep-alive 60 s, no properties.
        let mut body = b"\x00\x04MQTT\x05\x02\x00\x3c\x00".to_vec();
        body.extend(u16::try_from(id.len()).expect("short id").to_be_bytes());
        body.extend(id);
        let mut packet = vec![0x10, u8::try_from(body.len()).expect("short packet")];
        packet.extend(body);
        s.write_all(&packet).expect("CONNECT");
        let mut head = [0u8; 2];
        s.read_exact(&mut head).expect("CONNACK");
        let mut rest = vec![0; usize::from(head[1])];
        s.read_exact(&mut rest).expect("CONNACK body");
        assert_eq!((head[0], rest[1]), (0x20, 0), "accepted");
        s
    };
    let mut first = connect(b"taken-over");
    let _second = connect(b"taken-over");
    let mut got = Vec::new();
    let read = first.read_to_end(&mut got);
    let timed_out = read.as_ref().is_err_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    });
    assert!(!timed_out, "the old connection stayed open: {read:?}");
    assert!(
        got.is_empty(),
        "Mosquitto sent {got:02x?} to the old connection before closing it"
    );
    assert!(broker.log().contains(TAKEOVER), "{}", broker.log());
}

/// The tests the README's "Configuration" section cites by name (its
/// at-least-once steps, `cadline check`, the commands safe beside the
/// service) exist, so a renamed test cannot leave a claim unbacked.
#[test]
fn the_tests_the_configuration_section_cites_exist() {
    let readme = std::fs::read_to_string(repo_path("README.md")).expect("README");
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Configuration section");
    let cited: Vec<&str> = section
        .split('`')
        .filter(|w| {
            w.split_once("::").is_some_and(|(m, f)| {
                !m.is_empty()
                    && m.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    && !f.is_empty()
                    && f.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
        })
        .collect();
    assert!(cited.len() >= 10, "{cited:?}");
    for test in cited {
        let (module, name) = test.split_once("::").expect("module::name");
        let source = std::fs::read_to_string(repo_path(&format!("tests/{module}.rs")))
            .unwrap_or_else(|e| panic!("{test}: tests/{module}.rs: {e}"));
        assert!(
            source.contains(&format!("#[test]\nfn {name}()")),
            "the README cites {test}, which is not a test"
        );
    }
}
