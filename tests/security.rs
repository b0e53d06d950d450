//! Security properties a user relies on: the broker password never shows
//! (command line, stderr, stdout), TLS always verifies, no unsafe code.

use std::time::Duration;

use crate::rig::{electricity, make_tls, BrokerConfig, BrokerTls, Cadline, Mosquitto, TempDir};

const SECRET: &str = "s3cret-Horse-Battery";

#[test]
fn the_password_never_shows() {
    let broker = Mosquitto::with(BrokerConfig {
        login: Some(("meter".into(), SECRET.into())),
        ..BrokerConfig::persistent()
    });
    let url = broker.url();
    let dir = TempDir::new("secret");
    let file = dir.path().join("pw");
    std::fs::write(&file, format!("{SECRET}\n")).expect("write");
    let path = file.to_str().expect("utf-8");
    for (args, env) in [
        (
            vec![
                "--broker",
                url.as_str(),
                "--username",
                "meter",
                "--password-file",
                path,
                "--log-level",
                "debug",
            ],
            vec![],
        ),
        (
            vec![
                "--broker",
                url.as_str(),
                "--username",
                "meter",
                "--log-level",
                "debug",
            ],
            vec![("CADLINE_MQTT_PASSWORD", SECRET)],
        ),
    ] {
        let c = Cadline::spawn(&args, &env);
        c.wait_connected();
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", c.pid())).expect("cmdline");
        assert!(!String::from_utf8_lossy(&cmdline).contains(SECRET));
        broker.publish(
            "glow/0A1B2C3D4E5F/SENSOR/electricitymeter",
            &electricity(1),
            1,
        );
        let line = c.next_line(Duration::from_secs(5)).expect("a line");
        assert!(!line.contains(SECRET));
        assert!(
            c.stderr().iter().all(|l| !l.contains(SECRET)),
            "{:?}",
            c.stderr()
        );
    }
    // A wrong password is reported without being echoed.
    let c = Cadline::spawn(
        &["--broker", &url, "--username", "meter"],
        &[("CADLINE_MQTT_PASSWORD", "not-the-Secret-9")],
    );
    assert!(c.wait_for_stderr("E! ", Duration::from_secs(10)));
    assert!(
        c.stderr().iter().all(|l| !l.contains("not-the-Secret-9")),
        "{:?}",
        c.stderr()
    );
}

#[test]
fn there_is_no_password_flag_and_no_way_to_skip_tls_verification() {
    let help = crate::rig::run_with_timeout(
        std::process::Command::new(env!("CARGO_BIN_EXE_cadline")).arg("--help"),
        None,
        crate::rig::TOOL_TIMEOUT,
        "cadline --help",
    );
    let help = String::from_utf8_lossy(&help.stdout).to_lowercase();
    assert!(
        !help.contains("--password "),
        "a --password flag would put secrets on command lines"
    );
    assert!(
        !help.contains("insecure") && !help.contains("skip-verify") && !help.contains("no-verify")
    );
}

#[test]
fn tls_verifies_against_the_system_roots_by_default() {
    let dir = TempDir::new("tls-default");
    let tls = make_tls(dir.path());
    let broker = Mosquitto::with(BrokerConfig {
        tls: Some(BrokerTls {
            ca: tls.ca.clone(),
            cert: tls.server_cert.clone(),
            key: tls.server_key.clone(),
            require_client_cert: false,
            publisher_cert: None,
        }),
        ..BrokerConfig::persistent()
    });
    // The test CA is in no system store: without --ca-file this must fail.
    let c = Cadline::spawn(&["--broker", &broker.url()], &[]);
    assert!(
        c.wait_for_stderr("E! ", Duration::from_secs(10)),
        "{:?}",
        c.stderr()
    );
    assert!(
        c.stderr().join("\n").to_lowercase().contains("certificate"),
        "{:?}",
        c.stderr()
    );
    assert!(!c.stderr().iter().any(|l| l.contains("onnected to")));
}

#[test]
fn the_crate_forbids_unsafe_code() {
    for file in ["src/lib.rs", "src/main.rs"] {
        let text =
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
                .expect("source");
        assert!(text.contains("#![forbid(unsafe_code)]"), "{file}");
    }
}
