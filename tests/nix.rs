//! The Nix files and Telegraf configs shipped in the repo: they parse, the
//! NixOS module builds a command line cadline accepts, secrets stay out of
//! it, and the Telegraf snippet in the README is the shipped file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::rig::{run_with_timeout, tool, TOOL_TIMEOUT};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn nix_instantiate() -> PathBuf {
    tool("nix-instantiate", "nix-bin")
}

/// Every `--flag` cadline's `--help` lists.
fn help_flags() -> BTreeSet<String> {
    let out = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_cadline")).arg("--help"),
        None,
        TOOL_TIMEOUT,
        "cadline --help",
    );
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let options = help.split("Examples:").next().unwrap_or_default();
    flags_in(options)
}

fn flags_in(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2 && w.as_bytes()[2].is_ascii_lowercase())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_nix_file_parses() {
    let mut files: Vec<PathBuf> = ["nix", "tests/nix"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(repo(d))
                .expect("dir")
                .map(|e| e.expect("entry").path())
        })
        .filter(|p| p.extension().is_some_and(|e| e == "nix"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let out = run_with_timeout(
            Command::new(nix_instantiate()).arg("--parse").arg(&file),
            None,
            TOOL_TIMEOUT,
            "nix-instantiate --parse",
        );
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Evaluates the module with the stub lib (tests/nix/stub-eval.nix):
/// `override` (a Nix attribute set) is set on top of the minimal
/// configuration as `custom`; `path_with` false takes `types.pathWith` out
/// of the lib, as in nixpkgs before 25.05. The JSON, or nix-instantiate's
/// error.
fn evaluate(override_: &str, path_with: bool) -> Result<serde_json::Value, String> {
    evaluate_on("meterbox", override_, path_with)
}

/// As `evaluate`, on a machine whose `networking.hostName` is `host`.
fn evaluate_on(host: &str, override_: &str, path_with: bool) -> Result<serde_json::Value, String> {
    let out = run_with_timeout(
        Command::new(nix_instantiate())
            .args(["--eval", "--strict", "--json"])
            .arg(repo("tests/nix/stub-eval.nix"))
            .args(["--arg", "override", override_])
            .args([
                "--arg",
                "pathWith",
                if path_with { "true" } else { "false" },
            ])
            .args(["--argstr", "hostName", host]),
        None,
        TOOL_TIMEOUT,
        "nix-instantiate --eval",
    );
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The module evaluated with a stub lib (tests/nix/stub-eval.nix).
fn evaluated() -> serde_json::Value {
    evaluate("{ }", true).unwrap_or_else(|e| panic!("{e}"))
}

fn command(eval: &serde_json::Value) -> Vec<String> {
    eval["execd"][0]["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect()
}

#[test]
fn the_module_uses_only_flags_cadline_has() {
    let listed = help_flags();
    assert!(
        listed.contains("--broker") && listed.contains("--password-file"),
        "{listed:?}"
    );
    // Every flag the module can emit, from its source and from a
    // configuration that sets every option.
    let source = std::fs::read_to_string(repo("nix/module.nix")).expect("module.nix");
    let mut used = flags_in(&source);
    used.extend(
        command(&evaluated()["everything"])
            .into_iter()
            .filter(|a| a.starts_with("--")),
    );
    let unknown: Vec<&String> = used.difference(&listed).collect();
    assert!(
        unknown.is_empty(),
        "module.nix uses flags cadline does not have: {unknown:?}"
    );
}

#[test]
fn the_module_command_is_accepted_by_cadline() {
    let eval = evaluated();
    let mut cases: Vec<(String, Vec<String>, i32)> = ["minimal", "everything"]
        .iter()
        .map(|c| {
            (
                c.to_string(),
                command(&eval[*c]),
                i32::from(*c == "everything"),
            )
        })
        .collect();
    // ackDelay's ends and a fraction, and the module's at-least-once
    // settings turned off.
    for set in [
        "{ ackDelay = 0; }",
        "{ ackDelay = 0.25; }",
        "{ ackDelay = 3600; }",
        "{ persistentSession = false; clientId = null; diskBuffer = false; }",
    ] {
        let custom = evaluate(set, true).unwrap_or_else(|e| panic!("{set}: {e}"));
        cases.push((set.to_owned(), command(&custom["custom"]), 0));
    }
    for (case, args, want) in cases {
        // stdin closed at once: cadline exits as under a stopping Telegraf.
        // 2 would be a usage error; "everything" exits 1 because its
        // password file only exists on the NixOS machine.
        let out = run_with_timeout(
            Command::new(env!("CARGO_BIN_EXE_cadline")).args(&args[1..]),
            None,
            TOOL_TIMEOUT,
            "cadline with the module's command line, stdin closed",
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(want), "{case}: {args:?}\n{stderr}");
        if want == 0 {
            assert!(!stderr.contains("E! "), "{case}: {args:?}\n{stderr}");
        } else {
            assert!(
                stderr.contains("/run/credentials/telegraf.service/cadline-mqtt-password"),
                "{stderr}"
            );
        }
    }
}

#[test]
fn secrets_go_through_systemd_credentials_not_the_store_or_argv() {
    let eval = evaluated();
    let all = &eval["everything"];
    let cmd = command(all).join(" ");
    assert!(
        cmd.contains("--password-file /run/credentials/telegraf.service/cadline-mqtt-password"),
        "{cmd}"
    );
    assert!(
        !cmd.contains("/run/secrets/"),
        "the secret's own path must not be needed at run time: {cmd}"
    );
    assert_eq!(
        all["credentials"],
        serde_json::json!([
            "cadline-mqtt-password:/run/secrets/mqtt-password",
            "cadline-mqtt-key:/run/secrets/cadline.key"
        ])
    );
    assert_eq!(all["execd"][0]["signal"], "none");
    assert_eq!(all["execd"][0]["data_format"], "influx");
    assert_eq!(all["telegrafEnabled"], true);
    assert!(all["assertions"]
        .as_array()
        .expect("assertions")
        .iter()
        .all(|a| a == true));
    let minimal = &eval["minimal"];
    assert_eq!(minimal["credentials"], serde_json::json!([]));
    assert!(!command(minimal).iter().any(|a| a.contains("password")));
    let options: Vec<&str> = minimal["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|o| o.as_str())
        .collect();
    for o in [
        "broker",
        "prefix",
        "topics",
        "username",
        "passwordFile",
        "qos",
        "persistentSession",
        "clientId",
        "ackDelay",
        "diskBuffer",
        "caFile",
        "certFile",
        "keyFile",
        "extraArgs",
    ] {
        assert!(options.contains(&o), "option {o} missing: {options:?}");
    }
    assert!(
        !options.contains(&"password"),
        "no option may hold the password itself"
    );
}

/// Issue 12 point 6: the stub evaluation refuses what the real module
/// system refuses, naming the option, with and without `types.pathWith`.
#[test]
fn the_module_rejects_values_of_the_wrong_type() {
    for path_with in [true, false] {
        for (set, option) in [
            ("{ qos = 2; }", "services.cadline.qos"),
            (r#"{ logLevel = "trace"; }"#, "services.cadline.logLevel"),
            (r#"{ mqttVersion = "3"; }"#, "services.cadline.mqttVersion"),
            ("{ keepAlive = 1; }", "services.cadline.keepAlive"),
            ("{ maxMessageSize = 0; }", "services.cadline.maxMessageSize"),
            ("{ ackDelay = -1; }", "services.cadline.ackDelay"),
            (r#"{ ackDelay = "1s"; }"#, "services.cadline.ackDelay"),
            ("{ ackDelay = 3601; }", "services.cadline.ackDelay"),
            (r#"{ diskBuffer = "yes"; }"#, "services.cadline.diskBuffer"),
            (
                r#"{ passwordFile = "/nix/store/00000000000000000000000000000000-secret"; }"#,
                "services.cadline.passwordFile",
            ),
            (
                "{ passwordFile = ./secret; }",
                "services.cadline.passwordFile",
            ),
            (
                r#"{ passwordFile = "relative/secret"; }"#,
                "services.cadline.passwordFile",
            ),
            (
                r#"{ keyFile = "/nix/store/00000000000000000000000000000000-key"; }"#,
                "services.cadline.keyFile",
            ),
            (
                r#"{ package = "/nix/store/x-cadline"; }"#,
                "services.cadline.package",
            ),
            ("{ passwrodFile = null; }", "services.cadline.passwrodFile"),
        ] {
            let err = match evaluate(set, path_with) {
                Ok(json) => panic!(
                    "{set} (pathWith {path_with}) was accepted: {}",
                    json["custom"]
                ),
                Err(e) => e,
            };
            assert!(
                err.contains(option),
                "{set} (pathWith {path_with}): the error does not name {option}:\n{err}"
            );
        }
        // And what is right is accepted.
        let ok = evaluate(
            r#"{ qos = 0; logLevel = "debug"; mqttVersion = "5"; keepAlive = 5; passwordFile = "/run/secrets/p"; ackDelay = 0.5; }"#,
            path_with,
        )
        .unwrap_or_else(|e| panic!("pathWith {path_with}: {e}"));
        let cmd = command(&ok["custom"]).join(" ");
        assert!(
            cmd.contains("--qos 0")
                && cmd.contains("--mqtt-version 5")
                && cmd.contains("--keep-alive 5")
                && cmd.contains("--ack-delay 0.5 "),
            "{cmd}"
        );
        // Both ends of ackDelay's range, as cadline reads them.
        for (set, flag) in [
            ("{ ackDelay = 0; }", "--ack-delay 0 "),
            ("{ ackDelay = 3600; }", "--ack-delay 3600 "),
        ] {
            let eval = evaluate(set, path_with).unwrap_or_else(|e| panic!("{set}: {e}"));
            let cmd = command(&eval["custom"]).join(" ");
            assert!(cmd.contains(flag), "{set}: {cmd}");
        }
    }
}

/// Issue 12 point 6: the module works on nixpkgs without `types.pathWith`
/// (before 25.05) and gives the flags a NixOS user needs as options.
#[test]
fn the_module_has_the_connection_options_and_a_package_default_text() {
    for path_with in [true, false] {
        let eval =
            evaluate("{ }", path_with).unwrap_or_else(|e| panic!("pathWith {path_with}: {e}"));
        let minimal = command(&eval["minimal"]).join(" ");
        for flag in [
            "--mqtt-version 3.1.1",
            "--keep-alive 60",
            "--max-message-size 1048576",
        ] {
            assert!(minimal.contains(flag), "{flag} missing: {minimal}");
        }
        let everything = command(&eval["everything"]).join(" ");
        for flag in [
            "--mqtt-version 5",
            "--keep-alive 30",
            "--max-message-size 2000000",
            "--topic energy/+/STATE",
        ] {
            assert!(everything.contains(flag), "{flag} missing: {everything}");
        }
        assert_eq!(
            eval["minimal"]["packageDefaultText"],
            "pkgs.callPackage ./package.nix { }"
        );
    }
}

/// The flags and values of the `command` in telegraf/cadline.conf.
fn shipped_command() -> Vec<String> {
    let conf = std::fs::read_to_string(repo("telegraf/cadline.conf")).expect("cadline.conf");
    let line = conf
        .lines()
        .find(|l| l.trim_start().starts_with("command = "))
        .expect("an active command in cadline.conf");
    let list = line.split_once('=').expect("command = [...]").1;
    serde_json::from_str(list.trim()).expect("command is a list of strings")
}

/// The value after `flag` in `args`, "" for a flag without one, None when
/// `flag` is not there.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let i = args.iter().position(|a| a == flag)?;
    Some(
        args.get(i + 1)
            .filter(|v| !v.starts_with("--"))
            .cloned()
            .unwrap_or_default(),
    )
}

/// Issue 10: a NixOS user gets the shipped at-least-once settings without
/// asking: the flags of telegraf/cadline.conf, with a client id of the
/// host's own instead of the one fixed "cadline".
#[test]
fn the_module_defaults_match_the_shipped_cadline_conf() {
    let shipped = shipped_command();
    let minimal = command(&evaluated()["minimal"]);
    let mut compared = Vec::new();
    for flag in shipped.iter().skip(1).filter(|a| a.starts_with("--")) {
        // Where the broker is and what the CAD's prefix is are the user's;
        // the client id is the host's (the next test).
        if ["--broker", "--prefix", "--client-id"].contains(&flag.as_str()) {
            continue;
        }
        assert_eq!(
            flag_value(&minimal, flag),
            flag_value(&shipped, flag),
            "{flag}: cadline.conf {shipped:?}, module {minimal:?}"
        );
        compared.push(flag.as_str());
    }
    assert!(compared.contains(&"--persistent-session"), "{compared:?}");
    assert_eq!(flag_value(&minimal, "--ack-delay").as_deref(), Some("1"));
    assert_eq!(flag_value(&minimal, "--qos").as_deref(), Some("1"));
}

/// A configuration copied to a second host must not give both the same
/// client id (the broker would throw each off in turn); with no host name
/// there is no default and the persistent session asks for one.
#[test]
fn the_default_client_id_is_the_hosts_own() {
    let id = |host: &str| {
        let eval = evaluate_on(host, "{ }", true).unwrap_or_else(|e| panic!("{host}: {e}"));
        flag_value(&command(&eval["minimal"]), "--client-id")
    };
    assert_eq!(id("meterbox").as_deref(), Some("cadline-meterbox"));
    assert_eq!(id("attic").as_deref(), Some("cadline-attic"));
    let eval = evaluate_on("", "{ }", true).unwrap_or_else(|e| panic!("{e}"));
    let failed = eval["minimal"]["failedAssertions"].to_string();
    assert!(
        failed.contains("services.cadline.clientId"),
        "no host name, no client id: {failed}"
    );
    assert_eq!(flag_value(&command(&eval["minimal"]), "--client-id"), None);
    // Set by hand it is used as given, host name or not.
    let eval =
        evaluate_on("", r#"{ clientId = "cadline-7"; }"#, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(eval["custom"]["failedAssertions"], serde_json::json!([]));
    assert_eq!(
        flag_value(&command(&eval["custom"]), "--client-id").as_deref(),
        Some("cadline-7")
    );
}

/// Issue 10: the module gives Telegraf the disk buffer the shipped
/// telegraf.conf has, as defaults a user's agent settings override, in a
/// directory the telegraf unit owns.
#[test]
fn the_module_sets_telegrafs_disk_buffer_as_overridable_defaults() {
    let full = std::fs::read_to_string(repo("telegraf/telegraf.conf")).expect("telegraf.conf");
    assert!(
        full.contains("buffer_strategy = \"disk\""),
        "telegraf.conf changed"
    );
    let eval = evaluated();
    let minimal = &eval["minimal"];
    assert_eq!(
        minimal["agent"],
        serde_json::json!({
            "buffer_strategy": "disk",
            "buffer_directory": "/var/lib/telegraf/buffer"
        })
    );
    assert_eq!(
        minimal["agentDefaults"],
        serde_json::json!(["buffer_directory", "buffer_strategy"]),
        "both mkDefault"
    );
    // systemd creates /var/lib/<StateDirectory> for the telegraf user.
    let state = minimal["stateDirectory"]
        .as_array()
        .expect("StateDirectory list");
    let dir = minimal["agent"]["buffer_directory"]
        .as_str()
        .expect("directory");
    assert!(
        state
            .iter()
            .filter_map(|s| s.as_str())
            .any(|s| dir.starts_with(&format!("/var/lib/{s}/"))),
        "{dir} is not under the unit's StateDirectory {state:?}"
    );
    let off = evaluate("{ diskBuffer = false; }", true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(off["custom"]["agent"], serde_json::json!({}));
    assert_eq!(off["custom"]["stateDirectory"], serde_json::json!([]));
}

/// The package's check phase runs in a sandbox with no Mosquitto, InfluxDB,
/// Telegraf or nix-instantiate: every test module that starts one is
/// skipped in nix/package.nix, or `nix-build` fails in it.
#[test]
fn package_nix_skips_every_test_module_that_needs_a_tool_the_sandbox_lacks() {
    let package = std::fs::read_to_string(repo("nix/package.nix")).expect("package.nix");
    let mut unskipped = Vec::new();
    for entry in std::fs::read_dir(repo("tests")).expect("tests/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        if path.extension().is_none_or(|e| e != "rs") || ["rig", "tests"].contains(&name.as_str()) {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("test source");
        let needs_a_tool = [
            "Mosquitto::start",
            "Influx::start",
            "Telegraf::start",
            "tool(",
            "nix_instantiate",
        ]
        .iter()
        .any(|m| source.contains(m));
        if needs_a_tool && !package.contains(&format!("\"--skip={name}::\"")) {
            unskipped.push(name);
        }
    }
    unskipped.sort();
    assert!(
        unskipped.is_empty(),
        "nix/package.nix runs test modules that need tools the build sandbox lacks: {unskipped:?}"
    );
}

#[test]
fn the_telegraf_snippet_is_safe_and_is_the_one_in_the_readme() {
    let conf = std::fs::read_to_string(repo("telegraf/cadline.conf")).expect("cadline.conf");
    // The command and every commented alternative: a password (or even the
    // path of its file) belongs in `environment`, never in `command`.
    let commands: Vec<&str> = conf
        .lines()
        .map(|l| l.trim_start().trim_start_matches('#').trim_start())
        .filter(|l| l.starts_with("command"))
        .collect();
    let active = conf
        .lines()
        .filter(|l| l.trim_start().starts_with("command"))
        .count();
    assert!(active == 1 && commands.len() > 1, "{commands:?}");
    for command in commands {
        assert!(!command.to_lowercase().contains("password"), "{command}");
    }
    assert!(conf.contains("data_format = \"influx\"") && conf.contains("signal = \"none\""));
    let readme = std::fs::read_to_string(repo("README.md")).expect("README");
    assert!(
        readme.contains(&format!("```toml\n{conf}```")),
        "README must embed telegraf/cadline.conf verbatim"
    );
    for heading in ["## Configuration", "## Metrics", "## Example Output"] {
        assert!(readme.contains(heading), "README lacks {heading}");
    }
    let full = std::fs::read_to_string(repo("telegraf/telegraf.conf")).expect("telegraf.conf");
    assert!(full.contains("[[outputs.influxdb]]") && full.contains("[[inputs.execd]]"));
    let command = conf
        .lines()
        .find(|l| l.trim_start().starts_with("command"))
        .expect("command");
    assert!(
        full.lines().any(|l| l == command),
        "telegraf.conf runs cadline as cadline.conf does"
    );
}

/// Issue 10: `nixos-rebuild switch` restarts the telegraf unit whenever its
/// configuration changed, and systemd stops it with SIGTERM to every
/// process of the unit at once (the NixOS unit keeps the default
/// KillMode=control-group), cadline included. With the module's default
/// settings (persistent session, `--ack-delay 1`, the disk buffer) under
/// the real Telegraf, a stream through such a stop and start loses nothing:
/// neither what was in flight nor what arrived while it was down.
#[test]
fn a_rebuild_restart_with_the_module_defaults_loses_no_reading() {
    use crate::rig::{cadline_pids, wait_for_cadlines, Influx, Mosquitto, Telegraf, TempDir};
    use crate::telegraf::{
        influx_output, nixos_agent_toml, nixos_execd_toml, reading, wait_for_points,
    };
    use std::time::Duration;
    const TOPIC: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";

    let broker = Mosquitto::start();
    let influx = Influx::start();
    // Stands for /var/lib/telegraf, which systemd keeps across restarts.
    let state = TempDir::new("nixos-state");
    let config = nixos_agent_toml("minimal", state.path())
        + &nixos_execd_toml("minimal", &broker.url())
        + &influx_output(&influx, "rebuild");
    let mut telegraf = Telegraf::start(&config);
    assert!(
        telegraf.wait_for_log("I! [inputs.execd] Connected to", 1, Duration::from_secs(20)),
        "cadline did not connect under Telegraf:\n{}",
        telegraf.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    let (stop_at, restart_at, total) = (100, 150, 200);
    for seq in 1..=total {
        broker.publish(TOPIC, &reading(seq), 1);
        if seq == stop_at {
            // systemd's stop: SIGTERM to cadline and Telegraf together.
            for pid in cadline_pids(&broker.url()) {
                crate::rig::signal(pid, "TERM");
            }
            let status = telegraf.stop(Duration::from_secs(15));
            assert!(
                status.is_some_and(|s| s.success()),
                "Telegraf stopped on SIGTERM ({status:?}):\n{}",
                telegraf.log()
            );
            assert!(
                wait_for_cadlines(&broker.url(), 0, Duration::from_secs(5)).is_empty(),
                "cadline outlived the stop by 5 s"
            );
        }
        if seq == restart_at {
            telegraf.start_again();
        }
    }
    let got = wait_for_points(
        &influx,
        "rebuild",
        "electricitymeter",
        "cumulative",
        total,
        Duration::from_secs(30),
    );
    assert_eq!(
        got,
        total,
        "readings stored of {total} published:\n{}",
        telegraf.log()
    );
}

/// The README's NixOS section cites tests by name for what it promises:
/// each one it names exists.
#[test]
fn the_tests_the_nixos_section_cites_exist() {
    let readme = std::fs::read_to_string(repo("README.md")).expect("README");
    let section = readme
        .split("\n## NixOS\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a NixOS section");
    let cited: Vec<&str> = section
        .split('`')
        .filter(|w| {
            w.split_once("::").is_some_and(|(m, f)| {
                !m.is_empty()
                    && !f.is_empty()
                    && !f.contains(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            })
        })
        .collect();
    assert!(cited.len() >= 2, "{cited:?}");
    for test in cited {
        let (module, name) = test.split_once("::").expect("module::name");
        let source = std::fs::read_to_string(repo(&format!("tests/{module}.rs")))
            .unwrap_or_else(|e| panic!("{test}: tests/{module}.rs: {e}"));
        assert!(
            source.contains(&format!("#[test]\nfn {name}()")),
            "the README cites {test}, which is not a test"
        );
    }
}

/// `nix/package.nix` evaluated with a stub `lib` and a `buildRustPackage`
/// that returns its arguments: the source set (as paths) and `postInstall`.
fn package_attrs() -> (Vec<PathBuf>, String) {
    let expr = format!(
        "let lib = {{ importTOML = f: builtins.fromTOML (builtins.readFile f); \
           fileset = {{ unions = fs: fs; toSource = {{ root, fileset }}: map toString fileset; }}; \
           concatMapStringsSep = sep: f: xs: builtins.concatStringsSep sep (map f xs); }}; \
         pkg = import {} {{ inherit lib; rustPlatform.buildRustPackage = a: a; \
           procps = null; versionCheckHook = null; }}; \
         in {{ inherit (pkg) src postInstall; }}",
        repo("nix/package.nix").display()
    );
    let out = run_with_timeout(
        Command::new(nix_instantiate()).args(["--eval", "--strict", "--json", "-E", &expr]),
        None,
        TOOL_TIMEOUT,
        "nix-instantiate --eval package.nix",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let src = v["src"]
        .as_array()
        .expect("src")
        .iter()
        .map(|p| PathBuf::from(p.as_str().expect("path")))
        .collect();
    (
        src,
        v["postInstall"].as_str().expect("postInstall").to_owned(),
    )
}

/// The Debian package installs every `telegraf/*.conf` as an example; the
/// Nix package must too (`at-least-once.conf` was once left out). Its
/// `postInstall` is run here with `$out` in a temporary directory and a
/// `substituteInPlace` that fails, as stdenv's `--replace-fail` does, when
/// the text to replace is missing.
#[test]
fn the_package_installs_every_shipped_telegraf_file() {
    let mut shipped: Vec<String> = std::fs::read_dir(repo("telegraf"))
        .expect("telegraf/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    shipped.sort();
    assert!(shipped.len() >= 3, "{shipped:?}");
    let (src, post_install) = package_attrs();
    let out = crate::rig::TempDir::new("nix-out");
    let script = format!(
        "set -e\nsubstituteInPlace() {{ f=$1; [ \"$2\" = --replace-fail ] && \
         grep -qF \"$3\" \"$f\" && sed -i \"s|$3|$4|g\" \"$f\"; }}\nout={}\n{post_install}",
        out.path().display()
    );
    let run = run_with_timeout(
        Command::new("sh")
            .args(["-c", &script])
            .current_dir(repo("")),
        None,
        TOOL_TIMEOUT,
        "the package's postInstall",
    );
    assert!(
        run.status.success(),
        "{post_install}\nfailed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let examples = out.path().join("share/doc/cadline/examples");
    let mut installed: Vec<String> = std::fs::read_dir(&examples)
        .expect("examples installed")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    installed.sort();
    assert_eq!(
        installed, shipped,
        "installed examples against telegraf/*.conf"
    );
    for name in &shipped {
        assert!(
            src.contains(&repo(&format!("telegraf/{name}"))),
            "telegraf/{name} is not in the package's source set: {src:?}"
        );
        let text = std::fs::read_to_string(examples.join(name)).expect("example");
        assert!(
            !text.contains("/usr/local/bin/cadline"),
            "{name} still runs /usr/local/bin/cadline"
        );
    }
    let conf = std::fs::read_to_string(examples.join("cadline.conf")).expect("cadline.conf");
    assert!(
        conf.contains(&format!("\"{}/bin/cadline\"", out.path().display())),
        "the example runs the package's cadline:\n{conf}"
    );
}
