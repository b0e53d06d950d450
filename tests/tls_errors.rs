//! TLS errors on the real binary, with real Mosquitto listeners and
//! certificates made with openssl the way users make them: each is one line
//! naming what is wrong and the fix, and where the line gives a command,
//! the test runs that command and cadline then connects.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::rig::{
    electricity, run_with_timeout, seq_of, BrokerConfig, BrokerTls, Cadline, Mosquitto, TempDir,
    TOOL_TIMEOUT,
};

const E: &str = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// Runs openssl in `dir`, optionally under libfaketime at `faketime`.
fn openssl(dir: &Path, args: &[&str], faketime: Option<&str>) {
    let mut cmd = Command::new(crate::rig::tool("openssl", "openssl"));
    cmd.current_dir(dir).args(args);
    if let Some(at) = faketime {
        cmd.env("LD_PRELOAD", faketime_lib()).env("FAKETIME", at);
    }
    let out = run_with_timeout(&mut cmd, None, TOOL_TIMEOUT, "openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn faketime_lib() -> PathBuf {
    std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.is_file())
        .expect("libfaketime.so.1 not found: install it with `apt-get install -y libfaketime` (or run tests/run.sh, which does)")
}

/// The commands of mosquitto-tls(7) (Mosquitto 2.0.11's page), run with
/// OpenSSL 3.0 as written, except that the prompts are answered on the
/// command line (`-subj`, `-passout`/`-passin`): a CA (`ca.crt`, its key
/// encrypted as the page's command leaves it), and a server and a client
/// key, CSR and certificate signed by it. `openssl x509 -req` without
/// `-extfile` makes X.509 version 1 certificates. In `dir/page`, which it
/// returns (apart from `make_tls`'s files of the same names).
fn mosquitto_tls_page(dir: &Path) -> PathBuf {
    let dir = dir.join("page");
    std::fs::create_dir(&dir).expect("page dir");
    let run = |args: &[&str]| openssl(&dir, args, None);
    run(&[
        "req",
        "-new",
        "-x509",
        "-days",
        "2",
        "-extensions",
        "v3_ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=cadline test CA",
        "-passout",
        "pass:ca-pass",
    ]);
    for (name, cn) in [("server", "localhost"), ("client", "cadline")] {
        run(&["genrsa", "-out", &format!("{name}.key"), "2048"]);
        run(&[
            "req",
            "-out",
            &format!("{name}.csr"),
            "-key",
            &format!("{name}.key"),
            "-new",
            "-subj",
            &format!("/CN={cn}"),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-passin",
            "pass:ca-pass",
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
        ]);
    }
    dir
}

