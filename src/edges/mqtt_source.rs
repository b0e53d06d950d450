//! The MQTT source: one named thread owns the rumqttc connection, keeps it
//! alive for months, and hands each message to the writer.
//!
//! What it adds to rumqttc's synchronous client:
//! - backoff between reconnects (rumqttc reconnects the moment it is polled
//!   again, which is a tight loop against a dead broker);
//! - resubscribing after every reconnect that did not resume a session;
//! - manual acknowledgements, sent only after the writer has flushed the
//!   message's lines, so a QoS 1 reading is never acknowledged and lost;
//! - a payload limit of our own: rumqttc's incoming limit is raised to the
//!   protocol maximum so an oversized message never becomes a connection
//!   error (which, with a persistent session, the broker would redeliver
//!   forever); we skip and acknowledge it instead.
//!
//! MQTT 3.1.1 and 5 have separate client types in rumqttc; `Session` hides
//! the difference so the loop below exists once.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Sender};
use rumqttc::{TlsConfiguration, Transport};

use crate::config::cli::{Broker, Config};
use crate::edges::backoff::Backoff;
use crate::edges::file_access;
use crate::edges::message::{now_ns, retry_acks, Ack, Message};
use crate::edges::messages::{self, LogLevel};
use crate::edges::reconnect_log::{self, ReconnectLog};
use crate::edges::session_state::{AckScope, AtConnect};
use crate::edges::shutdown::Shutdown;
use crate::edges::silence::Activity;
use crate::flatten::{Level, Note};

/// What a PUBLISH carries besides its payload, at most: a topic of up to
/// 65 535 bytes with its length, a packet id, and (MQTT 5) properties. The
/// incoming packet limit is `--max-message-size` plus this, so rumqttc
/// refuses a larger packet from its header, before reading (or allocating)
/// any of it.
const PUBLISH_OVERHEAD: usize = 128 * 1024;

/// How many times `--max-message-size` a message may be and still be read
/// once to get past it with MQTT 3.1.1 (see `run`): peak memory stays
/// within this multiple of the limit.
const OVERSIZE_WAY_OUT: usize = 4;

/// Requests (acks, subscribes) queued for rumqttc. Larger than the number of
/// unacknowledged messages a well-behaved broker sends us at a time
/// (Mosquitto: 20 in flight by default), but a broker without a limit, or
/// an MQTT 5 Receive Maximum chosen for held acknowledgements, can exceed
/// it, so acks use `try_ack` and are retried when it is full (see
/// `message::Ack`).
const REQUEST_CAPACITY: usize = 4096;

/// The MQTT 5 Receive Maximum until `set_receive_maximum` says how long
/// acknowledgements are held (`Delivery::receive_maximum`).
const DEFAULT_RECEIVE_MAXIMUM: u16 = 1000;

/// The first reconnect delay; it doubles per failure up to `LONGEST_RETRY`.
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// The longest wait between reconnect attempts: a CAD publishes every 10 s,
/// and every second we wait after the broker is back is a second of readings
/// lost at QoS 0 or with a clean session. (It was 60 s; a broker restarted
/// after a half-minute outage then waited up to a minute for cadline.)
/// Jitter still spreads a building's instances across the interval.
const LONGEST_RETRY: Duration = Duration::from_secs(10);

/// How long a connection must last to count as working. One that the broker
/// closes sooner (another client took over our client id, a packet limit)
/// is a failure for backoff and logging: resetting both at every CONNACK
/// made two instances with a copied client id throw each other off several
/// times a second, logging every time.
const STABLE: Duration = Duration::from_secs(30);

/// How long to wait, after our DISCONNECT, for the broker to close the
/// connection (Mosquitto does at once).
const CLOSING: Duration = Duration::from_millis(500);

/// Where a stop stands, for the connection loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StopState {
    /// A lost connection is the close of the stop, not a failure: the
    /// loop ends without logging it or waiting to reconnect.
    loss_is_the_close: bool,
    /// Our DISCONNECT has been out for longer than `CLOSING`: the loop ends
    /// without waiting any more for the broker to close the connection.
    past_closing: bool,
}

/// Where a stop stands `now`, from whether one was asked for (`stopping`)
/// and when our DISCONNECT went out (`disconnected`).
fn stop_state(stopping: bool, disconnected: Option<Instant>, now: Instant) -> StopState {
    StopState {
        loss_is_the_close: stopping || disconnected.is_some(),
        past_closing: disconnected.is_some_and(|t| now.saturating_duration_since(t) > CLOSING),
    }
}

/// What a connection the broker accepted calls for: the subscriptions to
/// ask for (and a "Connected" line), or `None` when the stop was asked for
/// while connecting (Telegraf closed stdin): nothing is subscribed to or
/// announced, since "Connected" after "Stdin closed" would tell the stop
/// backwards, and the close follows.
fn on_connected(stopping: bool, session_present: bool, filters: &[String]) -> Option<AtConnect> {
    (!stopping).then(|| AtConnect::new(session_present, filters))
}

/// Everything needed to connect, with secrets and files already read.
pub struct Prepared {
    broker: Broker,
    filters: Vec<String>,
    qos: u8,
    client_id: String,
    /// The client id was given (not `cadline-<pid>-<n>`): another copy
    /// may share it (see `takeover`).
    fixed_client_id: bool,
    persistent: bool,
    keep_alive: Duration,
    credentials: Option<(String, String)>,
    tls: Option<TlsConfiguration>,
    mqtt_v5: bool,
    max_message_size: usize,
    /// Unacknowledged messages an MQTT 5 broker may send at a time.
    receive_maximum: u16,
    /// When to say that nothing arrives, and what to name then.
    silence_after: Option<Duration>,
    silence: crate::edges::silence::Setting,
}

impl Prepared {
    /// The login, for `cadline check`'s connection of its own.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The TLS settings, for `cadline check`'s connection of its own.
    pub fn tls(&self) -> Option<&TlsConfiguration> {
        self.tls.as_ref()
    }

    /// Sizes the MQTT 5 window for the acknowledgements the writer holds
    /// back: a window they fill stalls the stream until they fall due.
    pub fn set_receive_maximum(&mut self, messages: u16) {
        self.receive_maximum = messages.max(1);
    }

    /// The largest packet accepted from the broker.
    fn packet_limit(&self) -> usize {
        self.max_message_size.saturating_add(PUBLISH_OVERHEAD)
    }

    /// The largest packet read once to get past it (MQTT 3.1.1).
    fn way_out_limit(&self) -> usize {
        self.max_message_size
            .saturating_mul(OVERSIZE_WAY_OUT)
            .saturating_add(PUBLISH_OVERHEAD)
    }

    /// The incoming limit under which the next connection reads a packet
    /// of `len` bytes once to skip it, if it is not too large for that.
    fn way_out(&self, len: usize) -> Option<usize> {
        (len <= self.way_out_limit()).then_some(len)
    }
}

/// The size rumqttc reports for a packet over the incoming limit, from its
/// error text ("payload size limit exceeded: N").
fn oversized_packet(text: &str) -> Option<usize> {
    let (_, rest) = text.split_once("payload size limit exceeded: ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Reads the password and TLS files. Any error here is fatal at start-up
/// and is returned as one line for the user.
pub fn prepare(config: &Config, env_password: Option<String>) -> Result<Prepared, String> {
    let file_text = match &config.password_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            file_access::cannot_read("--password-file", path, &e, file_access::Kind::Secret)
        })?),
        None => None,
    };
    let path = config
        .password_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let choice = crate::config::password::choose(&crate::config::password::Sources {
        file: file_text.as_deref().map(|text| (path.as_str(), text)),
        env: env_password.as_deref(),
        misnamed_env: std::env::var_os("CADLINE_PASSWORD").is_some_and(|v| !v.is_empty()),
        username: config.username.as_deref(),
    })?;
    for warning in &choice.warnings {
        crate::warn!("{warning}");
    }
    let credentials = match (&config.username, choice.password) {
        (Some(user), password) => Some((user.clone(), password.unwrap_or_default())),
        (None, _) => None,
    };
    let tls = if config.broker.tls {
        Some(tls_configuration(config)?)
    } else {
        None
    };
    let client_id = config
        .client_id
        .clone()
        .unwrap_or_else(|| crate::config::cli::default_client_id(std::process::id(), now_ns()));
    Ok(Prepared {
        silence_after: config.silence_warning,
        silence: crate::edges::silence::Setting::for_config(config),
        broker: config.broker.clone(),
        filters: config.filters.clone(),
        qos: config.qos,
        client_id,
        fixed_client_id: config.client_id.is_some(),
        persistent: config.persistent_session,
        keep_alive: Duration::from_secs(config.keep_alive),
        credentials,
        tls,
        mqtt_v5: config.mqtt_v5,
        max_message_size: config.max_message_size,
        receive_maximum: DEFAULT_RECEIVE_MAXIMUM,
    })
}

fn read_file(what: &str, path: &std::path::Path) -> Result<Vec<u8>, String> {
    let kind = match what {
        "--key-file" => file_access::Kind::Secret,
        _ => file_access::Kind::Public,
    };
    std::fs::read(path).map_err(|e| file_access::cannot_read(what, path, &e, kind))
}

