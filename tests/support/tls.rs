//! Certificates made per test with the `openssl` command.
//!
//! rustls (under rumqttc) is strict where OpenSSL is lenient: it wants
//! X.509 v3 certificates, refuses a CA certificate used as a leaf, and reads
//! keys best as PKCS#8 PEM. So every key comes from `openssl genpkey`
//! (PKCS#8, EC P-256), the CAs say `CA:TRUE`, and the leaves say `CA:FALSE`
//! with the right extended key usage.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::tools::find_tool;

/// The files [`make_tls`] writes.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The CA that signed the server and client certificates.
    pub ca_cert: PathBuf,
    /// CN=localhost, subjectAltName DNS:localhost and IP:127.0.0.1.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// CN=cadline-test-client, clientAuth.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed none of the above, for "verification fails" tests.
    pub other_ca_cert: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(find_tool("openssl"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn genkey(dir: &Path, file: &str) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            file,
        ],
    );
}

fn make_ca(dir: &Path, name: &str, cn: &str) {
    genkey(dir, &format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-sha256",
            "-days",
            "7",
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-addext",
            "subjectKeyIdentifier=hash",
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

fn make_leaf(dir: &Path, name: &str, cn: &str, extensions: &str, serial: &str) {
    genkey(dir, &format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={cn}"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), extensions).expect("extensions file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            serial,
            "-sha256",
            "-days",
            "7",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// Writes a CA, a server and a client certificate it signed, and an
/// unrelated second CA into `dir` (which must outlive whatever reads them).
pub fn make_tls(dir: &Path) -> TlsFiles {
    make_ca(dir, "ca", "cadline test CA");
    make_ca(dir, "other-ca", "cadline unrelated CA");
    let leaf = "basicConstraints=critical,CA:FALSE\n\
                keyUsage=critical,digitalSignature,keyEncipherment\n\
                subjectKeyIdentifier=hash\n\
                authorityKeyIdentifier=keyid\n";
    make_leaf(
        dir,
        "server",
        "localhost",
        &format!("{leaf}extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"),
        "1001",
    );
    make_leaf(
        dir,
        "client",
        "cadline-test-client",
        &format!("{leaf}extendedKeyUsage=clientAuth\n"),
        "1002",
    );
    TlsFiles {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        other_ca_cert: dir.join("other-ca.pem"),
    }
}
