//! Command-line flags (`Cli`, exactly what the user typed) and `Config`
//! (validated, ready to use). Building `Config` does no I/O: files are read
//! later, when the MQTT source starts, so `--help` and flag errors never
//! depend on the machine.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::messages::LogLevel;
use crate::meter_time::TimestampSource;

const EXAMPLES: &str = "\
Examples:
  Run under Telegraf (see telegraf/cadline.conf), or try it by hand:
    cadline --broker mqtt://localhost:1883
  A CAD that publishes under energy/ and a broker that wants a login:
    CADLINE_MQTT_PASSWORD=secret cadline --broker mqtts://broker.lan:8883 --prefix energy --username glow
  Convert a saved capture, or watch a live feed:
    cadline --stdin < telegraf/example-capture.txt
    mosquitto_sub -v -t 'glow/#' | cadline --stdin
  Several instances sharing one stream (a building of CADs):
    cadline --broker mqtt://cluster:1883 --shared-group cadline --client-id cadline-1 --persistent-session

Every flag can also be set by an environment variable, shown as [env: ...].
The broker password is read from --password-file or CADLINE_MQTT_PASSWORD,
never from the command line (other users can read command lines).
Lines go to stdout; one-line diagnostics go to stderr prefixed E!/W!/I!/D!
(Telegraf's execd log levels). cadline exits when stdin closes (Telegraf's
stop signal) or on SIGTERM/SIGINT.";

/// Flattens Hildebrand Glow CAD MQTT messages into InfluxDB line protocol.
#[derive(Debug, Parser)]
#[command(name = "cadline", version, about, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// Read `mosquitto_sub -v` output (`topic payload` per line) from stdin instead of
    /// subscribing to a broker.
    #[arg(long, env = "CADLINE_STDIN")]
    pub stdin: bool,

    /// Broker URL: mqtt://host[:1883] or mqtts://host[:8883] (TLS).
    #[arg(
        long,
        env = "CADLINE_BROKER",
        default_value = "mqtt://localhost:1883",
        value_name = "URL"
    )]
    pub broker: String,

    /// Topic prefix the CAD publishes under (set on the device; often `glow` or `energy`).
    #[arg(long, env = "CADLINE_PREFIX", default_value = "glow")]
    pub prefix: String,

    /// MQTT topic filter to subscribe to, repeatable; replaces the filters derived from
    /// --prefix (topics must still be under --prefix).
    #[arg(
        long = "topic",
        env = "CADLINE_TOPIC",
        value_delimiter = ',',
        value_name = "FILTER"
    )]
    pub topics: Vec<String>,

    /// Subscribe as `$share/NAME/<filter>` so that instances in the same group split
    /// one stream between them.
    #[arg(long, env = "CADLINE_SHARED_GROUP", value_name = "NAME")]
    pub shared_group: Option<String>,

    /// Broker user name.
    #[arg(long, env = "CADLINE_USERNAME", value_name = "USER")]
    pub username: Option<String>,

    /// File whose first line is the broker password (or set CADLINE_MQTT_PASSWORD).
    #[arg(long, env = "CADLINE_PASSWORD_FILE", value_name = "PATH")]
    pub password_file: Option<PathBuf>,

    /// MQTT client id (default: cadline-<pid>-<time>). Required with --persistent-session.
    #[arg(long, env = "CADLINE_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,

    /// MQTT QoS: 1 (at least once; a reading is acknowledged only once written) or 0.
    #[arg(long, env = "CADLINE_QOS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,

    /// Hold each QoS 1 acknowledgement this many seconds after the message's lines were
    /// written, so that a reading Telegraf lost in a crash before its next flush is
    /// redelivered; acknowledgements still held at exit are not sent. See the README.
    #[arg(long, env = "CADLINE_ACK_DELAY", default_value_t = 0.0, value_name = "SECONDS",
          value_parser = parse_ack_delay)]
    pub ack_delay: f64,

    /// Ask the broker to keep our subscriptions and queue QoS 1 messages while cadline
    /// is down (clean session off). Needs a fixed --client-id.
    #[arg(long, env = "CADLINE_PERSISTENT_SESSION")]
    pub persistent_session: bool,

    /// Seconds between MQTT keep-alive pings (5 or more).
    #[arg(long, env = "CADLINE_KEEP_ALIVE", default_value_t = 60, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(5..=65535))]
    pub keep_alive: u64,

    /// CA certificate (PEM) to verify the broker with, instead of the system's roots.
    #[arg(long, env = "CADLINE_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,

    /// Client certificate (PEM) for brokers that require one; needs --key-file.
    #[arg(
        long,
        env = "CADLINE_CERT_FILE",
        value_name = "PATH",
        requires = "key_file"
    )]
    pub cert_file: Option<PathBuf>,

    /// Private key (PEM) of --cert-file.
    #[arg(
        long,
        env = "CADLINE_KEY_FILE",
        value_name = "PATH",
        requires = "cert_file"
    )]
    pub key_file: Option<PathBuf>,

    /// MQTT protocol version.
    #[arg(long, env = "CADLINE_MQTT_VERSION", default_value = "3.1.1", value_parser = ["3.1.1", "5"])]
    pub mqtt_version: String,

    /// Largest payload accepted, in bytes; larger messages are skipped with a warning.
    #[arg(
        long,
        env = "CADLINE_MAX_MESSAGE_SIZE",
        default_value_t = 1_048_576,
        value_name = "BYTES"
    )]
    pub max_message_size: usize,

    /// Which time stamps the lines: the meter's reading time, or the time of arrival.
    #[arg(long, env = "CADLINE_TIMESTAMP", value_enum, default_value_t = TimestampArg::Meter)]
    pub timestamp: TimestampArg,

    /// Also write MPAN/MPRN and supplier as tags (personal data; off by default).
    #[arg(long, env = "CADLINE_METER_TAGS")]
    pub meter_tags: bool,

    /// What to print on stderr.
    #[arg(long, env = "CADLINE_LOG_LEVEL", value_enum, default_value_t = LogLevel::Warn)]
    pub log_level: LogLevel,
}