/// Where Debian, Fedora, Alpine and NixOS keep the system's CA bundle.
const SYSTEM_CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// TLS always verifies the broker: against --ca-file, else the system's CA
/// bundle. There is deliberately no way to turn verification off; a
/// self-signed broker is trusted by giving its CA with --ca-file.
fn tls_configuration(config: &Config) -> Result<TlsConfiguration, String> {
    let ca = match &config.ca_file {
        Some(path) => {
            let ca = read_file("--ca-file", path)?;
            crate::config::tls_files::check_ca(&path.display().to_string(), &ca)?;
            ca
        }
        None => {
            let from_env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
            let path = from_env
                .into_iter()
                .chain(SYSTEM_CA_BUNDLES.iter().map(std::path::PathBuf::from))
                .find(|p| p.is_file())
                .ok_or(
                    "no system CA bundle found for mqtts://; give the broker's CA with --ca-file",
                )?;
            read_file("the system CA bundle", &path)?
        }
    };
    let client_auth = match &config.client_cert {
        Some((cert_path, key_path)) => {
            let cert = read_file("--cert-file", cert_path)?;
            let key = read_file("--key-file", key_path)?;
            crate::config::tls_files::check_client(
                &cert_path.display().to_string(),
                &cert,
                &key_path.display().to_string(),
                &key,
            )?;
            Some((cert, key))
        }
        None => None,
    };
    Ok(TlsConfiguration::Simple {
        ca,
        alpn: None,
        client_auth,
    })
}

/// What the connection reported, in terms both protocol versions share.
enum Happening {
    Connected {
        session_present: bool,
    },
    Publish {
        topic: Option<String>,
        payload: Vec<u8>,
        ack: Option<Ack>,
    },
    /// A message over `--max-message-size`, never copied.
    Oversized {
        topic: String,
        len: usize,
        ack: Option<Ack>,
    },
    /// A SUBACK for a SUBSCRIBE of `answered` filters: the positions of
    /// those the broker refused, each with its reason, and of those it
    /// granted, each with the QoS granted.
    SubAck {
        answered: usize,
        refused: Vec<(usize, String)>,
        granted: Vec<(usize, u8)>,
    },
    /// Our DISCONNECT is out.
    Disconnected,
    Failed {
        text: String,
        loud: bool,
    },
    ClosedByUs,
    Other,
}

impl Happening {
    /// What the silence watch is told of this (`None`: nothing).
    fn for_silence(&self) -> Option<Activity> {
        match self {
            Happening::Connected { .. } => Some(Activity::Connected),
            Happening::Publish { .. } | Happening::Oversized { .. } => Some(Activity::Message),
            Happening::Failed { .. } => Some(Activity::Lost),
            _ => None,
        }
    }
}

/// Subscribes on a connection of either protocol version.
enum Subscriber {
    V4(rumqttc::Client),
    V5(rumqttc::v5::Client),
}

impl Subscriber {
    fn subscribe(&self, filters: &[String], qos: u8) -> Result<(), String> {
        let result = match self {
            Subscriber::V4(c) => {
                let q = if qos == 0 {
                    rumqttc::QoS::AtMostOnce
                } else {
                    rumqttc::QoS::AtLeastOnce
                };
                c.subscribe_many(
                    filters
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.clone(), q)),
                )
                .map_err(|e| e.to_string())
            }
            Subscriber::V5(c) => {
                use rumqttc::v5::mqttbytes::{v5::Filter, QoS};
                let q = if qos == 0 {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                };
                c.subscribe_many(filters.iter().map(|f| Filter::new(f.clone(), q)))
                    .map_err(|e| e.to_string())
            }
        };
        result.map_err(|e| format!("subscribe request failed: {e}"))
    }
}

/// A connection of either protocol version. Sizes differ, but there is one
/// per process.
#[allow(clippy::large_enum_variant)]
enum Session {
    V4(rumqttc::Client, rumqttc::Connection),
    V5(rumqttc::v5::Client, rumqttc::v5::Connection),
}

impl Session {
    fn open(p: &Prepared) -> Session {
        let transport = p.tls.clone().map(Transport::Tls);
        if p.mqtt_v5 {
            let mut o = rumqttc::v5::MqttOptions::new(&p.client_id, &p.broker.host, p.broker.port);
            // Also sent in CONNECT as Maximum Packet Size: an MQTT 5 broker
            // then never sends us a message we would refuse.
            o.set_keep_alive(p.keep_alive)
                .set_clean_start(!p.persistent)
                .set_manual_acks(true)
                .set_max_packet_size(u32::try_from(p.packet_limit()).ok())
                .set_receive_maximum(Some(p.receive_maximum));
            if p.persistent {
                // MQTT 5 ends a session at disconnect unless told otherwise.
                o.set_session_expiry_interval(Some(u32::MAX));
            }
            if let Some((user, pass)) = &p.credentials {
                o.set_credentials(user, pass);
            }
            if let Some(t) = transport {
                o.set_transport(t);
            }
            let (client, connection) = rumqttc::v5::Client::new(o, REQUEST_CAPACITY);
            Session::V5(client, connection)
        } else {
            let mut o = rumqttc::MqttOptions::new(&p.client_id, &p.broker.host, p.broker.port);
            o.set_keep_alive(p.keep_alive)
                .set_manual_acks(true)
                .set_max_packet_size(p.packet_limit(), 64 * 1024)
                .set_clean_session(!p.persistent || p.client_id.is_empty());
            if let Some((user, pass)) = &p.credentials {
                o.set_credentials(user, pass);
            }
            if let Some(t) = transport {
                o.set_transport(t);
            }
            let (client, connection) = rumqttc::Client::new(o, REQUEST_CAPACITY);
            Session::V4(client, connection)
        }
    }

    /// Blocks until the connection has something to report.
    fn next(&mut self, acks: &AckScope, max: usize) -> Happening {
        match self {
            Session::V4(client, connection) => v4_happening(client, connection.recv(), acks, max),
            Session::V5(client, connection) => v5_happening(client, connection.recv(), acks, max),
        }
    }

    /// Drops plain subscriptions an earlier configuration left in a resumed
    /// session (now that the filters are `$share/<group>/…`), so this
    /// instance does not get every message twice: once for its share and
    /// once through the old subscription.
    fn unsubscribe(&self, filters: &[String]) {
        for f in filters {
            let result = match self {
                Session::V4(c, _) => c.try_unsubscribe(f.clone()).map_err(|e| e.to_string()),
                Session::V5(c, _) => c.try_unsubscribe(f.clone()).map_err(|e| e.to_string()),
            };
            if let Err(e) = result {
                crate::warn!("Could not unsubscribe from {f}: {e}");
            }
        }
    }

    fn subscribe(&self, filters: &[String], qos: u8) -> Result<(), String> {
        self.subscriber().subscribe(filters, qos)
    }

    /// A handle that can subscribe from another thread (the retry timer of
    /// a refused subscription).
    fn subscriber(&self) -> Subscriber {
        match self {
            Session::V4(c, _) => Subscriber::V4(c.clone()),
            Session::V5(c, _) => Subscriber::V5(c.clone()),
        }
    }

    /// Sets the incoming packet limit for the next connection (MQTT 3.1.1;
    /// an MQTT 5 broker is told the limit in CONNECT and never exceeds it).
    fn set_incoming_limit(&mut self, limit: usize) {
        if let Session::V4(_, connection) = self {
            connection
                .eventloop
                .mqtt_options
                .set_max_packet_size(limit, 64 * 1024);
        }
    }

    /// rumqttc 0.25's MQTT 5 client takes a CONNACK's Server Keep Alive 0
    /// (MQTT 5 3.2.2.3.14: keep-alive off) as an interval of 0 s: it pings
    /// without pause, fails at the second ping ("Last pingreq isn't
    /// acked") at once, and sends Keep Alive 0 in every later CONNECT. Its
    /// MQTT 3.1.1 client has handled 0 since rumqtt PR #655; for MQTT 5 it
    /// is rumqtt issue #964, with an unmerged fix (PR #976). Called at each
    /// CONNACK, before rumqttc polls again: with keep-alive off the broker
    /// expects no ping, but MQTT 5 lets a client ping at any time to learn
    /// that the broker is still there, so cadline goes on pinging at
    /// --keep-alive, which also puts that value back into the next
    /// CONNECT. The ping timer rumqttc started at 0 s fires once more
    /// first: one PINGREQ, answered. True if the broker's value was 0.
    fn keep_pinging_after_server_keep_alive_0(&mut self, ours: Duration) -> bool {
        let Session::V5(_, connection) = self else {
            return false;
        };
        let options = &mut connection.eventloop.options;
        if !options.keep_alive().is_zero() {
            return false;
        }
        options.set_keep_alive(ours);
        true
    }

    /// The keep-alive interval of the current (or last) connection.
    fn keep_alive_in_force(&self) -> Duration {
        match self {
            Session::V4(_, connection) => connection.eventloop.mqtt_options.keep_alive(),
            Session::V5(_, connection) => connection.eventloop.options.keep_alive(),
        }
    }

    /// The MQTT 5 DISCONNECT the broker ended the connection with, if it
    /// sent one. rumqttc's error keeps only its reason code and string; the
    /// packet itself, with the Server Reference, is still queued as an
    /// event. It is taken out, so that a later failure is not put down to
    /// it.
    fn take_broker_disconnect(
        &mut self,
    ) -> Option<crate::edges::connection_loss::BrokerDisconnect> {
        use rumqttc::v5::{mqttbytes::v5::Packet, Event};
        let Session::V5(_, connection) = self else {
            return None;
        };
        let events = &mut connection.eventloop.state.events;
        let at = events
            .iter()
            .rposition(|e| matches!(e, Event::Incoming(Packet::Disconnect(_))))?;
        let Some(Event::Incoming(Packet::Disconnect(d))) = events.remove(at) else {
            return None;
        };
        let (reason, server_reference) = match d.properties {
            Some(p) => (p.reason_string, p.server_reference),
            None => (None, None),
        };
        Some(crate::edges::connection_loss::BrokerDisconnect {
            code: d.reason_code as u8,
            name: format!("{:?}", d.reason_code),
            reason,
            server_reference,
        })
    }

    /// Something another thread can call to end the connection loop; it
    /// returns false while the request queue is full (acks still queued).
    fn disconnector(&self) -> Box<dyn Fn() -> bool + Send> {
        match self {
            Session::V4(c, _) => {
                let c = c.clone();
                Box::new(move || c.try_disconnect().is_ok())
            }
            Session::V5(c, _) => {
                let c = c.clone();
                Box::new(move || c.try_disconnect().is_ok())
            }
        }
    }
}

