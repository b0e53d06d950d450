//! What a failed TLS handshake means and how to fix it, from the text
//! rumqttc gives (rustls 0.23's and rustls-webpki 0.103's errors, which
//! reach us only as `Display` text).
//!
//! Three kinds of failure, told apart by rustls's words:
//! - `invalid peer certificate: ...`: cadline refused the broker's
//!   certificate (rustls's `CertificateError`, and webpki's errors that
//!   rustls passes on as `Other(OtherError(...))`);
//! - `received fatal alert: ...`: the broker ended the handshake, almost
//!   always refusing cadline's client certificate (`--cert-file`);
//! - `peer is incompatible: ...`: no TLS version or algorithm in common.
//!
//! Each line says what is wrong in the user's words and the openssl command
//! or broker setting that fixes it. Two certificates that OpenSSL (and so
//! mosquitto_sub) accepts are refused by rustls, and no setting changes
//! that: a version 1 certificate (what `openssl x509 -req` makes without
//! `-extfile`, as mosquitto-tls(7) shows) and a CA certificate used as the
//! broker's own (a self-signed `openssl req -x509`). For those the line
//! says why and how to reissue. Like `connection_error`, the text depends on
//! the cause only, never on the moment.

/// Why a TLS handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsCause {
    /// `mqtts://` to a port that does not speak TLS.
    PlainPort,
    /// The broker's certificate is not signed by a CA we trust.
    UnknownIssuer,
    /// The broker's certificate lists other names.
    WrongName,
    /// The broker's certificate lists no name at all (no subjectAltName).
    NoName,
    /// The broker's certificate has expired or is not valid yet.
    Expired,
    /// The broker's certificate is X.509 version 1.
    Version1,
    /// The broker's certificate is a CA certificate (self-signed, CA:TRUE).
    CaAsBroker,
    /// Anything else wrong with the broker's certificate.
    BrokerCertificate,
    /// The broker wants a client certificate and got none.
    ClientCertificateRequired,
    /// The broker refused cadline's client certificate.
    ClientCertificateRefused,
    /// No TLS version or algorithm in common.
    Incompatible,
}

/// A TLS failure, explained: one line for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    pub cause: TlsCause,
    pub text: String,
}

