//! Start-up as a new user meets it: a password file the service user cannot
//! read, and stdin on /dev/null.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::rig::{Mosquitto, TempDir, Watched};

/// The uid cadline is run as here: `nobody`, as Telegraf's service runs it
/// as `telegraf`, when the tests run as root (as tests/run.sh does);
/// otherwise the tests' own user, with files it owns but may not read.
fn service_uid() -> u32 {
    let me = std::fs::metadata("/proc/self").expect("/proc/self").uid();
    if me == 0 {
        65534
    } else {
        me
    }
}

/// cadline as `service_uid()`, stdin kept open, its output once it exited.
fn run_as_service(args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cadline"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let uid = service_uid();
    if uid == 65534 {
        // std drops root's supplementary groups when it sets the uid.
        cmd.uid(uid).gid(65534);
    }
    let mut c = Watched::spawn(&mut cmd, "cadline as the service user");
    let stdin = c.take_stdin();
    let out = c.finish(Duration::from_secs(10), "to refuse the file");
    drop(stdin);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_password_file_the_service_user_cannot_read_names_the_user_the_owner_and_the_fix() {
    let broker = Mosquitto::start();
    let dir = TempDir::new("pw-perm");
    // The temporary directory itself must be open to the service user.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let pw = dir.path().join("mqtt-password");
    std::fs::write(&pw, "s3cret-horse\n").expect("write");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    if service_uid() != 65534 {
        // Not root: our own file, closed to ourselves.
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    }
    let path = pw.to_str().expect("utf-8");
    let url = broker.url();
    let (code, stderr) = run_as_service(&[
        "--broker",
        &url,
        "--username",
        "meter",
        "--password-file",
        path,
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let line = stderr.trim_end();
    let uid = service_uid();
    for part in [
        "E! cannot read --password-file ",
        &format!("(uid {uid}), which cadline runs as"),
        if uid == 65534 {
            "owned by root:root with mode 0600"
        } else {
            "with mode 0000"
        },
        "chmod 0640",
        &format!("LoadCredential=cadline-mqtt-password:{path}"),
        "/run/credentials/telegraf.service/cadline-mqtt-password",
    ] {
        assert!(line.contains(part), "{part:?} not in {line}");
    }
    if uid == 65534 {
        // The user by name, from the system's user database.
        let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
        let name = passwd
            .lines()
            .find(|l| l.split(':').nth(2) == Some("65534"))
            .and_then(|l| l.split(':').next())
            .expect("a user with uid 65534");
        assert!(line.contains(&format!("user {name} (uid 65534)")), "{line}");
    }
    assert!(!line.contains("s3cret"), "{line}");

    // A directory on the way that the user cannot enter is named instead.
    if uid == 65534 {
        let closed = dir.path().join("closed");
        std::fs::create_dir(&closed).expect("mkdir");
        let inner = closed.join("pw");
        std::fs::write(&inner, "s3cret-horse\n").expect("write");
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let (code, stderr) = run_as_service(&[
            "--broker",
            &url,
            "--username",
            "meter",
            "--password-file",
            inner.to_str().expect("utf-8"),
        ]);
        assert_eq!(code, Some(1), "{stderr}");
        let closed = closed.to_str().expect("utf-8");
        assert!(
            stderr.contains(&format!(
                "the directory {closed} (owned by root:root with mode 0700) is closed to that user"
            )) && stderr.contains(&format!("chmod o+x {closed}")),
            "{stderr}"
        );
    }
}

#[test]
fn stdin_on_dev_null_says_why_and_exits_without_connecting() {
    let broker = Mosquitto::start();
    let output = Watched::spawn(
        Command::new(env!("CARGO_BIN_EXE_cadline"))
            .args(["--broker", &broker.url(), "--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        "cadline < /dev/null",
    )
    .finish(Duration::from_secs(5), "with stdin on /dev/null, to exit");
    assert!(output.status.success(), "{:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    // One line: the cause and the remedy. Before, "I! Stdin closed (Telegraf
    // is stopping or reloading)" came first, then "I! Connected to ...".
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("W! stdin is /dev/null: ")
            && stderr.contains("exits now without connecting")
            && stderr.contains("sleep infinity | cadline"),
        "{stderr}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !broker.log().contains("New client connected"),
        "the broker saw a connection:\n{}",
        broker.log()
    );
}
