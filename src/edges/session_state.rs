//! What the MQTT source carries from one connection to the next: which
//! acknowledgements may still go out, and what to subscribe to when a
//! connection is accepted.
//!
//! Both rules lose readings silently when they are wrong (an ack for the
//! wrong message, a resumed session that listens to nothing), and both are
//! easy to break in the long connection loop of `mqtt_source`; here each is
//! a small value with its own tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[cfg(test)]
use crate::edges::message::Ack;

/// Which session an acknowledgement belongs to. Packet ids restart with a
/// new session, so an ack kept from an earlier one could acknowledge a new
/// message before its line is written. Every ack remembers the session it
/// came from and is dropped, not sent, once that session is over: the
/// connection thread ends the session at every connection loss (a resumed
/// session then gets the message again, a harmless duplicate), and an ack
/// handed to rumqttc just before it noticed the loss goes out ahead of our
/// SUBSCRIBE, when the broker has nothing in flight to match it.
///
/// Between a loss and the next CONNACK there is no session at all, and an
/// ack made then is dead from the start: rumqttc 0.25 keeps the packets it
/// had read in the same batch as the failure (a PUBLISH just before an MQTT 5
/// DISCONNECT, say) and hands them out on the next connection, before its
/// CONNACK. Their packet ids belong to the lost connection; on the new one
/// they name other messages. The count is even during a session and odd
/// between sessions.
#[derive(Default, Clone)]
pub(crate) struct AckScope(Arc<AtomicU64>);

impl AckScope {
    /// The connection is lost: no ack made so far, or until the next
    /// `begin_session`, may be sent. Repeated losses in a row (a broker
    /// that stays down) are one gap.
    pub(crate) fn end_session(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n | 1));
    }

    /// The broker accepted a connection (its CONNACK): acks made from now
    /// on belong to this session.
    pub(crate) fn begin_session(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(if n % 2 == 1 { n + 1 } else { n })
            });
    }

    /// The session an ack made now belongs to.
    pub(crate) fn stamp(&self) -> Stamp {
        Stamp {
            scope: self.0.clone(),
            session: self.0.load(Ordering::SeqCst),
        }
    }

    /// An ack that calls `send` (true: handed over, false: queue full) while
    /// the session it was made in lasts, and does nothing afterwards (it
    /// then reports itself done, so nobody retries it). One made between
    /// sessions never sends. (`message::Ack::v4` and `v5` apply the same
    /// rule without a closure.)
    #[cfg(test)]
    pub(crate) fn ack(&self, mut send: impl FnMut() -> bool + Send + 'static) -> Ack {
        let stamp = self.stamp();
        Ack::from_fn(move || stamp.is_over() || send())
    }
}

/// The session an ack was made in.
#[derive(Clone)]
pub(crate) struct Stamp {
    scope: Arc<AtomicU64>,
    session: u64,
}

impl Stamp {
    /// Whether an ack of this session must no longer be sent: it was made
    /// between sessions, or its session has ended.
    pub(crate) fn is_over(&self) -> bool {
        self.session % 2 == 1 || self.scope.load(Ordering::SeqCst) != self.session
    }
}

/// What to ask for when the broker accepts a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AtConnect {
    /// Always every filter: a resumed session may hold other filters (an
    /// earlier --topic or --prefix) and not ours, and subscribing again to
    /// the same filter is harmless.
    pub(crate) subscribe: Vec<String>,
    /// Plain subscriptions an earlier configuration may have left in a
    /// resumed session, now that the filters are `$share/<group>/…`: kept,
    /// they would send this instance every message a second time, besides
    /// its share.
    pub(crate) unsubscribe: Vec<String>,
}