/// What is known about a failure beyond rumqttc's words (see
/// `connection_loss`): the broker's MQTT 5 DISCONNECT, an unanswered ping,
/// a CONNACK that never came, or, for a connection closed without a word,
/// what a look at the broker finds (see `broker_probe`; whether it speaks
/// only MQTT 3.1.1 is asked once and remembered in `only_3_1_1`). `None`:
/// nothing more is known.
fn explain_failure(
    p: &Prepared,
    session: &mut Session,
    raw: &str,
    established: bool,
    only_3_1_1: &mut Option<bool>,
) -> Option<crate::edges::connection_loss::Explained> {
    use crate::edges::{broker_probe, connection_loss};
    if let Some(d) = session.take_broker_disconnect() {
        return connection_loss::broker_disconnect(&d);
    }
    let keep_alive = connection_loss::KeepAlive {
        ours: p.keep_alive.as_secs(),
        in_force: session.keep_alive_in_force().as_secs(),
    };
    if let Some(e) = connection_loss::from_text(raw, keep_alive, p.tls.is_some()) {
        return Some(e);
    }
    if !connection_loss::closed_without_a_word(raw) {
        return None;
    }
    let probe = || {
        broker_probe::mqtt_3_1_1(
            &p.broker.host,
            p.broker.port,
            p.tls.clone().map(Transport::Tls),
            p.credentials.as_ref(),
        )
    };
    if established {
        let gone = probe() == broker_probe::Answer::Nothing;
        return gone.then(|| connection_loss::broker_gone(raw));
    }
    if !p.mqtt_v5 {
        return None;
    }
    let v3 = *only_3_1_1.get_or_insert_with(|| probe() == broker_probe::Answer::Connack);
    v3.then(|| connection_loss::speaks_only_3_1_1(raw))
}

/// A failed connection, explained (see `connection_error`): the text names
/// the cause and the fix, and depends on the cause only, so the reconnect
/// log's throttle works on causes. The acks of the lost connection end
/// here, where the loss is first seen, before anything else may run one.
fn failure(text: String, acks: &AckScope) -> Happening {
    acks.end_session();
    let d = crate::edges::connection_error::diagnose(&text);
    Happening::Failed {
        text: d.text,
        loud: d.loud,
    }
}

fn v4_happening(
    client: &rumqttc::Client,
    event: Result<Result<rumqttc::Event, rumqttc::ConnectionError>, rumqttc::RecvError>,
    acks: &AckScope,
    max: usize,
) -> Happening {
    use rumqttc::{Event, Outgoing, Packet};
    match event {
        Err(_) => Happening::ClosedByUs,
        Ok(Err(e)) => failure(e.to_string(), acks),
        Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
            // Packets rumqttc kept from the lost connection came out before
            // this, with acks that never send (AckScope).
            acks.begin_session();
            Happening::Connected {
                session_present: ack.session_present,
            }
        }
        Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
            let ack: Option<Ack> = (p.qos != rumqttc::QoS::AtMostOnce)
                .then(|| Ack::v4(client, acks.stamp(), p.pkid, p.qos));
            if p.payload.len() > max {
                return Happening::Oversized {
                    topic: p.topic,
                    len: p.payload.len(),
                    ack,
                };
            }
            Happening::Publish {
                topic: Some(p.topic),
                payload: p.payload.to_vec(),
                ack,
            }
        }
        Ok(Ok(Event::Incoming(Packet::SubAck(s)))) => suback(
            s.return_codes
                .iter()
                .map(|c| match c {
                    rumqttc::SubscribeReasonCode::Success(q) => Ok(*q as u8),
                    // MQTT 3.1.1 gives no reason.
                    rumqttc::SubscribeReasonCode::Failure => Err(String::new()),
                })
                .collect(),
        ),
        Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) => Happening::Disconnected,
        Ok(Ok(_)) => Happening::Other,
    }
}

/// A SUBACK, one entry per filter of its SUBSCRIBE: the QoS granted, or
/// the broker's reason where refused.
fn suback(codes: Vec<Result<u8, String>>) -> Happening {
    let mut refused = Vec::new();
    let mut granted = Vec::new();
    for (i, code) in codes.into_iter().enumerate() {
        match code {
            Ok(qos) => granted.push((i, qos)),
            Err(why) => refused.push((i, why)),
        }
    }
    Happening::SubAck {
        answered: refused.len() + granted.len(),
        refused,
        granted,
    }
}

fn v5_happening(
    client: &rumqttc::v5::Client,
    event: Result<Result<rumqttc::v5::Event, rumqttc::v5::ConnectionError>, rumqttc::v5::RecvError>,
    acks: &AckScope,
    max: usize,
) -> Happening {
    use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::Event;
    use rumqttc::Outgoing;
    match event {
        Err(_) => Happening::ClosedByUs,
        Ok(Err(e)) => failure(e.to_string(), acks),
        Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
            // Packets rumqttc kept from the lost connection came out before
            // this, with acks that never send (AckScope).
            acks.begin_session();
            Happening::Connected {
                session_present: ack.session_present,
            }
        }
        Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
            let ack: Option<Ack> =
                (p.qos != QoS::AtMostOnce).then(|| Ack::v5(client, acks.stamp(), p.pkid, p.qos));
            if p.payload.len() > max {
                return Happening::Oversized {
                    topic: String::from_utf8_lossy(&p.topic).into_owned(),
                    len: p.payload.len(),
                    ack,
                };
            }
            Happening::Publish {
                topic: String::from_utf8(p.topic.to_vec()).ok(),
                payload: p.payload.to_vec(),
                ack,
            }
        }
        Ok(Ok(Event::Incoming(Packet::SubAck(s)))) => suback(
            s.return_codes
                .iter()
                .map(|c| match c {
                    SubscribeReasonCode::Success(q) => Ok(*q as u8),
                    refused => Err(format!("{refused:?}")),
                })
                .collect(),
        ),
        Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) => Happening::Disconnected,
        Ok(Ok(_)) => Happening::Other,
    }
}

/// The filters a SUBACK answers. It has one code per filter of its
/// SUBSCRIBE: every filter at a connect, only those refused before at a
/// retry (fewer, unless every filter was refused: the same list).
fn subscribed(answered: usize, retry_filters: &[String], filters: &[String]) -> Vec<String> {
    if answered == retry_filters.len() {
        retry_filters.to_vec()
    } else {
        filters.to_vec()
    }
}

/// The filters a SUBACK refused, as the error line names them (with the
/// broker's reason, when it gave one) and as they are asked for again;
/// `None` when it refused none.
fn refusal(asked: &[String], refused: &[(usize, String)]) -> Option<(Vec<String>, Vec<String>)> {
    if refused.is_empty() {
        return None;
    }
    let named = refused
        .iter()
        .filter_map(|(i, why)| match asked.get(*i) {
            Some(f) if why.is_empty() => Some(f.clone()),
            Some(f) => Some(format!("{f} ({why})")),
            None => None,
        })
        .collect();
    let again = refused
        .iter()
        .filter_map(|(i, _)| asked.get(*i).cloned())
        .collect();
    Some((named, again))
}

/// The line to log for a SUBACK that granted a QoS below the one asked
/// for, naming the filters by their position in `asked` (see `qos_watch`).
fn granted_words(
    qos: &mut crate::edges::qos_watch::QosWatch,
    asked: &[String],
    granted: &[(usize, u8)],
) -> Option<(LogLevel, String)> {
    let named: Vec<(String, u8)> = granted
        .iter()
        .filter_map(|(i, q)| asked.get(*i).map(|f| (f.clone(), *q)))
        .collect();
    qos.granted(&named)
}

/// The running MQTT source, as `main` holds it.
pub struct MqttSource {
    disconnect: Box<dyn Fn() -> bool + Send>,
    finished: crossbeam_channel::Receiver<()>,
}