/// `--timestamp` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimestampArg {
    Meter,
    Receive,
}

/// `mqtt://` or `mqtts://`, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

impl std::str::FromStr for Broker {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = url
            .strip_prefix("mqtts://")
            .or_else(|| url.strip_prefix("ssl://"))
        {
            (true, r)
        } else if let Some(r) = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
        {
            (false, r)
        } else {
            return Err(format!(
                "broker URL {url:?} must start with mqtt:// or mqtts://"
            ));
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('@') {
            return Err(
                "put the user name in --username and the password in --password-file or \
                        CADLINE_MQTT_PASSWORD, not in the broker URL"
                    .to_owned(),
            );
        }
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
                Ok(port) if port > 0 => (h, port),
                _ => return Err(format!("broker URL {url:?}: {p:?} is not a port number")),
            },
            _ => (rest, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') {
            return Err(format!("broker URL {url:?} has no host name"));
        }
        Ok(Broker {
            tls,
            host: host.to_owned(),
            port,
        })
    }
}

/// `--ack-delay`: seconds, from 0 to an hour (a longer hold only fills the
/// broker's in-flight window).
fn parse_ack_delay(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if (0.0..=3600.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "{text:?} is not a number of seconds from 0 to 3600"
        )),
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub stdin: bool,
    pub broker: Broker,
    pub prefix: String,
    /// Filters to subscribe to, already with `$share/<group>/` if asked.
    pub filters: Vec<String>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub client_id: Option<String>,
    pub qos: u8,
    pub ack_delay: std::time::Duration,
    pub persistent_session: bool,
    pub keep_alive: u64,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub mqtt_v5: bool,
    pub max_message_size: usize,
    pub timestamp: TimestampSource,
    pub meter_tags: bool,
    pub log_level: LogLevel,
}

