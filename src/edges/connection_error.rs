//! What a failed connection means and what to change, from the error text
//! rumqttc gives.
//!
//! rumqttc reports a refused login or a wrong port as a bare error
//! ("Connection reset by peer", "NotAuthorized"); this module names the
//! likely cause and the flag that fixes it. TLS failures are explained in
//! `tls_error`. The text it returns depends on
//! the cause only, never on the moment (rustls puts the current UNIX time
//! in an expired certificate's message), so the reconnect loop's "log
//! again when the text changes" throttles on the cause.

/// Why a connection failed, as far as the text tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The broker refused the user name or password.
    Login,
    /// `mqtt://` to a port that expects TLS.
    PlainToTlsPort,
    /// A TLS failure (see `tls_error`).
    Tls(crate::edges::tls_error::TlsCause),
    /// Nothing listens at that host and port.
    Refused,
    /// The host name does not resolve.
    UnknownHost,
    /// Anything else: the text as rumqttc gave it.
    Other,
}

/// A failed connection, explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub cause: Cause,
    /// One line for the log: rumqttc's words and, where known, the fix.
    pub text: String,
    /// Whether a person must fix something (an `E!` line) rather than wait
    /// for a network blip to pass (`W!`).
    pub loud: bool,
}

/// Explains rumqttc's error text.
pub fn diagnose(raw: &str) -> Diagnosis {
    // TLS first: a TLS alert's text also says "Expired" or "reset".
    if let Some(tls) = crate::edges::tls_error::explain(raw) {
        return Diagnosis {
            cause: Cause::Tls(tls.cause),
            text: tls.text,
            loud: true,
        };
    }
    let lower = raw.to_ascii_lowercase();
    let (cause, text) = if raw.contains("BadUserNamePassword") || raw.contains("NotAuthorized") {
        (
            Cause::Login,
            format!("{raw}: the broker refused the user name or password (check --username and the password)"),
        )
    } else if lower.contains("serialization/deserialization error: io: connection reset") {
        (
            Cause::PlainToTlsPort,
            format!("{raw}: the broker closed the connection at once; if this port expects TLS (usually 8883), use mqtts://"),
        )
    } else if lower.contains("connection refused (os error") {
        (
            Cause::Refused,
            format!("{raw}: nothing accepts connections at that host and port; check --broker and that the broker runs"),
        )
    } else if lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
    {
        (
            Cause::UnknownHost,
            format!("{raw}: check the host name in --broker"),
        )
    } else {
        (Cause::Other, raw.to_owned())
    };
    let loud = match cause {
        Cause::Login | Cause::Tls(_) => true,
        // A reset is also what a broker going down mid-handshake looks
        // like: a warning, still printed at the default level.
        Cause::PlainToTlsPort | Cause::Refused | Cause::UnknownHost => false,
        Cause::Other => is_loud(raw),
    };
    Diagnosis { cause, text, loud }
}

/// Whether an unrecognised error is one a person must fix (credentials,
/// certificates) rather than a network blip.
fn is_loud(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "refused, return code",
        "certificate",
        "tls",
        "handshake",
        "notauthorized",
        "password",
    ]
    .iter()
    .any(|k| t.contains(k))
}

/// A UNIX time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc_date(unix: i64) -> String {
    let t = crate::flatten::meter_time::civil_from_unix(unix);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edges::tls_error::TlsCause;

    #[test]
    fn dates() {
        // Checked with `date -u -d @N '+%F %T'`.
        assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date(951_825_600), "2000-02-29 12:00:00 UTC");
        assert_eq!(utc_date(1_796_113_386), "2026-12-01 08:23:06 UTC");
    }

    #[test]
    fn mix_ups_are_recognised_with_the_fix() {
        for (raw, cause, fix) in [
            ("Mqtt state: Mqtt serialization/deserialization error: IO: Connection reset by peer (os error 104)", Cause::PlainToTlsPort, "mqtts://"),
            ("TLS: I/O: Connection reset by peer (os error 104)", Cause::Tls(TlsCause::PlainPort), "use mqtt://"),
            ("TLS: I/O: invalid peer certificate: UnknownIssuer", Cause::Tls(TlsCause::UnknownIssuer), "--ca-file"),
            ("Mqtt state: Mqtt serialization/deserialization error: IO: received fatal alert: CertificateRequired", Cause::Tls(TlsCause::ClientCertificateRequired), "--cert-file"),
            ("Mqtt state: Mqtt serialization/deserialization error: IO: received fatal alert: CertificateExpired", Cause::Tls(TlsCause::ClientCertificateRefused), "--cert-file"),
            ("Connection refused, return code: `NotAuthorized`", Cause::Login, "--username"),
            ("I/O: Connection refused (os error 111)", Cause::Refused, "--broker"),
            ("I/O: failed to lookup address information: Name or service not known", Cause::UnknownHost, "host name"),
        ] {
            let d = diagnose(raw);
            assert_eq!(d.cause, cause, "{raw}");
            assert!(d.text.contains(fix), "{}", d.text);
        }
        assert!(!diagnose("I/O: Connection refused (os error 111)").loud);
        assert_eq!(diagnose("Network timeout").cause, Cause::Other);
    }
}