/// Takes the shell command between backticks after `after` in `line`,
/// with `<broker host>` made `localhost`, and runs it in `dir` (sh, so the
/// `printf ... > file` the lines give works as the user would type it).
fn run_the_fix(dir: &Path, line: &str, after: &str) {
    let start = line
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} in {line}"))
        + after.len();
    let rest = &line[start..];
    let open = rest.find('`').expect("a command in backticks") + 1;
    let close = open + rest[open..].find('`').expect("its end");
    let command = rest[open..close].replace("<broker host>", "localhost");
    // The CA key of mosquitto_tls_page() is encrypted; the user types its
    // passphrase at the prompt.
    let command = if command.contains("-CAkey ca.key") {
        command.replace("-CAkey ca.key", "-CAkey ca.key -passin pass:ca-pass")
    } else {
        command
    };
    let out = run_with_timeout(
        Command::new("sh").arg("-c").arg(&command).current_dir(dir),
        None,
        TOOL_TIMEOUT,
        "the fix",
    );
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn broker(ca: &Path, cert: &Path, key: &Path, client: Option<(PathBuf, PathBuf)>) -> Mosquitto {
    Mosquitto::with(BrokerConfig {
        tls: Some(BrokerTls {
            ca: ca.to_owned(),
            cert: cert.to_owned(),
            key: key.to_owned(),
            require_client_cert: client.is_some(),
            publisher_cert: client,
        }),
        ..BrokerConfig::default()
    })
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

/// The first `E!` line, waited for.
fn error_line(c: &Cadline) -> String {
    assert!(c.wait_for_stderr("E! ", SECS(15)), "{:?}", c.stderr());
    c.stderr()
        .into_iter()
        .find(|l| l.starts_with("E! "))
        .expect("an E! line")
}

fn connects_and_delivers(c: &Cadline, broker: &Mosquitto, seq: u64) {
    c.wait_connected();
    broker.publish(E, &electricity(seq), 1);
    assert_eq!(
        c.next_line(SECS(5)).as_deref().and_then(seq_of),
        Some(seq),
        "{:?}",
        c.stderr()
    );
}

#[test]
fn a_version_1_broker_certificate_from_the_mosquitto_tls_page_is_explained_and_the_fix_works() {
    let dir = TempDir::new("tls-v1");
    let d = &mosquitto_tls_page(dir.path());
    let v1 = broker(
        &d.join("ca.crt"),
        &d.join("server.crt"),
        &d.join("server.key"),
        None,
    );
    let c = Cadline::spawn(
        &["--broker", &v1.url(), "--ca-file", s(&d.join("ca.crt"))],
        &[],
    );
    let line = error_line(&c);
    for part in [
        "the broker's certificate is X.509 version 1",
        "mosquitto-tls(7)",
        "accepts only version 3",
        "-extfile server.ext",
    ] {
        assert!(line.contains(part), "{part:?}: {line}");
    }
    assert!(!line.contains("Other(OtherError"), "{line}");
    drop(c);
    // The line's own commands, run as given (the host filled in), make a
    // certificate cadline accepts.
    run_the_fix(d, &line, "Reissue it on the broker: ");
    run_the_fix(d, &line, "` and ");
    let v3 = broker(
        &d.join("ca.crt"),
        &d.join("server.crt"),
        &d.join("server.key"),
        None,
    );
    let c = Cadline::spawn(
        &["--broker", &v3.url(), "--ca-file", s(&d.join("ca.crt"))],
        &[],
    );
    connects_and_delivers(&c, &v3, 71);
}

#[test]
fn a_self_signed_ca_certificate_as_its_own_ca_file_is_explained_and_the_fix_works() {
    let dir = TempDir::new("tls-self");
    let d = dir.path();
    // What a user makes for a quick TLS broker; OpenSSL 3.0 marks it
    // CA:TRUE.
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
        None,
    );
    let (cert, key) = (d.join("server.crt"), d.join("server.key"));
    let b = broker(&cert, &cert, &key, None);
    let c = Cadline::spawn(&["--broker", &b.url(), "--ca-file", s(&cert)], &[]);
    let line = error_line(&c);
    for part in [
        "is a CA certificate",
        "CA:TRUE",
        "basicConstraints=critical,CA:FALSE",
        "--ca-file",
    ] {
        assert!(line.contains(part), "{part:?}: {line}");
    }
    assert!(!line.contains("Other(OtherError"), "{line}");
    drop(c);
    drop(b);
    run_the_fix(d, &line, "give it as --ca-file again: ");
    let b = broker(&cert, &cert, &key, None);
    let c = Cadline::spawn(&["--broker", &b.url(), "--ca-file", s(&cert)], &[]);
    connects_and_delivers(&c, &b, 72);
}

#[test]
fn a_broker_certificate_without_subject_alt_name_is_not_told_to_use_a_name_it_lists() {
    let dir = TempDir::new("tls-nosan");
    let d = dir.path();
    let tls = crate::rig::make_tls(d);
    // The test CA's server CSR, signed with no subjectAltName.
    std::fs::write(
        d.join("nosan.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "nosan.pem",
            "-days",
            "2",
            "-extfile",
            "nosan.ext",
        ],
        None,
    );
    let b = broker(&tls.ca, &d.join("nosan.pem"), &tls.server_key, None);
    let c = Cadline::spawn(&["--broker", &b.url(), "--ca-file", s(&tls.ca)], &[]);
    let line = error_line(&c);
    assert!(
        line.contains("names no host") && line.contains("subjectAltName=DNS:localhost"),
        "{line}"
    );
    assert!(!line.contains("a name it lists"), "{line}");
}

#[test]
fn a_version_1_client_certificate_is_blamed_on_the_cert_file_and_the_fix_works() {
    let dir = TempDir::new("tls-v1-client");
    let tls = crate::rig::make_tls(dir.path());
    let d = &mosquitto_tls_page(dir.path());
    let (ca, client_crt, client_key) =
        (d.join("ca.crt"), d.join("client.crt"), d.join("client.key"));
    let args = |url: &str| {
        vec![
            "--broker".to_owned(),
            url.to_owned(),
            "--ca-file".into(),
            s(&tls.ca).to_owned(),
            "--cert-file".into(),
            s(&client_crt).to_owned(),
            "--key-file".into(),
            s(&client_key).to_owned(),
        ]
    };
    // Checked at start: no broker needed.
    let url = format!("mqtts://localhost:{}", crate::rig::free_port());
    let all = args(&url);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let mut c = Cadline::spawn(&refs, &[]);
    let status = c.wait_exit(SECS(5)).expect("exits at start");
    assert_eq!(status.code(), Some(1));
    let line = error_line(&c);
    assert_eq!(
        c.stderr()
            .iter()
            .filter(|l| !l.contains("/dev/null"))
            .count(),
        1
    );
    assert!(
        line.contains(&format!(
            "--cert-file {} is an X.509 version 1",
            s(&client_crt)
        )),
        "{line}"
    );
    assert!(!line.contains("--key-file"), "{line}");
    // Reissued as the line says, it is accepted by a broker that requires
    // a client certificate from that CA.
    run_the_fix(d, &line, "Reissue it: ");
    run_the_fix(d, &line, "` and ");
    let b = broker(
        &ca,
        &tls.server_cert,
        &tls.server_key,
        Some((tls.client_cert.clone(), tls.client_key.clone())),
    );
    // The broker's listener trusts the page's CA for clients; cadline
    // trusts the test CA for the broker.
    let all = args(&b.url());
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let c = Cadline::spawn(&refs, &[]);
    c.wait_connected();
}

