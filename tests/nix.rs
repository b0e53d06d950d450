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
    let out = run_with_timeout(
        Command::new(nix_instantiate())
            .args(["--eval", "--strict", "--json"])
            .arg(repo("tests/nix/stub-eval.nix"))
            .args(["--arg", "override", override_])
            .args([
                "--arg",
                "pathWith",
                if path_with { "true" } else { "false" },
            ]),
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
    for (case, want) in [("minimal", 0), ("everything", 1)] {
        let args = command(&eval[case]);
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
        if want == 1 {
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
            r#"{ qos = 0; logLevel = "debug"; mqttVersion = "5"; keepAlive = 5; passwordFile = "/run/secrets/p"; }"#,
            path_with,
        )
        .unwrap_or_else(|e| panic!("pathWith {path_with}: {e}"));
        let cmd = command(&ok["custom"]).join(" ");
        assert!(
            cmd.contains("--qos 0")
                && cmd.contains("--mqtt-version 5")
                && cmd.contains("--keep-alive 5"),
            "{cmd}"
        );
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

#[test]
fn the_dashboard_is_importable_and_uses_the_schema() {
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("telegraf/grafana-dashboard.json")).expect("dashboard"),
    )
    .expect("valid JSON");
    assert!(dash["id"].is_null() && dash["uid"].as_str().is_some_and(|u| u.len() <= 40));
    assert_eq!(dash["schemaVersion"], 39);
    assert!(
        dash.get("__inputs").is_none(),
        "a datasource variable imports and provisions; __inputs does not provision"
    );
    for q in dashboard_queries() {
        // Every FROM names a measurement of the schema, and there is one.
        let from: Vec<&str> = q
            .split("FROM ")
            .skip(1)
            .map(|rest| rest.split_whitespace().next().unwrap_or_default())
            .collect();
        assert!(!from.is_empty(), "no FROM: {q}");
        for m in from {
            assert!(
                ["electricitymeter", "gasmeter", "cadstate", "glowsensorth1"]
                    .iter()
                    .any(|known| m == format!("\"{known}\"")),
                "unknown measurement {m}: {q}"
            );
        }
        assert!(
            q.contains("$timeFilter") && q.contains("/^$device$/"),
            "{q}"
        );
    }
    for panel in dash["panels"].as_array().expect("panels") {
        assert!(
            !["graph", "singlestat"].contains(&panel["type"].as_str().unwrap_or("")),
            "Angular panel"
        );
        assert_eq!(panel["datasource"]["uid"], "${datasource}");
    }
}

/// Every raw InfluxQL query of the dashboard's panels.
pub fn dashboard_queries() -> Vec<String> {
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("telegraf/grafana-dashboard.json")).expect("dashboard"),
    )
    .expect("valid JSON");
    let queries: Vec<String> = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            assert_eq!(t["rawQuery"], true, "{t}");
            t["query"].as_str().expect("raw query").to_owned()
        })
        .collect();
    assert!(queries.iter().all(|q| !q.trim().is_empty()));
    assert!(queries.len() >= 4);
    queries
}
