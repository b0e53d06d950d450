//! What a failed connection means and what to change, from the error text
//! rumqttc gives.
//!
//! rumqttc reports a TLS mix-up or a missing CA as a bare I/O or TLS error
//! ("Connection reset by peer", "UnknownIssuer"); this module names the
//! likely cause and the flag that fixes it. The text it returns depends on
//! the cause only, never on the moment (rustls puts the current UNIX time
//! in an expired certificate's message), so the reconnect loop's "log
//! again when the text changes" throttles on the cause.

/// Why a connection failed, as far as the text tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The broker refused the user name or password.
    Login,
    /// `mqtts://` to a port that does not speak TLS.
    TlsToPlainPort,
    /// `mqtt://` to a port that expects TLS.
    PlainToTlsPort,
    /// The broker's certificate is not signed by a CA we trust.
    UnknownIssuer,
    /// The broker's certificate is for another name.
    WrongName,
    /// The broker's certificate has expired (or is not valid yet).
    Expired,
    /// The broker wants a client certificate.
    ClientCertificateRequired,
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
    let lower = raw.to_ascii_lowercase();
    let (cause, text) = if raw.contains("BadUserNamePassword") || raw.contains("NotAuthorized") {
        (
            Cause::Login,
            format!("{raw}: the broker refused the user name or password (check --username and the password)"),
        )
    } else if let Some(after) = number_after(raw, "not valid after ") {
        (
            Cause::Expired,
            format!(
                "the broker's certificate expired on {} (renew it on the broker, or check this machine's clock)",
                utc_date(after)
            ),
        )
    } else if let Some(before) = number_after(raw, "not valid before ") {
        (
            Cause::Expired,
            format!(
                "the broker's certificate is not valid before {} (check this machine's clock)",
                utc_date(before)
            ),
        )
    } else if raw.contains("certificate expired") || raw.contains("Expired") {
        (
            Cause::Expired,
            format!("{raw}: the broker's certificate has expired (renew it on the broker, or check this machine's clock)"),
        )
    } else if raw.contains("UnknownIssuer") {
        (
            Cause::UnknownIssuer,
            format!("{raw}: the broker's certificate is not signed by a CA cadline trusts; give the CA that signed it with --ca-file (PEM)"),
        )
    } else if raw.contains("NotValidForName") || raw.contains("not valid for name") {
        (
            Cause::WrongName,
            format!("{raw}: the broker's certificate is for another name; put a name it lists in --broker"),
        )
    } else if raw.contains("CertificateRequired") {
        (
            Cause::ClientCertificateRequired,
            format!(
                "{raw}: the broker requires a client certificate; give --cert-file and --key-file"
            ),
        )
    } else if raw.starts_with("TLS: I/O:")
        && (lower.contains("connection reset")
            || lower.contains("unexpected eof")
            || lower.contains("corrupt"))
    {
        (
            Cause::TlsToPlainPort,
            format!("{raw}: the broker closed the connection during the TLS handshake; if this port does not speak TLS, use mqtt:// (mqtts:// is for the broker's TLS port, usually 8883)"),
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
        Cause::Login
        | Cause::TlsToPlainPort
        | Cause::UnknownIssuer
        | Cause::WrongName
        | Cause::Expired
        | Cause::ClientCertificateRequired => true,
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

/// The decimal number right after `label` in `text`.
fn number_after(text: &str, label: &str) -> Option<i64> {
    let start = text.find(label)? + label.len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
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

    #[test]
    fn an_expiry_is_a_date_and_the_text_does_not_change_with_the_clock() {
        let at = |now: u64| {
            diagnose(&format!(
                "TLS: I/O: invalid peer certificate: certificate expired: verification time {now} (UNIX), \
                 but certificate is not valid after 1593561600 ({} seconds ago)",
                now - 1_593_561_600
            ))
        };
        let (a, b) = (at(1_796_118_928), at(1_796_118_931));
        assert_eq!(a, b);
        assert_eq!(a.cause, Cause::Expired);
        // `date -u -d @1593561600` says Wed Jul  1 00:00:00 UTC 2020.
        assert!(
            a.text.contains("expired on 2020-07-01 00:00:00 UTC"),
            "{}",
            a.text
        );
        assert!(a.loud);
    }

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
            ("TLS: I/O: Connection reset by peer (os error 104)", Cause::TlsToPlainPort, "use mqtt://"),
            ("TLS: I/O: invalid peer certificate: UnknownIssuer", Cause::UnknownIssuer, "--ca-file"),
            ("TLS: I/O: invalid peer certificate: certificate not valid for name \"b.lan\"; certificate is only valid for DnsName(\"x\")", Cause::WrongName, "--broker"),
            ("Mqtt state: Mqtt serialization/deserialization error: IO: received fatal alert: CertificateRequired", Cause::ClientCertificateRequired, "--cert-file"),
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