impl AtConnect {
    pub(crate) fn new(session_present: bool, filters: &[String]) -> AtConnect {
        let unsubscribe = if session_present {
            filters
                .iter()
                .filter_map(|f| f.strip_prefix("$share/"))
                .filter_map(|f| f.split_once('/').map(|(_, f)| f.to_owned()))
                .collect()
        } else {
            Vec::new()
        };
        AtConnect {
            subscribe: filters.to_vec(),
            unsubscribe,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// An ack's `send`, counting the times it ran; `accept` says whether the
    /// connection's queue takes it.
    fn counting(sent: &Arc<AtomicUsize>, accept: bool) -> impl FnMut() -> bool + Send + 'static {
        let sent = sent.clone();
        move || {
            sent.fetch_add(1, Ordering::SeqCst);
            accept
        }
    }

    #[test]
    fn an_ack_made_between_a_loss_and_the_next_connack_never_sends() {
        let scope = AckScope::default();
        let sent = Arc::new(AtomicUsize::new(0));
        scope.end_session();
        // A second failed attempt before the broker answers again.
        scope.end_session();
        let mut stale = scope.ack(counting(&sent, true));
        assert!(stale.send(), "reports itself done, so nobody retries it");
        scope.begin_session();
        assert!(stale.send(), "still done after the CONNACK");
        assert_eq!(
            sent.load(Ordering::SeqCst),
            0,
            "a packet id of the lost connection went out"
        );
        let mut fresh = scope.ack(counting(&sent, true));
        assert!(fresh.send());
        assert_eq!(
            sent.load(Ordering::SeqCst),
            1,
            "the new session's ack is sent"
        );
    }

    #[test]
    fn the_first_connack_keeps_acks_made_before_it_and_a_later_one_ends_none() {
        let scope = AckScope::default();
        let sent = Arc::new(AtomicUsize::new(0));
        scope.begin_session();
        let mut ack = scope.ack(counting(&sent, true));
        // A second CONNACK with no loss between cannot happen in MQTT, but
        // if it did it must not revive or end anything.
        scope.begin_session();
        assert!(ack.send());
        assert_eq!(sent.load(Ordering::SeqCst), 1);
        scope.end_session();
        scope.begin_session();
        let mut after = scope.ack(counting(&sent, true));
        assert!(after.send());
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_ack_of_the_current_session_is_sent() {
        let scope = AckScope::default();
        let sent = Arc::new(AtomicUsize::new(0));
        let mut ack = scope.ack(counting(&sent, true));
        assert!(ack.send(), "handed over");
        assert_eq!(sent.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_ack_the_queue_refuses_says_so_and_is_sent_when_retried() {
        let scope = AckScope::default();
        let (sent, accept) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (s, a) = (sent.clone(), accept.clone());
        let mut ack = scope.ack(move || {
            s.fetch_add(1, Ordering::SeqCst);
            a.load(Ordering::SeqCst) > 0
        });
        assert!(
            !ack.send(),
            "a full queue must be reported, or the ack is lost"
        );
        accept.store(1, Ordering::SeqCst);
        assert!(ack.send());
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_ack_created_before_end_session_never_sends() {
        let scope = AckScope::default();
        let sent = Arc::new(AtomicUsize::new(0));
        let mut ack = scope.ack(counting(&sent, true));
        scope.end_session();
        assert!(
            ack.send(),
            "done (dropped), so that nobody retries it forever"
        );
        assert!(ack.send());
        assert_eq!(sent.load(Ordering::SeqCst), 0, "sent on another connection");
    }

    #[test]
    fn an_ack_refused_before_the_connection_was_lost_is_not_sent_on_the_next() {
        // The writer retries an ack the full queue refused; meanwhile the
        // connection is lost and a new one made.
        let scope = AckScope::default();
        let sent = Arc::new(AtomicUsize::new(0));
        let mut ack = scope.ack(counting(&sent, false));
        assert!(!ack.send());
        scope.end_session();
        assert!(ack.send());
        assert_eq!(sent.load(Ordering::SeqCst), 1, "only the refused attempt");
    }

    #[test]
    fn acks_of_the_next_session_are_sent_and_only_theirs() {
        let scope = AckScope::default();
        let (old, new) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut before = scope.ack(counting(&old, true));
        scope.end_session();
        // The next connection's CONNACK.
        scope.begin_session();
        let mut after = scope.ack(counting(&new, true));
        assert!(after.send());
        assert!(before.send());
        assert_eq!(
            (old.load(Ordering::SeqCst), new.load(Ordering::SeqCst)),
            (0, 1)
        );
        // A second loss ends the new session's acks too.
        let mut later = scope.ack(counting(&new, true));
        scope.end_session();
        assert!(later.send());
        assert_eq!(new.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_clone_of_the_scope_is_the_same_scope() {
        let scope = AckScope::default();
        let sent = Arc::new(AtomicUsize::new(0));
        let mut ack = scope.clone().ack(counting(&sent, true));
        scope.end_session();
        assert!(ack.send());
        assert_eq!(sent.load(Ordering::SeqCst), 0);
    }

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_new_session_subscribes_to_every_filter_and_drops_nothing() {
        let filters = strings(&["glow/+/SENSOR/#", "$share/g/glow/+/STATE"]);
        assert_eq!(
            AtConnect::new(false, &filters),
            AtConnect {
                subscribe: filters.clone(),
                unsubscribe: Vec::new(),
            }
        );
    }

    #[test]
    fn a_resumed_session_subscribes_again_to_every_filter() {
        // The session may hold an earlier --topic only: without a new
        // SUBSCRIBE a changed --topic would deliver nothing.
        let filters = strings(&["glow/+/SENSOR/electricitymeter"]);
        assert_eq!(
            AtConnect::new(true, &filters),
            AtConnect {
                subscribe: filters.clone(),
                unsubscribe: Vec::new(),
            }
        );
    }

    #[test]
    fn a_resumed_shared_session_drops_the_plain_filters_of_its_group() {
        let filters = strings(&[
            "$share/g/glow/+/SENSOR/#",
            "glow/+/STATE",
            "$share/h/a/b",
            "$share/broken",
        ]);
        let at = AtConnect::new(true, &filters);
        assert_eq!(at.subscribe, filters);
        assert_eq!(at.unsubscribe, strings(&["glow/+/SENSOR/#", "a/b"]));
    }
}
