//! The Debian package, as a Debian or Raspberry Pi OS user gets it: built
//! by .ci/build-deb (cargo-deb), installed with `dpkg -i`, the installed
//! `/usr/bin/cadline` run by the real Telegraf from the installed example
//! configuration, its man page rendered by `man`, its bash completion
//! loaded by bash, then removed with `dpkg -r` leaving nothing behind.
//!
//! It installs into the real system, as root: other tests run
//! target/release/cadline and are not disturbed, and a lock file keeps two
//! runs of this test (two checkouts on one machine) from installing over
//! each other. It refuses to touch a cadline package it did not install.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::rig::{repo_path, run_with_timeout, tool, Influx, Mosquitto, Telegraf, TempDir};
use crate::telegraf::{influx_output, reading, test_agent, wait_for_points};

const TOPIC: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";
const EXAMPLES: &str = "/usr/share/doc/cadline/examples";

/// Held while this test owns the machine's cadline package: `flock` on a
/// lock file, released when its `cat` sees stdin close (also when the test
/// process dies).
struct MachineLock(Child);

impl MachineLock {
    fn take() -> MachineLock {
        use std::io::BufRead;
        let mut child = Command::new(tool("flock", "util-linux"))
            .args(["/tmp/cadline-deb-test.lock", "-c", "echo locked; exec cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("flock");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("flock's answer");
        assert_eq!(line.trim(), "locked");
        MachineLock(child)
    }
}

impl Drop for MachineLock {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

fn run(cmd: &mut Command, what: &str) -> Output {
    run_with_timeout(cmd, None, Duration::from_secs(300), what)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// dpkg's status of the cadline package, empty when dpkg knows none.
fn status() -> String {
    let out = run(
        Command::new("dpkg-query").args(["-W", "-f=${Status}", "cadline"]),
        "dpkg-query",
    );
    text(&out.stdout)
}

/// `dpkg` with its lock waited for: apt or another test may hold it.
fn dpkg(args: &[&str]) -> Output {
    let start = Instant::now();
    loop {
        let out = run(Command::new(tool("dpkg", "dpkg")).args(args), "dpkg");
        let err = text(&out.stderr);
        if out.status.success()
            || !err.contains("lock")
            || start.elapsed() > Duration::from_secs(120)
        {
            return out;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Removes the package if the test installed it and did not get to remove
/// it (a failed assertion).
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if status().contains("installed") {
            let _ = dpkg(&["-r", "cadline"]);
        }
    }
}

/// Builds the .deb from the binary `cargo test --release` built.
fn build_deb(out_dir: &Path) -> PathBuf {
    let out = run(
        Command::new("bash")
            .arg(repo_path(".ci/build-deb"))
            .args(["--no-build", "--output"])
            .arg(out_dir),
        ".ci/build-deb",
    );
    assert!(
        out.status.success(),
        ".ci/build-deb failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let debs: Vec<PathBuf> = std::fs::read_dir(out_dir)
        .expect("output dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    debs.into_iter().next().expect("a .deb")
}

#[test]
fn the_deb_installs_runs_under_telegraf_and_removes_cleanly() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")
                .map(|u| u.split_whitespace().next().unwrap_or("").to_owned())
        })
        .expect("Uid");
    assert_eq!(
        uid, "0",
        "this test installs a package with dpkg -i: run it as root (CI does)"
    );
    let _lock = MachineLock::take();
    assert!(
        !status().contains("installed"),
        "a cadline package is already installed ({}); this test installs and removes its own: \
         `dpkg -r cadline` first if it is a leftover",
        status()
    );
    let work = TempDir::new("deb");
    let deb = build_deb(work.path());
    let _installed = Installed;
    let out = dpkg(&["-i", deb.to_str().expect("path")]);
    assert!(out.status.success(), "dpkg -i: {}", text(&out.stderr));
    assert!(status().contains("install ok installed"), "{}", status());

    // What the package holds, as dpkg lists it.
    let listed = text(&dpkg(&["-L", "cadline"]).stdout);
    let files: Vec<&str> = listed.lines().filter(|l| Path::new(l).is_file()).collect();
    for want in [
        "/usr/bin/cadline",
        "/usr/share/man/man1/cadline.1.gz",
        "/usr/share/bash-completion/completions/cadline",
        "/usr/share/zsh/vendor-completions/_cadline",
        "/usr/share/fish/vendor_completions.d/cadline.fish",
        "/usr/share/doc/cadline/README.md",
        "/usr/share/doc/cadline/examples/cadline.conf",
        "/usr/share/doc/cadline/examples/telegraf.conf",
    ] {
        assert!(
            files.contains(&want),
            "the package lacks {want}: {files:#?}"
        );
    }
    // Nothing under /etc: the examples are inactive until copied.
    assert!(!files.iter().any(|f| f.starts_with("/etc/")), "{files:#?}");
    installed_examples_are_the_shipped_ones();

    // The installed binary is this build.
    let version = run(
        Command::new("/usr/bin/cadline").arg("--version"),
        "cadline --version",
    );
    assert_eq!(
        text(&version.stdout).trim(),
        format!("cadline {}", env!("CARGO_PKG_VERSION"))
    );

    the_man_page_renders();
    bash_completes_the_flags();
    the_installed_example_runs_under_telegraf();

    let out = dpkg(&["-r", "cadline"]);
    assert!(out.status.success(), "dpkg -r: {}", text(&out.stderr));
    assert_eq!(status(), "", "dpkg still knows cadline after -r");
    let left: Vec<&&str> = files.iter().filter(|f| Path::new(f).exists()).collect();
    assert!(left.is_empty(), "left behind by dpkg -r: {left:?}");
    for dir in ["/usr/share/doc/cadline", EXAMPLES] {
        assert!(!Path::new(dir).exists(), "{dir} left behind by dpkg -r");
    }
}

/// Each telegraf/*.conf is packaged, differing from the repository's only
/// in the command's binary: /usr/bin/cadline, where the package puts it.
fn installed_examples_are_the_shipped_ones() {
    let mut shipped: Vec<PathBuf> = std::fs::read_dir(repo_path("telegraf"))
        .expect("telegraf/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    shipped.sort();
    assert!(shipped.len() >= 2, "{shipped:?}");
    for path in shipped {
        let name = path.file_name().expect("name").to_str().expect("UTF-8");
        let ours = std::fs::read_to_string(&path).expect("shipped conf");
        let theirs = std::fs::read_to_string(Path::new(EXAMPLES).join(name))
            .unwrap_or_else(|e| panic!("{EXAMPLES}/{name}: {e}"));
        assert_eq!(ours.lines().count(), theirs.lines().count(), "{name}");
        for (a, b) in ours.lines().zip(theirs.lines()) {
            if a != b {
                assert_eq!(
                    a.replace("\"/usr/local/bin/cadline\"", "\"/usr/bin/cadline\""),
                    b,
                    "{name}: only the binary's path may differ"
                );
            }
        }
    }
}

/// `man -l` renders the installed page, `man cadline` finds it, and it documents every flag
/// `--help` lists (both come from the one clap definition).
fn the_man_page_renders() {
    let out = run(
        Command::new(tool("man", "man-db"))
            .args(["-l", "/usr/share/man/man1/cadline.1.gz"])
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat"),
        "man -l",
    );
    let page = text(&out.stdout);
    assert!(out.status.success(), "man -l: {}", text(&out.stderr));
    assert!(page.contains("NAME") && page.contains("OPTIONS"), "{page}");
    // And `man cadline` finds it where the package put it.
    let by_name = run(
        Command::new(tool("man", "man-db"))
            .arg("cadline")
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat"),
        "man cadline",
    );
    assert!(
        by_name.status.success(),
        "man cadline: {}",
        text(&by_name.stderr)
    );
    assert_eq!(
        text(&by_name.stdout),
        page,
        "man cadline shows another page"
    );
    let help = text(
        &run(
            Command::new("/usr/bin/cadline").arg("--help"),
            "cadline --help",
        )
        .stdout,
    );
    let options = help.split("Examples:").next().expect("options");
    // The flags themselves: lines indented by at most six spaces, up to
    // the two spaces before the description (which may name other programs'
    // flags, such as `telegraf --test`).
    let flags: Vec<&str> = options
        .lines()
        .filter(|l| l.len() - l.trim_start().len() <= 6)
        .filter_map(|l| l.trim_start().split("  ").next())
        .flat_map(str::split_whitespace)
        // A flag named at the end of a wrapped sentence keeps its stop.
        .map(|w| w.trim_end_matches([',', '.']))
        .filter(|w| w.starts_with("--") && w.len() > 3)
        .collect();
    assert!(
        flags.contains(&"--broker") && flags.contains(&"--version"),
        "{flags:?}"
    );
    for flag in flags {
        // man hyphenates long words at line ends; a flag starts a line.
        assert!(
            page.lines().any(|l| l.trim_start().starts_with(flag)
                || l.trim_start().starts_with(&format!("-h, {flag}"))
                || l.trim_start().starts_with(&format!("-V, {flag}"))),
            "the man page has no entry for {flag}:\n{page}"
        );
    }
}

/// bash loads the installed completion and completes a flag from its start.
fn bash_completes_the_flags() {
    let script = "source /usr/share/bash-completion/completions/cadline && \
         complete -p cadline && \
         COMP_WORDS=(cadline --bro) COMP_CWORD=1 COMP_LINE='cadline --bro' COMP_POINT=13 && \
         _cadline cadline --bro cadline && printf '%s\\n' \"${COMPREPLY[@]}\"";
    let out = run(Command::new("bash").args(["-c", script]), "bash completion");
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    assert!(said.contains("-F _cadline cadline"), "{said}");
    let replies: Vec<&str> = said.lines().skip(1).collect();
    assert_eq!(replies, ["--broker"], "{said}");
}

/// The installed example cadline.conf, with only the broker URL pointed at
/// the test's broker, runs /usr/bin/cadline under the real Telegraf and
/// readings reach InfluxDB.
fn the_installed_example_runs_under_telegraf() {
    let broker = Mosquitto::start();
    let influx = Influx::start();
    let example =
        std::fs::read_to_string(Path::new(EXAMPLES).join("cadline.conf")).expect("example");
    let command = example
        .lines()
        .find(|l| l.trim_start().starts_with("command = ["))
        .expect("an active command");
    assert!(command.contains("[\"/usr/bin/cadline\""), "{command}");
    let conf = example.replace(
        "\"mqtt://localhost:1883\"",
        &format!("\"{}\"", broker.url()),
    );
    assert_ne!(conf, example, "the example's broker URL changed: {command}");
    let config = test_agent() + &conf + &influx_output(&influx, "deb");
    let mut telegraf = Telegraf::start(&config);
    assert!(
        telegraf.wait_for_log("I! [inputs.execd] Connected to", 1, Duration::from_secs(20)),
        "/usr/bin/cadline did not connect under Telegraf:\n{}",
        telegraf.log()
    );
    // The process Telegraf started is the installed binary.
    let running: Vec<PathBuf> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path().join("exe")).ok())
        .filter(|exe| exe == Path::new("/usr/bin/cadline"))
        .collect();
    assert!(!running.is_empty(), "no /usr/bin/cadline process");
    std::thread::sleep(Duration::from_millis(300));
    let total = 20;
    for seq in 1..=total {
        broker.publish(TOPIC, &reading(seq), 1);
    }
    let got = wait_for_points(
        &influx,
        "deb",
        "electricitymeter",
        "cumulative",
        total,
        Duration::from_secs(30),
    );
    assert_eq!(got, total, "readings stored:\n{}", telegraf.log());
    let status = telegraf.stop(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "Telegraf stopped on SIGTERM ({status:?}):\n{}",
        telegraf.log()
    );
}