#[test]
fn a_client_certificate_the_broker_refuses_names_the_cert_file() {
    let dir = TempDir::new("tls-refused");
    let d = dir.path();
    let tls = crate::rig::make_tls(d);
    // The client CSR signed again: once by a CA the broker does not trust,
    // once with the clock at 2020-06-01 for 30 days.
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "other-ca.pem",
            "-CAkey",
            "other-ca.key",
            "-CAcreateserial",
            "-out",
            "client-other.pem",
            "-days",
            "2",
            "-extfile",
            "client.ext",
        ],
        None,
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "client-expired.pem",
            "-days",
            "30",
            "-extfile",
            "client.ext",
        ],
        Some("@2020-06-01 00:00:00"),
    );
    let b = broker(
        &tls.ca,
        &tls.server_cert,
        &tls.server_key,
        Some((tls.client_cert.clone(), tls.client_key.clone())),
    );
    let url = b.url();
    let running: Vec<(Cadline, &str)> = [
        ("client-expired.pem", "has expired"),
        ("client-other.pem", "not signed by a CA the broker trusts"),
    ]
    .into_iter()
    .map(|(cert, why)| {
        let cert = d.join(cert);
        let c = Cadline::spawn(
            &[
                "--broker",
                &url,
                "--ca-file",
                s(&tls.ca),
                "--cert-file",
                s(&cert),
                "--key-file",
                s(&tls.client_key),
            ],
            &[],
        );
        (c, why)
    })
    .collect();
    for (c, why) in &running {
        let line = error_line(c);
        assert!(
            line.contains("the broker refused cadline's client certificate (--cert-file)")
                && line.contains(why),
            "{why:?}: {line}"
        );
        assert!(!line.contains("broker's certificate"), "{line}");
    }
}

#[test]
fn an_encrypted_key_in_the_traditional_form_is_called_encrypted_and_the_fix_works() {
    let dir = TempDir::new("tls-enc");
    let d = dir.path();
    let tls = crate::rig::make_tls(d);
    // OpenSSL 1.x `genrsa -des3` wrote this form; 3.0 does with -traditional.
    // A key for the test client certificate, so the fix can be checked.
    openssl(
        d,
        &[
            "pkey",
            "-in",
            "client.key",
            "-traditional",
            "-des3",
            "-passout",
            "pass:key-pass",
            "-out",
            "client-enc.key",
        ],
        None,
    );
    let text = std::fs::read_to_string(d.join("client-enc.key")).expect("key");
    assert!(text.contains("Proc-Type: 4,ENCRYPTED"), "{text}");
    let b = broker(
        &tls.ca,
        &tls.server_cert,
        &tls.server_key,
        Some((tls.client_cert.clone(), tls.client_key.clone())),
    );
    let url = b.url();
    let with_key = |key: &str| {
        Cadline::spawn(
            &[
                "--broker",
                &url,
                "--ca-file",
                s(&tls.ca),
                "--cert-file",
                s(&tls.client_cert),
                "--key-file",
                key,
            ],
            &[],
        )
    };
    let mut c = with_key(s(&d.join("client-enc.key")));
    assert_eq!(c.wait_exit(SECS(5)).and_then(|s| s.code()), Some(1));
    let line = error_line(&c);
    assert!(
        line.contains("holds an encrypted private key") && line.contains("Proc-Type: 4,ENCRYPTED"),
        "{line}"
    );
    assert!(!line.contains("not valid PEM"), "{line}");
    // The fix, with the passphrase the user would type.
    openssl(
        d,
        &[
            "pkey",
            "-in",
            "client-enc.key",
            "-passin",
            "pass:key-pass",
            "-out",
            "client-enc.key.plain",
        ],
        None,
    );
    assert!(
        line.contains("`openssl pkey -in KEY -out KEY.plain`"),
        "{line}"
    );
    let c = with_key(s(&d.join("client-enc.key.plain")));
    connects_and_delivers(&c, &b, 73);
}
