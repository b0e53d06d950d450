//! Start-up checks of the TLS files (`--ca-file`, `--cert-file`,
//! `--key-file`), so that a wrong file is one `E!` line naming the flag and
//! the expected format, and a non-zero exit, instead of a handshake error
//! retried every 10 s for ever.
//!
//! Pure: takes the bytes the caller read. Parses with the rustls that
//! rumqttc already uses (and re-exports), so a file accepted here is a file
//! the connection accepts.

use std::sync::Arc;

use rumqttc::tokio_rustls::rustls;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What to say about an encrypted key: cadline runs unattended and cannot
/// ask for a passphrase.
const ENCRYPTED_KEY: &str = "holds an encrypted private key, and cadline cannot ask for its \
    passphrase: decrypt it once with `openssl pkey -in KEY -out KEY.plain` (it asks for the \
    passphrase), make KEY.plain readable only by the user cadline runs as, and give that";

/// Every PEM section of a file, or why it is not PEM.
fn sections(bytes: &[u8]) -> Result<Vec<(SectionKind, Vec<u8>)>, String> {
    // The traditional (OpenSSL 1.x `genrsa -des3`) form: headers inside the
    // section, which the PEM reader calls a base64 error.
    if String::from_utf8_lossy(bytes).contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "{ENCRYPTED_KEY} (this one is in the traditional form, `Proc-Type: 4,ENCRYPTED`)"
        ));
    }
    <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("is not valid PEM ({e})"))
}

/// What a file without the sections we wanted holds instead, in words.
fn what_it_is(bytes: &[u8], sections: &[(SectionKind, Vec<u8>)]) -> &'static str {
    let text = String::from_utf8_lossy(bytes);
    if matches!(bytes, [0x30, 0x80..=0x84, ..]) {
        // An ASN.1 SEQUENCE with a long-form length: what DER files start with.
        "is DER (binary), not PEM; convert it with `openssl x509 -inform der -in FILE -out FILE.pem` \
         (a key: `openssl pkey -inform der ...`)"
    } else if text.contains("ENCRYPTED") {
        ENCRYPTED_KEY
    } else if sections.iter().any(|(k, _)| is_key(*k)) {
        "holds a private key, not a certificate"
    } else if sections.iter().any(|(k, _)| *k == SectionKind::Certificate) {
        "holds a certificate, not a private key"
    } else if bytes.iter().all(u8::is_ascii_whitespace) {
        "is empty"
    } else {
        "holds no PEM section (-----BEGIN ...-----)"
    }
}

fn is_key(kind: SectionKind) -> bool {
    matches!(
        kind,
        SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
    )
}

/// The certificates of a PEM file named by `flag`, each checked to be an
/// X.509 certificate.
fn certificates(
    flag: &str,
    path: &str,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail = |why: &str| {
        format!("{flag} {path} {why}; expected PEM certificates (-----BEGIN CERTIFICATE-----)")
    };
    let sections = sections(bytes).map_err(|why| fail(&why))?;
    let certs: Vec<CertificateDer<'static>> = sections
        .iter()
        .filter(|(k, _)| *k == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der.clone()))
        .collect();
    if certs.is_empty() {
        return Err(fail(what_it_is(bytes, &sections)));
    }
    for (i, cert) in certs.iter().enumerate() {
        let mut store = rustls::RootCertStore::empty();
        store.add(cert.clone()).map_err(|e| {
            fail(&format!(
                "has a certificate (number {}) that does not parse ({e})",
                i + 1
            ))
        })?;
    }
    Ok(certs)
}

/// Checks `--ca-file`: PEM, at least one certificate, each one parses.
pub fn check_ca(path: &str, bytes: &[u8]) -> Result<(), String> {
    certificates("--ca-file", path, bytes).map(drop)
}

/// Checks `--cert-file` and `--key-file`: PEM, a certificate and an
/// unencrypted private key that rustls can use, and that they belong
/// together (the certificate's public key is the key's).
pub fn check_client(
    cert_path: &str,
    cert: &[u8],
    key_path: &str,
    key: &[u8],
) -> Result<(), String> {
    let certs = certificates("--cert-file", cert_path, cert)?;
    let fail = |why: &str| {
        format!(
            "--key-file {key_path} {why}; expected an unencrypted private key in PEM \
             (-----BEGIN PRIVATE KEY-----, or RSA/EC PRIVATE KEY)"
        )
    };
    let key_sections = sections(key).map_err(|why| fail(&why))?;
    let key_der = match PrivateKeyDer::from_pem_slice(key) {
        Ok(k) => k,
        Err(_) => return Err(fail(what_it_is(key, &key_sections))),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    match rustls::sign::CertifiedKey::from_der(certs, key_der, &provider) {
        Ok(_) => Ok(()),
        Err(rustls::Error::InconsistentKeys(_)) => Err(format!(
            "--cert-file {cert_path} and --key-file {key_path} do not belong together: the \
             certificate is for another key"
        )),
        // webpki parses the certificate to match it with the key.
        Err(rustls::Error::InvalidCertificate(e))
            if e.to_string().contains("UnsupportedCertVersion") =>
        {
            Err(format!(
                "--cert-file {cert_path} is an X.509 version 1 certificate, which is what \
                 `openssl x509 -req` makes without -extfile (as in mosquitto-tls(7)); cadline's \
                 TLS library (rustls) accepts only version 3. Reissue it: `printf \
                 'basicConstraints=CA:FALSE\\nextendedKeyUsage=clientAuth\\n' > client.ext` and \
                 `openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out \
                 client.crt -days 365 -extfile client.ext`"
            ))
        }
        Err(rustls::Error::InvalidCertificate(e)) => Err(format!(
            "--cert-file {cert_path} holds a certificate rustls cannot use ({e}); reissue it"
        )),
        Err(e) => Err(fail(&format!("cannot be used ({e})"))),
    }
}