/// The command that issues a broker certificate from a CSR with the
/// extensions rustls needs, as mosquitto-tls(7) writes it plus `-extfile`.
const REISSUE_SERVER: &str =
    "`printf 'subjectAltName=DNS:<broker host>\\nbasicConstraints=CA:FALSE\\n' \
     > server.ext` and `openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
     -CAcreateserial -out server.crt -days 365 -extfile server.ext`";

/// Explains rumqttc's error text if it is a TLS failure; `None` otherwise.
pub fn explain(raw: &str) -> Option<Explained> {
    let (cause, text) = if let Some(alert) = after(raw, "received fatal alert: ") {
        alert_received(alert)
    } else if let Some(problem) = after(raw, "invalid peer certificate: ") {
        broker_certificate(raw, problem)
    } else if let Some(why) = after(raw, "peer is incompatible: ") {
        (
            TlsCause::Incompatible,
            format!(
                "the broker's TLS settings have nothing in common with cadline's ({why}): cadline \
                 (rustls) speaks TLS 1.2 and 1.3 with ECDHE and AES-GCM or ChaCha20; check \
                 `tls_version` and `ciphers` on the broker's listener"
            ),
        )
    } else if raw.starts_with("TLS: I/O:") && {
        let lower = raw.to_ascii_lowercase();
        lower.contains("connection reset")
            || lower.contains("unexpected eof")
            || lower.contains("corrupt")
    } {
        (
            TlsCause::PlainPort,
            format!("{raw}: the broker closed the connection during the TLS handshake; if this port does not speak TLS, use mqtt:// (mqtts:// is for the broker's TLS port, usually 8883)"),
        )
    } else {
        return None;
    };
    Some(Explained { cause, text })
}

/// The text after `label`, to the end.
fn after<'a>(raw: &'a str, label: &str) -> Option<&'a str> {
    raw.find(label).map(|i| raw[i + label.len()..].trim())
}

/// The broker sent a TLS alert: it refused the handshake, nearly always
/// because of cadline's client certificate.
fn alert_received(alert: &str) -> (TlsCause, String) {
    let name = alert.split_whitespace().next().unwrap_or(alert);
    let refused = |why: &str| {
        (
            TlsCause::ClientCertificateRefused,
            format!("the broker refused cadline's client certificate (--cert-file): {why} (TLS alert {name})"),
        )
    };
    match name {
        "CertificateRequired" => (
            TlsCause::ClientCertificateRequired,
            format!("the broker requires a client certificate; give --cert-file and --key-file (TLS alert {name})"),
        ),
        "CertificateExpired" => refused(
            "it has expired or is not valid yet (`openssl x509 -in <cert-file> -noout -dates` \
             shows its dates; check this machine's and the broker's clocks); issue a new one with \
             the CA in the broker's `cafile`: `openssl x509 -req -in client.csr -CA ca.crt -CAkey \
             ca.key -CAcreateserial -out client.crt -days 365 -extfile client.ext`",
        ),
        "UnknownCA" => refused(
            "it is not signed by a CA the broker trusts; sign it with the CA in the broker's \
             `cafile`/`capath` (mosquitto.conf), or add the CA that signed it there",
        ),
        "CertificateRevoked" => refused(
            "the broker's certificate revocation list (`crlfile`) lists it; issue a new one",
        ),
        "AccessDenied" => refused("the certificate is valid but not allowed on this broker"),
        "DecryptError" => refused(
            "its signature did not verify at the broker; check that --key-file is the key of \
             --cert-file",
        ),
        "BadCertificate" | "UnsupportedCertificate" | "CertificateUnknown" => refused(
            "the broker's log says why (Mosquitto: `log_type all`); a certificate without \
             `extendedKeyUsage=clientAuth`, or with an extension the broker does not accept, \
             is the usual cause",
        ),
        "HandshakeFailure" => (
            TlsCause::Incompatible,
            format!(
                "the broker ended the TLS handshake (TLS alert {name}): it wants a client \
                 certificate (--cert-file and --key-file; a TLS 1.2 broker says so this way), \
                 or has no TLS version or cipher in common with cadline (TLS 1.2 or 1.3: check \
                 `tls_version` and `ciphers` on the broker's listener)"
            ),
        ),
        "ProtocolVersion" | "InsufficientSecurity" => (
            TlsCause::Incompatible,
            format!(
                "the broker speaks no TLS version or cipher cadline does (TLS alert {name}): \
                 cadline speaks TLS 1.2 and 1.3; set `tls_version tlsv1.2` (or tlsv1.3) on \
                 the broker's listener"
            ),
        ),
        _ => (
            TlsCause::ClientCertificateRefused,
            format!("the broker ended the TLS handshake (TLS alert {name}); the broker's log says why"),
        ),
    }
}

/// cadline (rustls) refused the broker's certificate.
fn broker_certificate(raw: &str, problem: &str) -> (TlsCause, String) {
    // webpki's errors come through as `Other(OtherError(Name))`.
    let is = |name: &str| problem.contains(name);
    if is("UnsupportedCertVersion") {
        (
            TlsCause::Version1,
            format!(
                "the broker's certificate is X.509 version 1, which is what `openssl x509 -req` \
                 makes without -extfile (as in mosquitto-tls(7)). cadline's TLS library \
                 (rustls) accepts only version 3, which also carries the host names a \
                 certificate is checked against; mosquitto_sub's OpenSSL accepts both. Reissue \
                 it on the broker: {REISSUE_SERVER} (rustls: UnsupportedCertVersion)"
            ),
        )
    } else if is("CaUsedAsEndEntity") {
        (
            TlsCause::CaAsBroker,
            "the broker's certificate is a CA certificate (basicConstraints CA:TRUE, which \
             `openssl req -x509` sets by default) used as the broker's own; cadline's TLS \
             library (rustls) refuses that, though mosquitto_sub's OpenSSL accepts it. Reissue \
             it self-signed but not a CA, and give it as --ca-file again: `openssl req -x509 \
             -newkey rsa:2048 -nodes -keyout server.key -out server.crt -days 3650 -subj \
             /CN=<broker host> -addext subjectAltName=DNS:<broker host> -addext \
             basicConstraints=critical,CA:FALSE`; or sign the broker's certificate with a CA \
             of its own (mosquitto-tls(7), with -extfile) (rustls: CaUsedAsEndEntity)"
                .to_owned(),
        )
    } else if let Some(expired) = expiry(raw) {
        (TlsCause::Expired, expired)
    } else if is("not valid for name") || is("NotValidForName") {
        wrong_name(raw, problem)
    } else if is("UnknownIssuer") {
        (
            TlsCause::UnknownIssuer,
            format!("{raw}: the broker's certificate is not signed by a CA cadline trusts; give the CA that signed it with --ca-file (PEM), and if an intermediate CA signed it, put that intermediate after the certificate in the broker's `certfile`"),
        )
    } else if is("BadSignature") {
        (
            TlsCause::BrokerCertificate,
            "the broker's certificate names the CA in --ca-file as its issuer, but that CA's key \
             did not sign it (a CA made again under the same name?); give the CA that signed it \
             with --ca-file (rustls: BadSignature)"
                .to_owned(),
        )
    } else if is("InvalidPurpose") || is("extended key usage") {
        (
            TlsCause::BrokerCertificate,
            "the broker's certificate is not for a TLS server (its extendedKeyUsage lacks \
             serverAuth); reissue it with `extendedKeyUsage=serverAuth` in its -extfile, or \
             with no extendedKeyUsage (rustls: InvalidPurpose)"
                .to_owned(),
        )
    } else if is("UnsupportedSignatureAlgorithm") {
        (
            TlsCause::BrokerCertificate,
            "the broker's certificate is signed with an algorithm rustls refuses (SHA-1, MD5, \
             DSA or a short RSA key); reissue it with `-sha256` and a key of RSA 2048 bits or \
             more, or EC P-256 (rustls: UnsupportedSignatureAlgorithm)"
                .to_owned(),
        )
    } else if is("EndEntityUsedAsCa") {
        (
            TlsCause::BrokerCertificate,
            "a certificate that signed the broker's is not a CA (no basicConstraints CA:TRUE): \
             make the CA with `-extensions v3_ca` (mosquitto-tls(7)) or `-addext \
             basicConstraints=critical,CA:TRUE`, and sign the broker's certificate again \
             (rustls: EndEntityUsedAsCa)"
                .to_owned(),
        )
    } else if is("CriticalExtension") {
        (
            TlsCause::BrokerCertificate,
            format!("the broker's certificate has a critical extension rustls does not know ({problem}); reissue it without it"),
        )
    } else {
        (
            TlsCause::BrokerCertificate,
            format!("the broker's certificate was refused ({problem}); `openssl s_client -connect <broker host>:<port> -showcerts` shows what the broker sends"),
        )
    }
}

/// An expired or not-yet-valid broker certificate, with its dates.
fn expiry(raw: &str) -> Option<String> {
    if let Some(after) = number_after(raw, "not valid after ") {
        Some(format!(
            "the broker's certificate expired on {} (renew it on the broker, or check this machine's clock)",
            crate::edges::connection_error::utc_date(after)
        ))
    } else if let Some(before) = number_after(raw, "not valid before ") {
        Some(format!(
            "the broker's certificate is not valid before {} (check this machine's clock)",
            crate::edges::connection_error::utc_date(before)
        ))
    } else if raw.contains("certificate expired") || raw.contains("Expired") {
        Some("the broker's certificate has expired (renew it on the broker, or check this machine's clock)".to_owned())
    } else if raw.contains("NotValidYet") {
        Some("the broker's certificate is not valid yet (check this machine's clock)".to_owned())
    } else {
        None
    }
}

/// The decimal number right after `label` in `text`.
fn number_after(text: &str, label: &str) -> Option<i64> {
    let start = text.find(label)? + label.len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The broker's certificate is for other names, or for none.
fn wrong_name(raw: &str, problem: &str) -> (TlsCause, String) {
    // `certificate not valid for name "b.lan"; certificate is only valid for ...`
    let expected = problem
        .split_once("not valid for name \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name.to_owned());
    let san = match &expected {
        Some(name) if name.parse::<std::net::IpAddr>().is_ok() => format!("IP:{name}"),
        Some(name) => format!("DNS:{name}"),
        None => "DNS:<broker host>".to_owned(),
    };
    let expected = expected.unwrap_or_else(|| "the host in --broker".to_owned());
    if problem.contains("not valid for any names") {
        (
            TlsCause::NoName,
            format!(
                "the broker's certificate names no host (it has no subjectAltName, and rustls, \
                 like browsers, ignores the Common Name), so it cannot match {expected}; reissue \
                 it with `subjectAltName={san}` (in the -extfile of `openssl x509 -req`, or \
                 `-addext` of `openssl req -x509`)"
            ),
        )
    } else {
        let listed = problem
            .split_once("is only valid for ")
            .map_or("other names", |(_, names)| names);
        (
            TlsCause::WrongName,
            format!(
                "{raw}: the broker's certificate is for {listed}, not {expected}; put one of \
                 those in --broker, or reissue the certificate with `subjectAltName={san}`"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts as rumqttc 0.25.1 printed them against real Mosquitto 2.0
    /// listeners with openssl-made certificates (tests/tls_errors.rs makes
    /// the same certificates and checks the whole line on the binary).
    #[test]
    fn every_kind_is_recognised_with_its_fix() {
        for (raw, cause, fix) in [
            ("TLS: I/O: invalid peer certificate: Other(OtherError(UnsupportedCertVersion))", TlsCause::Version1, "-extfile server.ext"),
            ("TLS: I/O: invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))", TlsCause::CaAsBroker, "basicConstraints=critical,CA:FALSE"),
            ("TLS: I/O: invalid peer certificate: certificate not valid for name \"localhost\"; certificate is not valid for any names (according to its subjectAltName extension)", TlsCause::NoName, "subjectAltName=DNS:localhost"),
            ("TLS: I/O: invalid peer certificate: certificate not valid for name \"127.0.0.1\"; certificate is not valid for any names (according to its subjectAltName extension)", TlsCause::NoName, "subjectAltName=IP:127.0.0.1"),
            ("TLS: I/O: invalid peer certificate: certificate not valid for name \"b.lan\"; certificate is only valid for DnsName(\"x\")", TlsCause::WrongName, "DnsName(\"x\"), not b.lan"),
            ("TLS: I/O: invalid peer certificate: UnknownIssuer", TlsCause::UnknownIssuer, "--ca-file"),
            ("TLS: I/O: invalid peer certificate: BadSignature", TlsCause::BrokerCertificate, "--ca-file"),
            ("TLS: I/O: invalid peer certificate: certificate does not allow extended key usage for ServerAuth, allows ClientAuth", TlsCause::BrokerCertificate, "extendedKeyUsage=serverAuth"),
            ("TLS: I/O: invalid peer certificate: Other(OtherError(EndEntityUsedAsCa))", TlsCause::BrokerCertificate, "CA:TRUE"),
            ("Mqtt state: Mqtt serialization/deserialization error: IO: received fatal alert: CertificateExpired", TlsCause::ClientCertificateRefused, "--cert-file"),
            ("Mqtt state: Mqtt serialization/deserialization error: IO: received fatal alert: UnknownCA", TlsCause::ClientCertificateRefused, "cafile"),
            ("Mqtt state: Mqtt serialization/deserialization error: IO: received fatal alert: CertificateRequired", TlsCause::ClientCertificateRequired, "--cert-file and --key-file"),
            ("TLS: I/O: received fatal alert: HandshakeFailure", TlsCause::Incompatible, "tls_version"),
            ("TLS: I/O: received fatal alert: ProtocolVersion", TlsCause::Incompatible, "tlsv1.2"),
            ("TLS: I/O: peer is incompatible: NoCipherSuitesInCommon", TlsCause::Incompatible, "ciphers"),
            ("TLS: I/O: Connection reset by peer (os error 104)", TlsCause::PlainPort, "use mqtt://"),
        ] {
            let e = explain(raw).unwrap_or_else(|| panic!("not recognised: {raw}"));
            assert_eq!(e.cause, cause, "{raw}");
            assert!(e.text.contains(fix), "{fix:?} not in {}", e.text);
            // A refused client certificate is never blamed on the broker's.
            if cause == TlsCause::ClientCertificateRefused {
                assert!(!e.text.contains("broker's certificate"), "{}", e.text);
            }
        }
        assert_eq!(explain("I/O: Connection refused (os error 111)"), None);
    }

    #[test]
    fn an_expiry_is_a_date_and_the_text_does_not_change_with_the_clock() {
        let at = |now: u64| {
            explain(&format!(
                "TLS: I/O: invalid peer certificate: certificate expired: verification time {now} (UNIX), \
                 but certificate is not valid after 1593561600 ({} seconds ago)",
                now - 1_593_561_600
            ))
        };
        let (a, b) = (at(1_796_118_928), at(1_796_118_931));
        assert_eq!(a, b);
        let a = a.expect("recognised");
        assert_eq!(a.cause, TlsCause::Expired);
        // `date -u -d @1593561600` says Wed Jul  1 00:00:00 UTC 2020.
        assert!(
            a.text.contains("expired on 2020-07-01 00:00:00 UTC"),
            "{}",
            a.text
        );
    }

    #[test]
    fn lines_fit_in_one_log_line() {
        // messages.rs cuts lines at 1000 bytes; the log adds the broker URL
        // and the attempt count.
        for alert in ["CertificateExpired", "HandshakeFailure", "BadCertificate"] {
            let e = explain(&format!("TLS: I/O: received fatal alert: {alert}")).expect("known");
            assert!(e.text.len() < 800, "{}: {}", e.text.len(), e.text);
        }
        for problem in [
            "Other(OtherError(UnsupportedCertVersion))",
            "Other(OtherError(CaUsedAsEndEntity))",
        ] {
            let e =
                explain(&format!("TLS: I/O: invalid peer certificate: {problem}")).expect("known");
            assert!(e.text.len() < 800, "{}: {}", e.text.len(), e.text);
        }
    }
}