impl Config {
    /// Checks the flags together; the error is one line for the user.
    pub fn from_cli(cli: Cli) -> Result<Config, String> {
        let broker: Broker = cli.broker.parse()?;
        let prefix = cli.prefix.trim_end_matches('/').to_owned();
        if prefix.is_empty() || prefix.contains(['+', '#']) {
            return Err(format!(
                "--prefix {:?}: must be a topic prefix without wildcards",
                cli.prefix
            ));
        }
        if cli.persistent_session && cli.client_id.as_deref().map_or(true, str::is_empty) {
            return Err("--persistent-session needs a fixed --client-id: the broker keeps the session under that id"
                .to_owned());
        }
        if cli.max_message_size == 0 {
            return Err("--max-message-size must be at least 1".to_owned());
        }
        let mut filters = if cli.topics.is_empty() {
            crate::topic::subscriptions(&prefix)
        } else {
            cli.topics
                .iter()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect()
        };
        if filters.is_empty() {
            return Err("--topic: no topic filter given".to_owned());
        }
        if let Some(group) = &cli.shared_group {
            if group.is_empty() || group.contains(['/', '+', '#']) {
                return Err(format!(
                    "--shared-group {group:?}: must be a name without /, + or #"
                ));
            }
            filters = filters
                .into_iter()
                .map(|f| format!("$share/{group}/{f}"))
                .collect();
        }
        if !broker.tls && (cli.ca_file.is_some() || cli.cert_file.is_some()) {
            return Err(
                "--ca-file, --cert-file and --key-file need an mqtts:// broker URL".to_owned(),
            );
        }
        Ok(Config {
            stdin: cli.stdin,
            broker,
            prefix,
            filters,
            username: cli.username.filter(|u| !u.is_empty()),
            password_file: cli.password_file,
            client_id: cli.client_id.filter(|c| !c.is_empty()),
            qos: cli.qos,
            ack_delay: std::time::Duration::from_secs_f64(cli.ack_delay),
            persistent_session: cli.persistent_session,
            keep_alive: cli.keep_alive,
            ca_file: cli.ca_file,
            client_cert: cli.cert_file.zip(cli.key_file),
            mqtt_v5: cli.mqtt_version == "5",
            max_message_size: cli.max_message_size,
            timestamp: match cli.timestamp {
                TimestampArg::Meter => TimestampSource::Meter,
                TimestampArg::Receive => TimestampSource::Receive,
            },
            meter_tags: cli.meter_tags,
            log_level: cli.log_level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn config(args: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(std::iter::once("cadline").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        Config::from_cli(cli)
    }

    #[test]
    fn broker_urls() {
        assert_eq!(
            "mqtt://localhost".parse::<Broker>(),
            Ok(Broker {
                tls: false,
                host: "localhost".into(),
                port: 1883
            })
        );
        assert_eq!(
            "mqtts://b.lan:8884/".parse::<Broker>(),
            Ok(Broker {
                tls: true,
                host: "b.lan".into(),
                port: 8884
            })
        );
        assert_eq!(
            "mqtt://[::1]:1884".parse::<Broker>().map(|b| b.port),
            Ok(1884)
        );
        assert!("http://x".parse::<Broker>().is_err());
        assert!("mqtt://user:pw@x"
            .parse::<Broker>()
            .unwrap_err()
            .contains("--password-file"));
        assert!("mqtt://x:notaport".parse::<Broker>().is_err());
    }

    #[test]
    fn derived_and_shared_filters() {
        let c = config(&["--prefix", "energy", "--shared-group", "g"]).expect("valid");
        assert_eq!(c.filters.len(), 4);
        assert!(c
            .filters
            .iter()
            .all(|f| f.starts_with("$share/g/energy/+/")));
        let c = config(&["--topic", "a/#,b/+"]).expect("valid");
        assert_eq!(c.filters, vec!["a/#", "b/+"]);
    }

    #[test]
    fn combinations_that_cannot_work_are_refused() {
        assert!(config(&["--persistent-session"])
            .unwrap_err()
            .contains("--client-id"));
        assert!(config(&["--qos", "2"]).is_err());
        assert!(config(&["--keep-alive", "1"]).is_err());
        assert!(config(&["--ca-file", "x"])
            .unwrap_err()
            .contains("mqtts://"));
        assert!(config(&["--cert-file", "x", "--broker", "mqtts://h"]).is_err());
        assert!(config(&["--shared-group", "a/b"]).is_err());
        assert!(config(&["--prefix", "glow/#"]).is_err());
    }
}