impl MqttSource {
    /// Ends the session politely once the writer has flushed: the
    /// acknowledgements it queued go out before DISCONNECT (requests are
    /// sent in order, and the connection thread keeps polling until the
    /// DISCONNECT is out). A full request queue (thousands of acks after a
    /// burst) is waited out rather than skipping the DISCONNECT. Waits at
    /// most `timeout` in all.
    pub fn close(self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !(self.disconnect)() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        let _ = self
            .finished
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

/// Starts the MQTT thread. It runs until `shutdown` fires and `close` is
/// called; it never gives up on a broker (Telegraf would only restart us to
/// try again).
pub fn spawn(
    p: Prepared,
    tx: Sender<Message>,
    shutdown: Arc<Shutdown>,
) -> std::io::Result<MqttSource> {
    let session = Session::open(&p);
    let disconnect = session.disconnector();
    let (finished_tx, finished) = crossbeam_channel::bounded::<()>(0);
    thread::Builder::new()
        .name("mqtt connection".into())
        .spawn(move || {
            crate::edges::panic_exit::test_trigger("mqtt connection");
            run(&p, session, &tx, &shutdown);
            drop(finished_tx);
        })?;
    Ok(MqttSource {
        disconnect,
        finished,
    })
}

/// Whether a lost connection was taken over by another client with our
/// client id (see `takeover`). A cause already known (a restart, a frozen
/// broker) is no takeover. One bare close of a young connection is also
/// what a broker killed and back within a second looks like (the probe
/// then finds it up); two copies throw each other off again and again, so
/// MQTT 3.1.1's inference waits for the second in a row
/// (`last_loss_was_a_bare_close` remembers the one before). The broker's
/// own word (MQTT 5) is taken at once.
fn takeover_of(
    text: &str,
    lasted: Option<Duration>,
    explained: bool,
    fixed_client_id: bool,
    last_loss_was_a_bare_close: &mut bool,
) -> Option<crate::edges::takeover::Evidence> {
    let takeover = (!explained)
        .then(|| crate::edges::takeover::evidence(text, lasted, STABLE, fixed_client_id))
        .flatten();
    let inferred = matches!(
        takeover,
        Some(crate::edges::takeover::Evidence::Inferred { .. })
    );
    let takeover = takeover.filter(|_| !inferred || *last_loss_was_a_bare_close);
    *last_loss_was_a_bare_close = inferred;
    takeover
}

/// A failure's log level: `E!` for something to change (a takeover, or a
/// cause `connection_error` calls loud), `W!` for something to wait out.
fn failure_level(loud: bool, takeover: bool) -> LogLevel {
    if loud || takeover {
        LogLevel::Error
    } else {
        LogLevel::Warn
    }
}

/// Whether a connection that lasted this long (`None`: none was made)
/// counted as working: backoff and the log throttle start again after it.
fn lasted_long(lasted: Option<Duration>) -> bool {
    lasted.is_some_and(|d| d >= STABLE)
}

/// What is known about a lost connection besides rumqttc's words.
struct Lost {
    /// How long it lasted (`None`: the connection was never made).
    lasted: Option<Duration>,
    /// The size of a packet over the incoming limit that ended it.
    oversized: Option<usize>,
    /// Whether the next connection reads that packet once to skip it.
    way_out: bool,
    /// Another client with our client id took it over: in these words.
    takeover: Option<String>,
    /// `text` already names the cause (`explain_failure`).
    explained: bool,
}

/// The words a failure is logged with: a takeover's own, an oversized
/// message's (with or without a way past it), or, for a young connection
/// closed for no known reason, its likely causes; else `text` itself.
fn failure_words(text: String, lost: Lost, max_message_size: usize) -> String {
    match (lost.lasted, lost.oversized) {
        _ if lost.takeover.is_some() => lost.takeover.unwrap_or(text),
        (_, Some(len)) if lost.way_out => format!(
            "{text}: the broker sent a message of {len} bytes, over --max-message-size \
             {max_message_size}; MQTT 3.1.1 cannot refuse it without disconnecting, so the next \
             connection reads it once to skip it (set the broker's message_size_limit \
             below --max-message-size, or use --mqtt-version 5)"
        ),
        (_, Some(len)) => format!(
            "{text}: the broker sent a message of {len} bytes, more than \
             {OVERSIZE_WAY_OUT} times --max-message-size {max_message_size}, which MQTT 3.1.1 \
             cannot refuse without disconnecting (a persistent session redelivers it at every \
             reconnect, holding back what is queued behind it); set the broker's \
             message_size_limit below --max-message-size, use --mqtt-version 5, or \
             raise --max-message-size"
        ),
        (Some(d), None) if d < STABLE && !lost.explained => format!(
            "{text}; the broker closed the connection {:.1}s after accepting it: \
             another client with the same --client-id (a copied configuration?) \
             or a broker limit such as max_packet_size is the likely cause",
            d.as_secs_f64()
        ),
        _ => text,
    }
}

fn run(p: &Prepared, mut session: Session, tx: &Sender<Message>, shutdown: &Shutdown) {
    let stop = shutdown.receiver();
    let seed = now_ns().unsigned_abs();
    let mut backoff = Backoff::new(FIRST_RETRY, LONGEST_RETRY, seed);
    let mut connected_at: Option<Instant> = None;
    // Which failures and reconnects are logged (see `reconnect_log`).
    let mut log = ReconnectLog::default();
    let acks = AckScope::default();
    // A refused subscription is asked for again, with a backoff of its own
    // (the ACL may be fixed), by a timer thread: this one may be blocked
    // until the next keep-alive when no message comes.
    let mut subscribe_backoff = Backoff::new(FIRST_RETRY, LONGEST_RETRY, seed >> 1);
    // The filters the last retry asked for again.
    let mut retry_filters: Vec<String> = Vec::new();
    // Acks for messages skipped here, when the request queue was full: this
    // thread is what drains that queue, so it retries after every poll.
    let mut skipped_acks: Vec<Ack> = Vec::new();
    // The writer has gone: keep polling so that the acks and the DISCONNECT
    // it queued still go out, but hand nothing more over.
    let mut writer_gone = false;
    // After our DISCONNECT we read on until the broker closes the
    // connection. Closing it ourselves with messages still unread (a CAD
    // publishing while we stop) makes the kernel send a reset, which throws
    // away the last acks and the DISCONNECT before the broker reads them:
    // written lines were then redelivered at the next start.
    let mut disconnected: Option<Instant> = None;
    let mut qos = crate::edges::qos_watch::QosWatch::new(p.qos, p.persistent);
    // Whether the broker speaks only MQTT 3.1.1, once asked.
    let mut only_3_1_1: Option<bool> = None;
    // Whether the last loss was also a bare close of a fresh connection
    // (MQTT 3.1.1's only sign of a takeover, see below).
    let mut last_loss_was_a_bare_close = false;
    let silence = crate::edges::silence::Watch::start(
        p.silence_after,
        p.silence.clone(),
        shutdown.receiver(),
    );
    loop {
        let happening = session.next(&acks, p.max_message_size);
        retry_acks(&mut skipped_acks);
        if let Some(activity) = happening.for_silence() {
            silence.saw(activity, Instant::now());
        }
        match happening {
            Happening::Connected { session_present } => {
                if let Some(at_connect) =
                    on_connected(shutdown.is_triggered(), session_present, &p.filters)
                {
                    connected_at = Some(Instant::now());
                    qos.connected();
                    if session.keep_pinging_after_server_keep_alive_0(p.keep_alive) {
                        crate::debug!(
                            "The broker turned keep-alive off (Server Keep Alive 0); cadline still \
                             pings every {}s to notice a lost connection",
                            p.keep_alive.as_secs()
                        );
                    }
                    let mut what = if session_present {
                        "session resumed".to_owned()
                    } else {
                        "new session".to_owned()
                    };
                    match session.subscribe(&at_connect.subscribe, p.qos) {
                        Ok(()) => {
                            what.push_str(&format!(", subscribing to {}", p.filters.join(" ")))
                        }
                        Err(e) => crate::error!("{e}"),
                    }
                    session.unsubscribe(&at_connect.unsubscribe);
                    if let Some((verb, after)) = log.connected(backoff.failures()) {
                        messages::always(
                            LogLevel::Info,
                            &format!("{verb} to {}{after} ({what})", p.broker),
                        );
                    }
                }
                // Else stopped while connecting: the close follows.
            }
            Happening::Publish { .. } | Happening::Oversized { .. } if writer_gone => {}
            Happening::Publish {
                topic,
                payload,
                ack,
            } => {
                let Some(topic) = topic else {
                    crate::warn!("Message with a topic that is not UTF-8; skipped");
                    skipped_acks.extend(ack);
                    retry_acks(&mut skipped_acks);
                    continue;
                };
                // Stopping: hand nothing more over, so the writer's drain
                // ends (the message, unacknowledged, is redelivered).
                if shutdown.is_triggered() {
                    continue;
                }
                if ack.is_none() {
                    if let Some(line) = qos.delivered_at_qos_0(&topic) {
                        crate::warn!("{line}");
                    }
                }
                let message = Message {
                    topic,
                    payload,
                    received_ns: now_ns(),
                    ack,
                };
                // Blocks while the writer is behind: back-pressure reaches the
                // broker through unacknowledged messages and TCP, not memory.
                select! {
                    send(tx, message) -> sent => writer_gone = sent.is_err(),
                    recv(stop) -> _ => {}
                }
            }
            Happening::Oversized { topic, len, ack } => {
                // Back to the usual limit from the next connection on.
                session.set_incoming_limit(p.packet_limit());
                messages::note(&Note {
                    level: Level::Warn,
                    text: format!(
                        "Message on {} is {len} bytes, over --max-message-size {}; skipped",
                        crate::flatten::excerpt(&topic),
                        p.max_message_size
                    ),
                });
                skipped_acks.extend(ack);
                retry_acks(&mut skipped_acks);
            }
            Happening::SubAck {
                answered,
                refused,
                granted,
            } => {
                let asked = subscribed(answered, &retry_filters, &p.filters);
                if let Some((level, line)) = granted_words(&mut qos, &asked, &granted) {
                    messages::emit(level, &line);
                }
                if let Some((named, again)) = refusal(&asked, &refused) {
                    retry_filters = again;
                    let delay = subscribe_backoff.next_delay();
                    let n = subscribe_backoff.failures();
                    if reconnect_log::loud(n) {
                        crate::error!(
                        "The broker refused the subscription to {} (check its ACL); asking again in {:.1}s",
                        named.join(", "),
                        delay.as_secs_f64()
                    );
                    }
                    // Only the refused filters: asking again for a granted one
                    // would have the broker send its retained message again.
                    let subscriber = session.subscriber();
                    let (filters, qos) = (retry_filters.clone(), p.qos);
                    let timer =
                        thread::Builder::new()
                            .name("resubscribe".into())
                            .spawn(move || {
                                thread::sleep(delay);
                                // Fails only once the connection is closed (cadline
                                // is stopping): nothing to ask for then.
                                let _ = subscriber.subscribe(&filters, qos);
                            });
                    if let Err(e) = timer {
                        crate::error!("cannot schedule the subscription again: {e}");
                    }
                }
            }
            Happening::Disconnected => disconnected = Some(Instant::now()),
            Happening::Failed { text, loud } => {
                if stop_state(shutdown.is_triggered(), disconnected, Instant::now())
                    .loss_is_the_close
                {
                    crate::debug!("Connection closed while stopping: {text}");
                    break;
                }
                let lasted = connected_at.take().map(|t| t.elapsed());
                if lasted_long(lasted) {
                    backoff.reset();
                    subscribe_backoff.reset();
                    log.stable();
                }
                let explained =
                    explain_failure(p, &mut session, &text, lasted.is_some(), &mut only_3_1_1);
                let (text, loud, explained) = match explained {
                    Some(e) => (e.text, e.loud, true),
                    None => (text, loud, false),
                };
                let delay = backoff.next_delay();
                let n = backoff.failures();
                // Throttled on the cause, not on the text with its timings.
                let cause = text.clone();
                // MQTT 3.1.1 cannot refuse a message without disconnecting, and
                // a persistent session redelivers it at every reconnect: the
                // way out is to read it once, under a raised limit, and skip
                // and acknowledge it. Only up to OVERSIZE_WAY_OUT times the
                // limit, so memory stays a small multiple of it.
                let oversized = oversized_packet(&text);
                let way_out = oversized.and_then(|len| p.way_out(len));
                if let Some(len) = way_out {
                    session.set_incoming_limit(len);
                }
                let takeover = takeover_of(
                    &text,
                    lasted,
                    explained,
                    p.fixed_client_id,
                    &mut last_loss_was_a_bare_close,
                );
                let text = failure_words(
                    text,
                    Lost {
                        lasted,
                        oversized,
                        way_out: way_out.is_some(),
                        takeover: takeover
                            .map(|t| crate::edges::takeover::message(t, &p.client_id)),
                        explained,
                    },
                    p.max_message_size,
                );
                if let Some(quiet) = log.failed(&cause, n) {
                    let level = failure_level(loud, takeover.is_some());
                    let state = if lasted.is_some() {
                        "Connection lost"
                    } else {
                        "Cannot connect"
                    };
                    messages::emit(
                        level,
                        &format!(
                            "{state} to {}: {text} (attempt {n}, retrying in {:.1}s){quiet}",
                            p.broker,
                            delay.as_secs_f64()
                        ),
                    );
                }
                // An interruptible sleep: shutdown wakes it at once (nothing
                // is ever sent on `stop`; it only closes, which ends the wait).
                let _ = stop.recv_timeout(delay);
                if shutdown.is_triggered() {
                    break;
                }
            }
            Happening::ClosedByUs => break,
            Happening::Other => {}
        }
        if stop_state(shutdown.is_triggered(), disconnected, Instant::now()).past_closing {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 100;

    fn reset() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::ConnectionReset)
    }

    /// A client whose request queue holds one request: whether an ack was
    /// queued shows in whether the next one fits. No connection is made,
    /// but the connection is kept: the queue closes when it is dropped.
    fn v4_client() -> (rumqttc::Client, rumqttc::Connection) {
        rumqttc::Client::new(rumqttc::MqttOptions::new("t", "127.0.0.1", 1), 1)
    }

    fn v5_client() -> (rumqttc::v5::Client, rumqttc::v5::Connection) {
        rumqttc::v5::Client::new(rumqttc::v5::MqttOptions::new("t", "127.0.0.1", 1), 1)
    }

    fn v4_publish(pkid: u16, payload_len: usize) -> rumqttc::Event {
        let mut p = rumqttc::Publish::new(
            "glow/A/STATE",
            rumqttc::QoS::AtLeastOnce,
            vec![b' '; payload_len],
        );
        p.pkid = pkid;
        rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))
    }

