//! Two live copies of one `--client-id`: each connection throws the other
//! off, and each copy loses the readings the other acknowledges.
//!
//! The copies are ordinary operator actions: a `telegraf --test` by a
//! cadline from before trial runs had a session of their own, a second
//! Telegraf on the same configuration, a `telegraf.d` copied to another
//! machine with a client id written out. So both copies say so at error
//! level as soon as the broker shows it:
//!
//! - MQTT 5: the broker sends the copy it throws off a DISCONNECT with
//!   reason Session taken over (0x8E); rumqttc reports `SessionTakenOver`.
//!   Certain, and said at the first takeover.
//! - MQTT 3.1.1 has no reason: the broker just closes the connection. A
//!   connection with a client id given by the user, accepted and then
//!   closed by the broker well before it became stable, is taken for a
//!   takeover, once it happens twice in a row (one alone is also what a
//!   broker killed and back within a second looks like). The first takeover
//!   of a long-running service looks like any lost connection, but the
//!   copies then take the session back and forth every few seconds, so each
//!   is named within seconds. A default
//!   client id (`cadline-<pid>-<n>`) is never shared, so a short connection
//!   with one has another cause (a broker `max_packet_size`), said
//!   elsewhere.

use std::time::Duration;

/// How a takeover showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// MQTT 5: the broker said so.
    BrokerSaid,
    /// MQTT 3.1.1: the broker closed a fresh connection of a fixed client id.
    Inferred { lasted: Duration },
}

/// Whether a lost connection was taken over by another client with our
/// client id. `text` is the failure as rumqttc (and `connection_error`)
/// worded it; `lasted` how long the connection had been up (`None`: it
/// never was); `stable` how long a connection must last to count as
/// working; `fixed_id` whether the client id was given by the user.
pub fn evidence(
    text: &str,
    lasted: Option<Duration>,
    stable: Duration,
    fixed_id: bool,
) -> Option<Evidence> {
    if text.contains("SessionTakenOver") {
        return Some(Evidence::BrokerSaid);
    }
    let closed_by_broker = [
        "closed by peer",
        "reset by peer",
        "ConnectionAborted",
        "ConnectionReset",
    ]
    .iter()
    .any(|s| text.contains(s));
    match lasted {
        Some(lasted) if fixed_id && closed_by_broker && lasted < stable => {
            Some(Evidence::Inferred { lasted })
        }
        _ => None,
    }
}

/// The one error line for a takeover: what happened, where the other copy
/// usually is, and the fix.
pub fn message(evidence: Evidence, client_id: &str) -> String {
    let how = match evidence {
        Evidence::BrokerSaid => {
            "the broker handed this session to the other (MQTT 5 reason: session taken over)"
                .to_owned()
        }
        Evidence::Inferred { lasted } => format!(
            "the broker closed this connection {:.1}s after accepting it, as it does when \
             another client connects with the same id",
            lasted.as_secs_f64()
        ),
    };
    format!(
        "Two copies of cadline use the same --client-id {client_id}: {how}; each copy now loses the readings \
         the other acknowledges. The other copy is usually a second Telegraf on this \
         configuration, a telegraf.d copied to another machine, or a `telegraf --test` run \
         with an older cadline. Stop it, or give each copy its own --client-id \
         (cadline-{{hostname}} differs per machine)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const STABLE: Duration = Duration::from_secs(30);
    const V5: &str = "Mqtt state: Server sent disconnect with reason `None` and code \
                      'SessionTakenOver' ";
    const V4: &str = "Mqtt state: Connection closed by peer abruptly";

    #[test]
    fn mqtt_5_says_so_at_once_even_after_a_long_connection() {
        let hours = Some(Duration::from_secs(7200));
        assert_eq!(
            evidence(V5, hours, STABLE, true),
            Some(Evidence::BrokerSaid)
        );
    }

    #[test]
    fn mqtt_3_1_1_infers_it_from_a_fixed_id_thrown_off_a_fresh_connection() {
        let quick = Some(Duration::from_millis(700));
        assert_eq!(
            evidence(V4, quick, STABLE, true),
            Some(Evidence::Inferred {
                lasted: Duration::from_millis(700)
            })
        );
        // A long-lived connection lost is not yet a takeover.
        assert_eq!(
            evidence(V4, Some(Duration::from_secs(60)), STABLE, true),
            None
        );
        // A default id is never shared.
        assert_eq!(evidence(V4, quick, STABLE, false), None);
        // A connection that never came up was not taken over.
        assert_eq!(evidence(V4, None, STABLE, true), None);
        // Nor is a keep-alive the broker stopped answering.
        assert_eq!(
            evidence("Mqtt state: Last pingreq isn't acked", quick, STABLE, true),
            None
        );
    }

    #[test]
    fn the_message_names_the_id_the_usual_copies_and_the_fix() {
        let text = message(Evidence::BrokerSaid, "cadline-pi");
        for needle in [
            "same --client-id cadline-pi",
            "session taken over",
            "second Telegraf",
            "telegraf.d copied",
            "telegraf --test",
            "its own --client-id",
            "cadline-{hostname}",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        let inferred = message(
            Evidence::Inferred {
                lasted: Duration::from_millis(420),
            },
            "x",
        );
        assert!(inferred.contains("0.4s after accepting"), "{inferred}");
    }
}