    fn v5_publish(pkid: u16, payload_len: usize) -> rumqttc::v5::Event {
        use rumqttc::v5::mqttbytes::{v5::Publish, QoS};
        let mut p = Publish::new(
            "glow/A/STATE",
            QoS::AtLeastOnce,
            vec![b' '; payload_len],
            None,
        );
        p.pkid = pkid;
        rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::Publish(p))
    }

    /// Whether the client's one-request queue is still free.
    fn v4_queue_free(client: &rumqttc::Client) -> bool {
        let mut receipt = rumqttc::Publish::new("", rumqttc::QoS::AtLeastOnce, Vec::<u8>::new());
        receipt.pkid = 99;
        client.try_ack(&receipt).is_ok()
    }

    fn v5_queue_free(client: &rumqttc::v5::Client) -> bool {
        use rumqttc::v5::mqttbytes::{v5::Publish, QoS};
        let mut receipt = Publish::new("", QoS::AtLeastOnce, Vec::<u8>::new(), None);
        receipt.pkid = 99;
        client.try_ack(&receipt).is_ok()
    }

    fn take_ack(h: Happening) -> Ack {
        match h {
            Happening::Publish { ack: Some(ack), .. } => ack,
            _ => panic!("not a QoS 1 message"),
        }
    }

    #[test]
    fn mqtt_3_1_1_an_ack_of_the_live_connection_is_queued() {
        let ((client, _connection), acks) = (v4_client(), AckScope::default());
        let mut ack = take_ack(v4_happening(
            &client,
            Ok(Ok(v4_publish(7, 1))),
            &acks,
            LIMIT,
        ));
        assert!(ack.send());
        assert!(!v4_queue_free(&client), "the ack was not queued");
    }

    #[test]
    fn mqtt_3_1_1_an_ack_from_a_lost_connection_is_never_queued_on_the_next() {
        // Packet id 7 of the old connection means another message, or none,
        // on the next: the ack must be dropped, not sent.
        let ((client, _connection), acks) = (v4_client(), AckScope::default());
        let mut ack = take_ack(v4_happening(
            &client,
            Ok(Ok(v4_publish(7, 1))),
            &acks,
            LIMIT,
        ));
        let lost = v4_happening(
            &client,
            Ok(Err(rumqttc::ConnectionError::Io(reset()))),
            &acks,
            LIMIT,
        );
        assert!(matches!(lost, Happening::Failed { .. }));
        assert!(ack.send(), "a dropped ack is done, not retried");
        assert!(v4_queue_free(&client), "an old connection's ack was queued");
    }

    #[test]
    fn mqtt_5_an_ack_of_the_live_connection_is_queued() {
        let ((client, _connection), acks) = (v5_client(), AckScope::default());
        let mut ack = take_ack(v5_happening(
            &client,
            Ok(Ok(v5_publish(7, 1))),
            &acks,
            LIMIT,
        ));
        assert!(ack.send());
        assert!(!v5_queue_free(&client), "the ack was not queued");
    }

    #[test]
    fn mqtt_5_an_ack_from_a_lost_connection_is_never_queued_on_the_next() {
        let ((client, _connection), acks) = (v5_client(), AckScope::default());
        let mut ack = take_ack(v5_happening(
            &client,
            Ok(Ok(v5_publish(7, 1))),
            &acks,
            LIMIT,
        ));
        let lost = v5_happening(
            &client,
            Ok(Err(rumqttc::v5::ConnectionError::Io(reset()))),
            &acks,
            LIMIT,
        );
        assert!(matches!(lost, Happening::Failed { .. }));
        assert!(ack.send(), "a dropped ack is done, not retried");
        assert!(v5_queue_free(&client), "an old connection's ack was queued");
    }

    /// The payload length a message was handed over with, or `None` when
    /// it was skipped as oversized (its ack still present, to be sent).
    fn handed_over(h: Happening) -> Option<usize> {
        match h {
            Happening::Publish { payload, ack, .. } => {
                assert!(ack.is_some());
                Some(payload.len())
            }
            Happening::Oversized { len, ack, .. } => {
                assert!(
                    ack.is_some(),
                    "a skipped message must still be acknowledged"
                );
                assert!(len > LIMIT, "{len} bytes skipped at a limit of {LIMIT}");
                None
            }
            _ => panic!("neither a message nor an oversized one"),
        }
    }

    #[test]
    fn mqtt_3_1_1_a_payload_of_exactly_the_limit_is_handed_over_and_one_more_byte_is_not() {
        let ((client, _connection), acks) = (v4_client(), AckScope::default());
        let at = |len| {
            handed_over(v4_happening(
                &client,
                Ok(Ok(v4_publish(1, len))),
                &acks,
                LIMIT,
            ))
        };
        assert_eq!(at(LIMIT), Some(LIMIT));
        assert_eq!(at(LIMIT + 1), None);
    }

    #[test]
    fn mqtt_5_a_payload_of_exactly_the_limit_is_handed_over_and_one_more_byte_is_not() {
        let ((client, _connection), acks) = (v5_client(), AckScope::default());
        let at = |len| {
            handed_over(v5_happening(
                &client,
                Ok(Ok(v5_publish(1, len))),
                &acks,
                LIMIT,
            ))
        };
        assert_eq!(at(LIMIT), Some(LIMIT));
        assert_eq!(at(LIMIT + 1), None);
    }

    /// What `prepare` makes of a command line (no password file, the
    /// password given as if from `CADLINE_MQTT_PASSWORD`).
    fn prepared(args: &[&str], password: Option<&str>) -> Prepared {
        use clap::Parser;
        let cli = crate::config::cli::Cli::try_parse_from(
            std::iter::once("cadline").chain(args.iter().copied()),
        )
        .expect("flags");
        let config = Config::from_cli(cli).expect("config");
        prepare(&config, password.map(str::to_owned)).expect("prepared")
    }

    const BROKER: &str = "mqtt://127.0.0.1:1";

    #[test]
    fn the_packet_limits_are_the_message_limit_plus_the_publish_overhead() {
        let p = prepared(&["--broker", BROKER, "--max-message-size", "1000"], None);
        assert_eq!(p.packet_limit(), 1000 + 128 * 1024);
        assert_eq!(p.way_out_limit(), 4 * 1000 + 128 * 1024);
    }

    #[test]
    fn the_login_is_the_username_with_the_password_given() {
        let p = prepared(&["--broker", BROKER, "--username", "meter"], Some("s3cret"));
        assert_eq!(p.credentials(), Some(("meter", "s3cret")));
        let p = prepared(&["--broker", BROKER], Some("s3cret"));
        assert_eq!(p.credentials(), None);
        assert!(p.tls().is_none(), "mqtt:// has no TLS");
    }

    #[test]
    fn an_mqtt_3_1_1_session_is_opened_as_the_flags_say() {
        let p = prepared(
            &[
                "--broker",
                BROKER,
                "--max-message-size",
                "1000",
                "--keep-alive",
                "17",
                "--username",
                "meter",
            ],
            Some("pw"),
        );
        let Session::V4(_, connection) = Session::open(&p) else {
            panic!("MQTT 3.1.1 by default")
        };
        let o = &connection.eventloop.mqtt_options;
        assert!(o.clean_session(), "no --persistent-session");
        assert!(o.manual_acks(), "acks wait for the writer");
        assert_eq!(o.max_packet_size(), 1000 + 128 * 1024);
        assert_eq!(o.keep_alive(), Duration::from_secs(17));
        assert!(o.credentials().is_some());
        let mut p = prepared(
            &[
                "--broker",
                BROKER,
                "--persistent-session",
                "--client-id",
                "cad",
            ],
            None,
        );
        let Session::V4(_, connection) = Session::open(&p) else {
            panic!("MQTT 3.1.1")
        };
        assert!(!connection.eventloop.mqtt_options.clean_session());
        // MQTT 3.1.1 gives a session only to a client id.
        p.client_id.clear();
        let Session::V4(_, connection) = Session::open(&p) else {
            panic!("MQTT 3.1.1")
        };
        assert!(connection.eventloop.mqtt_options.clean_session());
    }

    #[test]
    fn an_mqtt_5_session_is_opened_as_the_flags_say() {
        let args = [
            "--broker",
            BROKER,
            "--mqtt-version",
            "5",
            "--max-message-size",
            "1000",
        ];
        let Session::V5(_, connection) = Session::open(&prepared(&args, None)) else {
            panic!("MQTT 5")
        };
        let o = &connection.eventloop.options;
        assert!(o.clean_start());
        assert!(o.manual_acks());
        assert_eq!(o.max_packet_size(), Some(1000 + 128 * 1024));
        assert_eq!(o.session_expiry_interval(), None);
        let persistent = [&args[..], &["--persistent-session", "--client-id", "cad"]].concat();
        let Session::V5(_, connection) = Session::open(&prepared(&persistent, None)) else {
            panic!("MQTT 5")
        };
        let o = &connection.eventloop.options;
        assert!(!o.clean_start());
        assert_eq!(o.session_expiry_interval(), Some(u32::MAX));
    }

    #[test]
    fn the_incoming_limit_is_raised_for_the_next_mqtt_3_1_1_connection_only() {
        let p = prepared(&["--broker", BROKER], None);
        let mut session = Session::open(&p);
        session.set_incoming_limit(12_345);
        let Session::V4(_, connection) = &session else {
            panic!("MQTT 3.1.1")
        };
        assert_eq!(connection.eventloop.mqtt_options.max_packet_size(), 12_345);
    }

    #[test]
    fn a_keep_alive_the_broker_did_not_turn_off_is_left_alone() {
        // rumqttc's options refuse a keep-alive of 0 from outside: only its
        // CONNACK handling sets one (broker_faults:: covers that case).
        let ours = Duration::from_secs(30);
        let args = [
            "--broker",
            BROKER,
            "--mqtt-version",
            "5",
            "--keep-alive",
            "9",
        ];
        let mut v5 = Session::open(&prepared(&args, None));
        assert!(!v5.keep_pinging_after_server_keep_alive_0(ours));
        assert_eq!(v5.keep_alive_in_force(), Duration::from_secs(9));
        let mut v4 = Session::open(&prepared(&["--broker", BROKER, "--keep-alive", "9"], None));
        assert!(!v4.keep_pinging_after_server_keep_alive_0(ours));
        assert_eq!(v4.keep_alive_in_force(), Duration::from_secs(9));
    }

    #[test]
    fn an_mqtt_5_disconnect_from_the_broker_is_taken_out_once() {
        use rumqttc::v5::mqttbytes::v5::{Disconnect, DisconnectReasonCode, Packet};
        let p = prepared(&["--broker", BROKER, "--mqtt-version", "5"], None);
        let mut session = Session::open(&p);
        assert!(session.take_broker_disconnect().is_none());
        if let Session::V5(_, connection) = &mut session {
            connection
                .eventloop
                .state
                .events
                .push_back(rumqttc::v5::Event::Incoming(Packet::Disconnect(
                    Disconnect::new(DisconnectReasonCode::QuotaExceeded),
                )));
        }
        let d = session.take_broker_disconnect().expect("the DISCONNECT");
        assert_eq!((d.code, d.name.as_str()), (0x97, "QuotaExceeded"));
        assert!(session.take_broker_disconnect().is_none(), "taken out");
    }

    #[test]
    fn the_size_of_a_packet_over_the_limit_is_read_from_rumqttcs_error() {
        let e = rumqttc::ConnectionError::MqttState(rumqttc::StateError::Deserialization(
            rumqttc::Error::PayloadSizeLimitExceeded(300_000),
        ));
        assert_eq!(oversized_packet(&e.to_string()), Some(300_000));
        assert_eq!(oversized_packet("I/O: Connection reset by peer"), None);
    }

    #[test]
    fn a_suback_names_each_filter_granted_or_refused_by_position() {
        let Happening::SubAck {
            answered,
            refused,
            granted,
        } = suback(vec![Ok(1), Err("NotAuthorized".into()), Ok(0)])
        else {
            panic!("a SUBACK")
        };
        assert_eq!(answered, 3);
        assert_eq!(refused, vec![(1, "NotAuthorized".to_owned())]);
        assert_eq!(granted, vec![(0, 1), (2, 0)]);
    }

    #[test]
    fn a_suback_answers_the_retried_filters_when_it_has_as_many_codes() {
        let all = vec!["a/#".to_owned(), "b/#".to_owned(), "c/#".to_owned()];
        let retried = vec!["b/#".to_owned()];
        assert_eq!(subscribed(1, &retried, &all), retried);
        assert_eq!(subscribed(3, &retried, &all), all);
    }

    #[test]
    fn connack_suback_and_our_disconnect_are_told_apart_in_both_versions() {
        let ((v4, _c4), (v5, _c5), acks) = (v4_client(), v5_client(), AckScope::default());
        for present in [false, true] {
            let ack = rumqttc::ConnAck::new(rumqttc::ConnectReturnCode::Success, present);
            let h = v4_happening(
                &v4,
                Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack)))),
                &acks,
                LIMIT,
            );
            assert!(
                matches!(h, Happening::Connected { session_present } if session_present == present)
            );
            use rumqttc::v5::mqttbytes::v5::{ConnAck, ConnectReturnCode, Packet};
            let ack = ConnAck {
                session_present: present,
                code: ConnectReturnCode::Success,
                properties: None,
            };
            let h = v5_happening(
                &v5,
                Ok(Ok(rumqttc::v5::Event::Incoming(Packet::ConnAck(ack)))),
                &acks,
                LIMIT,
            );
            assert!(
                matches!(h, Happening::Connected { session_present } if session_present == present)
            );
        }
        let suback = rumqttc::SubAck::new(
            1,
            vec![
                rumqttc::SubscribeReasonCode::Success(rumqttc::QoS::AtLeastOnce),
                rumqttc::SubscribeReasonCode::Failure,
            ],
        );
        let h = v4_happening(
            &v4,
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(
                suback,
            )))),
            &acks,
            LIMIT,
        );
        assert!(
            matches!(h, Happening::SubAck { answered: 2, ref refused, ref granted }
            if refused == &[(1, String::new())] && granted == &[(0, 1)])
        );
        {
            use rumqttc::v5::mqttbytes::v5::{Packet, SubAck, SubscribeReasonCode};
            use rumqttc::v5::mqttbytes::QoS;
            let suback = SubAck {
                pkid: 1,
                return_codes: vec![
                    SubscribeReasonCode::NotAuthorized,
                    SubscribeReasonCode::Success(QoS::AtMostOnce),
                ],
                properties: None,
            };
            let h = v5_happening(
                &v5,
                Ok(Ok(rumqttc::v5::Event::Incoming(Packet::SubAck(suback)))),
                &acks,
                LIMIT,
            );
            assert!(
                matches!(h, Happening::SubAck { answered: 2, ref refused, ref granted }
                if refused == &[(0, "NotAuthorized".to_owned())] && granted == &[(1, 0)])
            );
        }
        let out = rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect);
        assert!(matches!(
            v4_happening(&v4, Ok(Ok(out)), &acks, LIMIT),
            Happening::Disconnected
        ));
        let out = rumqttc::v5::Event::Outgoing(rumqttc::Outgoing::Disconnect);
        assert!(matches!(
            v5_happening(&v5, Ok(Ok(out)), &acks, LIMIT),
            Happening::Disconnected
        ));
    }

    #[test]
    fn a_qos_0_message_has_no_ack_in_both_versions() {
        let ((v4, _c4), (v5, _c5), acks) = (v4_client(), v5_client(), AckScope::default());
        let p = rumqttc::Publish::new("glow/A/STATE", rumqttc::QoS::AtMostOnce, vec![b'{']);
        let h = v4_happening(
            &v4,
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))),
            &acks,
            LIMIT,
        );
        assert!(matches!(h, Happening::Publish { ack: None, .. }));
        use rumqttc::v5::mqttbytes::{v5::Packet, v5::Publish, QoS};
        let p = Publish::new("glow/A/STATE", QoS::AtMostOnce, vec![b'{'], None);
        let h = v5_happening(
            &v5,
            Ok(Ok(rumqttc::v5::Event::Incoming(Packet::Publish(p)))),
            &acks,
            LIMIT,
        );
        assert!(matches!(h, Happening::Publish { ack: None, .. }));
    }

    #[test]
    fn a_failure_is_explained_and_ends_the_connections_acks() {
        let ((client, _connection), acks) = (v4_client(), AckScope::default());
        let mut ack = take_ack(v4_happening(
            &client,
            Ok(Ok(v4_publish(3, 1))),
            &acks,
            LIMIT,
        ));
        let Happening::Failed { text, .. } =
            failure("I/O: Connection refused (os error 111)".into(), &acks)
        else {
            panic!("a failure")
        };
        assert_eq!(
            text,
            crate::edges::connection_error::diagnose("I/O: Connection refused (os error 111)").text
        );
        assert!(
            ack.send(),
            "an ack of a lost connection is done with, not retried"
        );
        assert!(v4_queue_free(&client), "and never queued");
    }

    /// A broker that speaks only MQTT 3.1.1 to the probe: it answers every
    /// CONNECT with a CONNACK (accepted) and reads on until the client
    /// leaves. Its port, and the thread serving it.
    fn connack_server() -> (u16, std::thread::JoinHandle<()>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                if stream.read(&mut buf).is_ok_and(|n| n > 0) {
                    let _ = stream.write_all(&[0x20, 0x02, 0x00, 0x00]);
                    while stream.read(&mut buf).is_ok_and(|n| n > 0) {}
                }
            }
        });
        (port, server)
    }

    /// A port nothing listens on (bound, then closed).
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port()
    }

    #[test]
    fn a_bare_close_is_explained_by_what_a_probe_of_the_broker_finds() {
        let raw = "I/O: Connection reset by peer (os error 104)";
        let explain = |args: &[&str], established: bool| {
            let p = prepared(args, None);
            let mut session = Session::open(&p);
            explain_failure(&p, &mut session, raw, established, &mut None).map(|e| e.text)
        };
        let gone = format!("mqtt://127.0.0.1:{}", closed_port());
        // An established connection, and nobody answers any more: gone.
        let text = explain(&["--broker", &gone], true).expect("explained");
        assert_eq!(text, crate::edges::connection_loss::broker_gone(raw).text);
        // MQTT 5's CONNECT closed without a word, and nobody answers: no
        // more is known (it is not a 3.1.1-only broker).
        assert_eq!(
            explain(&["--broker", &gone, "--mqtt-version", "5"], false),
            None
        );
        // A broker that answers 3.1.1: not gone; and MQTT 5's CONNECT was
        // closed by a 3.1.1-only broker.
        let (port, server) = connack_server();
        let up = format!("mqtt://127.0.0.1:{port}");
        assert_eq!(explain(&["--broker", &up], true), None);
        server.join().expect("served");
        let (port, server) = connack_server();
        let up = format!("mqtt://127.0.0.1:{port}");
        let text = explain(&["--broker", &up, "--mqtt-version", "5"], false).expect("explained");
        assert_eq!(
            text,
            crate::edges::connection_loss::speaks_only_3_1_1(raw).text
        );
        server.join().expect("served");
        // MQTT 3.1.1 refused at CONNECT: no probe, nothing more known.
        assert_eq!(explain(&["--broker", &up], false), None);
        // Not a bare close: no probe either.
        let p = prepared(&["--broker", &up, "--mqtt-version", "5"], None);
        let mut session = Session::open(&p);
        assert!(explain_failure(&p, &mut session, "some other error", false, &mut None).is_none());
    }

    #[test]
    fn close_asks_until_the_disconnect_is_queued_then_waits_for_the_thread() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let tries = Arc::new(AtomicUsize::new(0));
        let (finished_tx, finished) = crossbeam_channel::bounded::<()>(0);
        let source = MqttSource {
            disconnect: {
                let tries = tries.clone();
                // The request queue is full for the first two tries.
                Box::new(move || tries.fetch_add(1, Ordering::SeqCst) >= 2)
            },
            finished,
        };
        let thread_ends = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(finished_tx);
        });
        let start = Instant::now();
        source.close(Duration::from_secs(10));
        assert_eq!(
            tries.load(Ordering::SeqCst),
            3,
            "asked until queued, then no more"
        );
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(50),
            "did not wait for the thread"
        );
        assert!(
            took < Duration::from_secs(5),
            "waited {took:?} after the thread ended"
        );
        thread_ends.join().expect("no panic");
    }

    #[test]
    fn a_connection_counts_as_working_from_30_seconds_on() {
        assert!(!lasted_long(None));
        assert!(!lasted_long(Some(STABLE - Duration::from_millis(1))));
        assert!(lasted_long(Some(STABLE)));
        assert_eq!(STABLE, Duration::from_secs(30));
    }

    #[test]
    fn a_packet_up_to_four_times_the_limit_is_read_once_to_skip_it() {
        let p = prepared(&["--broker", BROKER, "--max-message-size", "1000"], None);
        let most = 4 * 1000 + 128 * 1024;
        assert_eq!(p.way_out(most), Some(most));
        assert_eq!(p.way_out(most + 1), None);
    }

    fn lost(lasted: Option<Duration>) -> Lost {
        Lost {
            lasted,
            oversized: None,
            way_out: false,
            takeover: None,
            explained: false,
        }
    }

    #[test]
    fn a_young_connection_closed_for_no_known_reason_names_the_likely_causes() {
        let raw = "I/O: connection closed by peer abruptly";
        let young = failure_words(raw.into(), lost(Some(Duration::from_millis(2500))), 1000);
        assert!(
            young.starts_with(raw)
                && young.contains("closed the connection 2.5s after accepting it")
                && young.contains("--client-id"),
            "{young}"
        );
        for words in [
            failure_words(raw.into(), lost(Some(STABLE)), 1000),
            failure_words(raw.into(), lost(None), 1000),
            failure_words(
                raw.into(),
                Lost {
                    explained: true,
                    ..lost(Some(Duration::from_secs(2)))
                },
                1000,
            ),
        ] {
            assert_eq!(
                words, raw,
                "a connection that lasted, none, or a known cause"
            );
        }
    }

    #[test]
    fn an_oversized_message_says_whether_the_next_connection_gets_past_it() {
        let raw = "Mqtt state: payload size limit exceeded: 5000";
        let skipped = failure_words(
            raw.into(),
            Lost {
                oversized: Some(5000),
                way_out: true,
                ..lost(Some(Duration::from_secs(1)))
            },
            1000,
        );
        assert!(
            skipped.starts_with(raw)
                && skipped.contains("a message of 5000 bytes, over --max-message-size 1000")
                && skipped.contains("reads it once to skip it"),
            "{skipped}"
        );
        let stuck = failure_words(
            raw.into(),
            Lost {
                oversized: Some(5000),
                ..lost(None)
            },
            1000,
        );
        assert!(
            stuck.contains("more than 4 times --max-message-size 1000")
                && stuck.contains("raise --max-message-size"),
            "{stuck}"
        );
    }

    #[test]
    fn a_takeover_is_told_in_its_own_words() {
        let words = failure_words(
            "I/O: connection closed by peer abruptly".into(),
            Lost {
                takeover: Some("another cadline took over".into()),
                oversized: Some(5000),
                ..lost(Some(Duration::from_secs(1)))
            },
            1000,
        );
        assert_eq!(words, "another cadline took over");
    }

    #[test]
    fn mqtts_without_a_ca_file_trusts_the_systems_ca_bundle() {
        let p = prepared(&["--broker", "mqtts://127.0.0.1:1"], None);
        // SSL_CERT_FILE, where set, is the user's word for the bundle.
        let bundle = std::env::var("SSL_CERT_FILE")
            .ok()
            .into_iter()
            .chain(SYSTEM_CA_BUNDLES.iter().map(|p| p.to_string()))
            .find(|path| std::path::Path::new(path).is_file())
            .expect("a system CA bundle (Debian: apt-get install ca-certificates)");
        let expected = std::fs::read(&bundle).expect("readable");
        match p.tls() {
            Some(TlsConfiguration::Simple {
                ca, client_auth, ..
            }) => {
                assert!(ca == &expected, "the CA is not {bundle}");
                assert!(client_auth.is_none());
            }
            _ => panic!("mqtts:// without TLS settings"),
        }
    }

    /// Reads one MQTT packet: its type byte and its body.
    fn read_packet(stream: &mut impl std::io::Read) -> Option<(u8, Vec<u8>)> {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).ok()?;
        let kind = byte[0];
        let (mut len, mut shift) = (0usize, 0);
        loop {
            stream.read_exact(&mut byte).ok()?;
            len |= usize::from(byte[0] & 0x7f) << shift;
            shift += 7;
            if byte[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).ok()?;
        Some((kind, body))
    }

    /// A broker that accepts one connection, answers its CONNECT, and
    /// hands every later packet to the test until an UNSUBSCRIBE, then
    /// closes the connection.
    fn scripted_broker(v5: bool) -> (u16, crossbeam_channel::Receiver<(u8, Vec<u8>)>) {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let Some((0x10, _)) = read_packet(&mut stream) else {
                return;
            };
            let connack: &[u8] = if v5 {
                &[0x20, 0x03, 0x00, 0x00, 0x00]
            } else {
                &[0x20, 0x02, 0x00, 0x00]
            };
            if stream.write_all(connack).is_err() {
                return;
            }
            while let Some((kind, body)) = read_packet(&mut stream) {
                let _ = tx.send((kind, body));
                if kind & 0xf0 == 0xa0 {
                    break;
                }
            }
        });
        (port, rx)
    }

    /// The filters of a SUBSCRIBE body, each with its QoS.
    fn subscribed_filters(body: &[u8], v5: bool) -> Vec<(String, u8)> {
        let mut rest = &body[2..];
        if v5 {
            rest = &rest[1..]; // no properties
        }
        let mut out = Vec::new();
        while rest.len() >= 3 {
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let filter = String::from_utf8(rest[2..2 + len].to_vec()).expect("utf-8");
            out.push((filter, rest[2 + len] & 3));
            rest = &rest[3 + len..];
        }
        out
    }

    #[test]
    fn subscribe_and_unsubscribe_reach_the_broker_at_the_qos_asked_for() {
        // 40 filters of 70-odd bytes: a SUBSCRIBE of about 3 KB, more than
        // a small outgoing packet limit would let out.
        let filters: Vec<String> = (0..40)
            .map(|i| format!("glow/{}/{i}/#", "x".repeat(60)))
            .collect();
        for (v5, qos) in [(false, 1), (false, 0), (true, 1), (true, 0)] {
            let (port, packets) = scripted_broker(v5);
            let broker = format!("mqtt://127.0.0.1:{port}");
            let version = if v5 { "5" } else { "3.1.1" };
            let p = prepared(&["--broker", &broker, "--mqtt-version", version], None);
            let mut session = Session::open(&p);
            if qos == 0 {
                // As after an oversized message: the next connection's
                // limits, set again (at QoS 1, those of `open`).
                session.set_incoming_limit(p.packet_limit());
            }
            // Queued now, sent once connected.
            session.subscribe(&filters, qos).expect("queued");
            session.unsubscribe(&["old/#".to_owned()]);
            let poll = std::thread::spawn(move || {
                let acks = AckScope::default();
                for _ in 0..20 {
                    if matches!(
                        session.next(&acks, 100),
                        Happening::Failed { .. } | Happening::ClosedByUs
                    ) {
                        break;
                    }
                }
            });
            let case = format!("MQTT {version}, QoS {qos}");
            let (kind, body) = packets
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("{case}: no SUBSCRIBE reached the broker"));
            assert_eq!(kind, 0x82, "{case}: not a SUBSCRIBE");
            let expected: Vec<(String, u8)> = filters.iter().map(|f| (f.clone(), qos)).collect();
            assert_eq!(subscribed_filters(&body, v5), expected, "{case}");
            let (kind, body) = packets
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("{case}: no UNSUBSCRIBE reached the broker"));
            assert_eq!(kind, 0xa2, "{case}: not an UNSUBSCRIBE");
            assert!(body.ends_with(b"\x00\x05old/#"), "{case}: {body:?}");
            poll.join().expect("no panic");
        }
    }

    #[test]
    fn a_subscription_on_a_closed_connection_is_an_error() {
        // The connection thread has gone (cadline is stopping): the
        // request cannot be queued, and says so.
        let (client, connection) = v4_client();
        drop(connection);
        let (_, other) = v4_client();
        let session = Session::V4(client, other);
        let e = session
            .subscribe(&["glow/#".to_owned()], 1)
            .expect_err("closed");
        assert!(e.starts_with("subscribe request failed"), "{e}");
        let (client, connection) = v5_client();
        drop(connection);
        let e = Subscriber::V5(client)
            .subscribe(&["glow/#".to_owned()], 1)
            .expect_err("closed");
        assert!(e.starts_with("subscribe request failed"), "{e}");
    }

    #[test]
    fn a_qos_granted_below_the_one_asked_for_names_the_filter_by_position() {
        let mut qos = crate::edges::qos_watch::QosWatch::new(1, true);
        let asked = ["a/#".to_owned(), "b/#".to_owned()];
        let (_, line) = granted_words(&mut qos, &asked, &[(0, 1), (1, 0)]).expect("said");
        assert!(line.contains("b/#") && !line.contains("a/#"), "{line}");
        let mut qos = crate::edges::qos_watch::QosWatch::new(1, true);
        assert_eq!(granted_words(&mut qos, &asked, &[(0, 1), (1, 1)]), None);
    }

    #[test]
    fn a_takeover_is_taken_from_the_broker_at_once_and_inferred_at_the_second_bare_close() {
        use crate::edges::takeover::Evidence;
        let young = Some(Duration::from_secs(1));
        let bare = "I/O: connection closed by peer abruptly";
        let mut last_bare = false;
        // MQTT 3.1.1: the first bare close of a fresh connection is not
        // enough, the second in a row is.
        assert_eq!(takeover_of(bare, young, false, true, &mut last_bare), None);
        assert!(last_bare);
        assert_eq!(
            takeover_of(bare, young, false, true, &mut last_bare),
            Some(Evidence::Inferred {
                lasted: Duration::from_secs(1)
            })
        );
        // MQTT 5: the broker's word, whatever came before.
        let mut last_bare = false;
        let said = "MQTT 5 DISCONNECT SessionTakenOver";
        assert_eq!(
            takeover_of(said, young, false, true, &mut last_bare),
            Some(Evidence::BrokerSaid)
        );
        assert!(!last_bare);
        // A cause already explained is no takeover, and breaks the row.
        let mut last_bare = true;
        assert_eq!(takeover_of(bare, young, true, true, &mut last_bare), None);
        assert!(!last_bare);
    }

    #[test]
    fn a_takeover_or_a_loud_cause_is_an_error_else_a_warning() {
        assert_eq!(failure_level(false, false), LogLevel::Warn);
        assert_eq!(failure_level(true, false), LogLevel::Error);
        assert_eq!(failure_level(false, true), LogLevel::Error);
    }

    /// One step of a silence timeline: the loop saw something, or the
    /// watch looks at the clock.
    enum Step {
        Saw(Happening),
        Look,
    }

    /// The seconds at which the silence watch (`--silence-warning 120`),
    /// told what the loop saw as `run` tells it, has a warning due.
    fn silence_warned_at(timeline: Vec<(u64, Step)>) -> Vec<u64> {
        use crate::edges::silence::{Lookout, Setting, Watch};
        let setting = Setting {
            filters: vec!["glow/#".into()],
            prefix: "glow".into(),
            probe: String::new(),
        };
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let watch = Watch::start(None, setting, stop);
        let t0 = Instant::now();
        let mut lookout = Lookout::new(Duration::from_secs(120));
        let mut warned = Vec::new();
        for (secs, step) in timeline {
            let at = t0 + Duration::from_secs(secs);
            match step {
                Step::Saw(happening) => {
                    if let Some(activity) = happening.for_silence() {
                        watch.saw(activity, at);
                    }
                }
                Step::Look => {
                    if watch.look(&mut lookout, at).0.is_some() {
                        warned.push(secs);
                    }
                }
            }
        }
        warned
    }

    fn connected() -> Step {
        Step::Saw(Happening::Connected {
            session_present: false,
        })
    }

    #[test]
    fn after_a_reconnect_the_silence_is_counted_from_the_connection() {
        let warned = silence_warned_at(vec![
            (0, connected()),
            (
                10,
                Step::Saw(Happening::Failed {
                    text: "connection reset".into(),
                    loud: false,
                }),
            ),
            (200, Step::Look),
            (300, connected()),
            (419, Step::Look),
            (421, Step::Look),
        ]);
        assert_eq!(
            warned,
            [421],
            "no warning while the broker is down, one 120 s after the reconnect"
        );
    }

    #[test]
    fn messages_handed_over_or_skipped_keep_the_silence_warning_away() {
        let warned = silence_warned_at(vec![
            (0, connected()),
            (
                100,
                Step::Saw(Happening::Publish {
                    topic: Some("glow/A/STATE".into()),
                    payload: b"{}".to_vec(),
                    ack: None,
                }),
            ),
            (219, Step::Look),
            (
                230,
                Step::Saw(Happening::Oversized {
                    topic: "glow/A/STATE".into(),
                    len: 5000,
                    ack: None,
                }),
            ),
            (349, Step::Look),
            (351, Step::Look),
        ]);
        assert_eq!(
            warned,
            [351],
            "a warning only once 120 s pass with no message of either kind"
        );
    }

    #[test]
    fn a_connection_made_while_stopping_subscribes_to_nothing_and_is_not_announced() {
        let filters = ["glow/+/SENSOR/+/#".to_owned()];
        for session_present in [false, true] {
            assert_eq!(on_connected(true, session_present, &filters), None);
            let at_connect = on_connected(false, session_present, &filters).expect("running");
            assert_eq!(at_connect, AtConnect::new(session_present, &filters));
            assert_eq!(at_connect.subscribe, filters);
        }
    }

    #[test]
    fn a_connection_lost_once_a_stop_is_asked_for_is_the_close_not_a_failure() {
        let now = Instant::now();
        // Running: a loss is logged and the loop reconnects.
        assert!(!stop_state(false, None, now).loss_is_the_close);
        // Stopping, our DISCONNECT not out yet (the broker or the network
        // closed first): no "Connection lost", the loop ends.
        assert!(stop_state(true, None, now).loss_is_the_close);
        assert!(stop_state(true, Some(now), now).loss_is_the_close);
        assert!(stop_state(false, Some(now), now).loss_is_the_close);
    }

    #[test]
    fn after_our_disconnect_the_loop_waits_500_ms_for_the_broker_then_ends() {
        let out = Instant::now();
        let at = |ms| out + Duration::from_millis(ms);
        for ms in [0, 1, 250, 500] {
            assert!(
                !stop_state(true, Some(out), at(ms)).past_closing,
                "{ms} ms after the DISCONNECT"
            );
        }
        for ms in [501, 600, 60_000] {
            assert!(
                stop_state(true, Some(out), at(ms)).past_closing,
                "{ms} ms after the DISCONNECT"
            );
        }
        // No DISCONNECT out yet: the stop waits for `close` to send it.
        assert!(!stop_state(true, None, at(60_000)).past_closing);
    }

    #[test]
    fn a_refusal_names_each_filter_with_the_brokers_reason_and_asks_for_those_again() {
        let asked = ["a/#".to_owned(), "b/#".to_owned(), "c/#".to_owned()];
        assert_eq!(refusal(&asked, &[]), None, "nothing refused");
        let (named, again) =
            refusal(&asked, &[(0, String::new()), (2, "NotAuthorized".into())]).expect("refused");
        assert_eq!(named, vec!["a/#", "c/# (NotAuthorized)"]);
        assert_eq!(again, vec!["a/#", "c/#"]);
    }
}
