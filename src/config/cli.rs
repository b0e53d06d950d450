//! Command-line flags (`Cli`, exactly what the user typed) and `Config`
//! (validated, ready to use). Building `Config` does no I/O: files are read
//! later, when the MQTT source starts, so `--help` and flag errors never
//! depend on the machine.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, ValueEnum};

use crate::edges::messages::LogLevel;
use crate::flatten::meter_time::TimestampSource;

const EXAMPLES: &str = "\
Examples:
  Run under Telegraf (see telegraf/cadline.conf), or try it by hand:
    cadline --broker mqtt://localhost:1883
  A CAD that publishes under energy/ and a broker that wants a login:
    CADLINE_MQTT_PASSWORD=secret cadline --broker mqtts://broker.lan:8883 --prefix energy --username glow
  Convert a saved capture, or watch a live feed:
    cadline --stdin < telegraf/example-capture.txt
    mosquitto_sub -v -t 'glow/#' | cadline --stdin
  Keep a capture with arrival times, and replay it stamped with them:
    mosquitto_sub -v -F '%I %t %p' -t 'glow/#' > capture.txt
    cadline --stdin --timestamp receive < capture.txt
  Several instances sharing one stream (a building of CADs):
    cadline --broker mqtt://cluster:1883 --shared-group cadline --client-id cadline-1 --persistent-session

Every flag can also be set by an environment variable, shown as [env: ...];
an empty variable counts as unset, and on/off flags take 1/0, yes/no, on/off
or true/false in any case.
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
    #[arg(long, env = "CADLINE_STDIN", value_parser = BoolishValueParser::new())]
    pub stdin: bool,

    /// Broker URL: mqtt://host[:1883] or mqtts://host[:8883] (TLS); tcp:// and ssl://
    /// are the same; IPv6 in brackets: mqtt://[::1]:1883.
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
    /// --prefix (a filter that can match nothing under --prefix is refused).
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

    /// MQTT client id (default: cadline-<pid>-<n>, at most 23 bytes). Required with
    /// --persistent-session. {hostname} becomes this machine's host name.
    #[arg(long, env = "CADLINE_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,

    /// MQTT QoS: 1 (at least once; a reading is acknowledged only once written) or 0.
    #[arg(long, env = "CADLINE_QOS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,

    /// Hold each QoS 1 acknowledgement this many seconds after the message's lines were
    /// written, so that a reading Telegraf lost in a crash before its next flush is
    /// redelivered; acknowledgements still held at exit are not sent. Unset: timed to the
    /// flush of the Telegraf running cadline, read from its configuration. See the README.
    #[arg(long, env = "CADLINE_ACK_DELAY", value_name = "SECONDS",
          value_parser = parse_ack_delay)]
    pub ack_delay: Option<f64>,

    /// Write at most this many lines per second after a first burst, so Telegraf's
    /// buffer never overflows on a backlog; 0 for no limit. Unset: chosen from the
    /// buffer of the Telegraf running cadline. See the README.
    #[arg(long, env = "CADLINE_PACE", value_name = "LINES_PER_SECOND",
          value_parser = parse_pace)]
    pub pace: Option<f64>,

    /// Ask the broker to keep our subscriptions and queue QoS 1 messages while cadline
    /// is down (clean session off). Needs a fixed --client-id.
    #[arg(long, env = "CADLINE_PERSISTENT_SESSION", value_parser = BoolishValueParser::new())]
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
    #[arg(long, env = "CADLINE_METER_TAGS", value_parser = BoolishValueParser::new())]
    pub meter_tags: bool,

    /// Warn when nothing has arrived for this many seconds while connected (a wrong
    /// --prefix, an ACL that delivers nothing), and again less often while it lasts;
    /// 0 never warns.
    #[arg(long, env = "CADLINE_SILENCE_WARNING", default_value_t = DEFAULT_SILENCE_WARNING,
          value_name = "SECONDS")]
    pub silence_warning: u64,

    /// What to print on stderr.
    #[arg(long, env = "CADLINE_LOG_LEVEL", value_enum, default_value_t = LogLevel::Warn)]
    pub log_level: LogLevel,

    /// Broker-only flags given on the command line, for refusing them with --stdin.
    #[arg(skip)]
    pub broker_flags_given: Vec<&'static str>,

    #[command(subcommand)]
    pub command: Option<Subcommand>,
}

/// What to do instead of running as the service.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Subcommand {
    /// Check the configuration beside a running service: connect as a client of its own
    /// with a clean session (the service's session and readings are untouched), listen,
    /// and report the broker, topics, devices, QoS and sample lines. Exits 0 when readings
    /// would flow. Takes the same flags and environment as the service.
    Check {
        /// Seconds to listen (a CAD sends every 10 s).
        #[arg(long, default_value_t = 30, value_name = "SECONDS",
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        listen: u64,
    },
}

/// Seconds without a message, while connected, before cadline says so: a CAD
/// publishes every 10 s, so two minutes of nothing is a configuration that
/// cannot work, not a quiet meter.
pub const DEFAULT_SILENCE_WARNING: u64 = 120;

/// Flags that only mean something with a broker, by clap id and by name.
const BROKER_FLAGS: [(&str, &str); 14] = [
    ("broker", "--broker"),
    ("topics", "--topic"),
    ("shared_group", "--shared-group"),
    ("username", "--username"),
    ("password_file", "--password-file"),
    ("client_id", "--client-id"),
    ("qos", "--qos"),
    ("persistent_session", "--persistent-session"),
    ("keep_alive", "--keep-alive"),
    ("ca_file", "--ca-file"),
    ("cert_file", "--cert-file"),
    ("key_file", "--key-file"),
    ("mqtt_version", "--mqtt-version"),
    ("silence_warning", "--silence-warning"),
];

/// Parses the command line and the `CADLINE_*` environment.
///
/// An empty environment variable counts as unset (`CADLINE_PREFIX=` in a
/// unit file or a copied config means "not set", not "the empty prefix"),
/// for every flag: clap would otherwise take the empty string as a value.
pub fn parse() -> Result<Cli, clap::Error> {
    let mut command = Cli::command();
    let empty: Vec<clap::Id> = command
        .get_arguments()
        .filter(|a| {
            a.get_env()
                .and_then(std::env::var_os)
                .is_some_and(|v| v.is_empty())
        })
        .map(|a| a.get_id().clone())
        .collect();
    for id in empty {
        command = command.mut_arg(id, |a| a.env(None));
    }
    // `cadline check --broker …` as well as `cadline --broker … check`.
    command = command.mut_args(|a| a.global(true));
    let matches = command.try_get_matches()?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.broker_flags_given = broker_flags_given(&matches);
    Ok(cli)
}

fn broker_flags_given(matches: &ArgMatches) -> Vec<&'static str> {
    BROKER_FLAGS
        .iter()
        .filter(|(id, _)| matches.value_source(id) == Some(ValueSource::CommandLine))
        .map(|&(_, name)| name)
        .collect()
}

/// The one line a usage error becomes on stderr. clap's own message spreads
/// the part that names the fix (the missing flag, the allowed values, the
/// similar flag) over the lines after the first; they are kept, joined.
/// A `--password` flag is answered with where the password goes instead,
/// and its value is never repeated.
pub fn usage_error(e: &clap::Error) -> String {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => Some(v.join(", ")),
        _ => None,
    };
    if e.kind() == ErrorKind::UnknownArgument {
        let arg = context(ContextKind::InvalidArg).unwrap_or_default();
        let name = arg.split('=').next().unwrap_or_default();
        if matches!(name, "--password" | "--pass" | "--passwd" | "-P") {
            return format!(
                "there is no {name} flag (other users can read command lines): put the password \
                 in a file and give --password-file PATH, or set CADLINE_MQTT_PASSWORD; \
                 see cadline --help"
            );
        }
    }
    let rendered = e.to_string();
    let mut line = String::new();
    for part in rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
    {
        let part = part.trim_start_matches("error: ");
        let part = part.replace(
            "value was not a boolean",
            "expected 1/0, yes/no, on/off or true/false",
        );
        let part = part
            .strip_prefix('[')
            .and_then(|p| p.strip_suffix(']'))
            .unwrap_or(&part);
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    if e.kind() == ErrorKind::ValueValidation || e.kind() == ErrorKind::InvalidValue {
        if let Some(var) = context(ContextKind::InvalidArg).and_then(|a| env_of(&a)) {
            line.push_str(&format!(" (from {var})"));
        }
    }
    if line.is_empty() {
        line.push_str("invalid arguments");
    }
    line.push_str("; see cadline --help");
    line
}

/// The environment variable behind a flag named as clap names it in errors
/// (`--persistent-session` or `--log-level <LOG_LEVEL>`), if it is set and
/// the flag is not on the command line.
fn env_of(arg: &str) -> Option<String> {
    let long = arg.split_whitespace().next()?.strip_prefix("--")?;
    if std::env::args().any(|a| a == format!("--{long}") || a.starts_with(&format!("--{long}="))) {
        return None;
    }
    let command = Cli::command();
    let var = command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))?
        .get_env()?
        .to_str()?
        .to_owned();
    std::env::var_os(&var).is_some().then_some(var)
}

/// The client id when none is given: `cadline-<pid>-<n>`, at most 23 bytes
/// (all MQTT 3.1.1 promises a broker accepts) even with a 7-digit pid
/// (Linux allows up to 4 194 304), `n` being the low digits of the start time
/// so that a restarted process with a reused pid gets another id.
pub fn default_client_id(pid: u32, now_ns: i64) -> String {
    const MAX: usize = 23;
    let head = format!("cadline-{pid}-");
    let room = MAX.saturating_sub(head.len()).clamp(1, 9);
    let modulus = 10_i64.pow(u32::try_from(room).unwrap_or(9));
    format!("{head}{}", now_ns.rem_euclid(modulus))
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
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl std::str::FromStr for Broker {
    type Err = String;

    /// `mqtt://` (also `tcp://`) or `mqtts://` (also `ssl://`, the names
    /// Paho and Mosquitto's own tools use), in any case; a host name, an
    /// IPv4 address or an IPv6 address in brackets; an optional port.
    fn from_str(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!("broker URL {url:?} must start with mqtt:// or mqtts:// (or tcp://, ssl://)")
        })?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            _ => {
                return Err(format!(
                    "broker URL {url:?} must start with mqtt:// or mqtts:// (or tcp://, ssl://)"
                ))
            }
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
        let port_of = |p: &str| match p.parse::<u16>() {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(format!("broker URL {url:?}: {p:?} is not a port number")),
        };
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("broker URL {url:?}: no ] after the IPv6 address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => port_of(p)?,
                None if after.is_empty() => default_port,
                None => return Err(format!("broker URL {url:?}: {after:?} after the address")),
            };
            (host, port)
        } else if rest.matches(':').count() > 1 {
            return Err(format!(
                "broker URL {url:?}: an IPv6 address goes in brackets, e.g. {}://[{rest}]:{default_port}",
                if tls { "mqtts" } else { "mqtt" }
            ));
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, port_of(p)?),
                None => (rest, default_port),
            }
        };
        if host.is_empty() || host.contains(['/', '[', ']']) {
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

/// `--pace`: lines per second, 0 (no limit) or at least 1.
fn parse_pace(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r == 0.0 || (1.0..=1e9).contains(&r) => Ok(r),
        _ => Err(format!(
            "{text:?} is not a number of lines per second (0 for no limit, else at least 1)"
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
    /// `None`: timed to Telegraf (`config::delivery`).
    pub ack_delay: Option<std::time::Duration>,
    /// `None`: chosen from Telegraf's buffer; `Some(0.0)`: no limit.
    pub pace: Option<f64>,
    pub persistent_session: bool,
    pub keep_alive: u64,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub mqtt_v5: bool,
    pub max_message_size: usize,
    pub timestamp: TimestampSource,
    pub meter_tags: bool,
    pub log_level: LogLevel,
    /// How long nothing may arrive while connected before a warning.
    pub silence_warning: Option<Duration>,
}

impl Config {
    /// Checks the flags together; the error is one line for the user.
    pub fn from_cli(cli: Cli) -> Result<Config, String> {
        if cli.stdin && !cli.broker_flags_given.is_empty() {
            return Err(format!(
                "--stdin reads a capture, not a broker: {} would be ignored (drop {} or --stdin)",
                cli.broker_flags_given.join(", "),
                if cli.broker_flags_given.len() == 1 {
                    "it"
                } else {
                    "them"
                }
            ));
        }
        let broker: Broker = cli.broker.parse()?;
        let prefix = cli.prefix.trim_end_matches('/').to_owned();
        if prefix.is_empty() || prefix.contains(['+', '#']) {
            return Err(format!(
                "--prefix {:?}: must be a topic prefix without wildcards",
                cli.prefix
            ));
        }
        if cli.persistent_session && cli.client_id.as_deref().is_none_or(str::is_empty) {
            return Err("--persistent-session needs a fixed --client-id: the broker keeps the session under that id"
                .to_owned());
        }
        if cli.max_message_size == 0 {
            return Err("--max-message-size must be at least 1".to_owned());
        }
        let mut filters = if cli.topics.is_empty() {
            crate::flatten::topic::subscriptions(&prefix)
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
        if !cli.topics.is_empty() {
            for filter in &filters {
                crate::config::topic_filter::check(filter, &prefix)?;
            }
        }
        if let Some((a, b)) = crate::config::topic_filter::overlapping(&filters) {
            let why = format!(
                "--topic {a:?} and {b:?} overlap: a broker may deliver a message that matches \
                 both once per subscription, and it would be written twice; keep the wider one"
            );
            if cli.mqtt_version == "5" {
                return Err(why);
            }
            crate::warn!("{why}");
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
            ack_delay: cli.ack_delay.map(std::time::Duration::from_secs_f64),
            pace: cli.pace,
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
            silence_warning: (cli.silence_warning > 0)
                .then(|| Duration::from_secs(cli.silence_warning)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn broker_url_spellings() {
        for (url, tls, host, port) in [
            ("MQTT://b.lan", false, "b.lan", 1883),
            ("tcp://b.lan:1884", false, "b.lan", 1884),
            ("SSL://b.lan", true, "b.lan", 8883),
            ("mqtt://[::1]", false, "::1", 1883),
            ("mqtts://[fe80::1]:8884/", true, "fe80::1", 8884),
        ] {
            let b: Broker = url.parse().expect(url);
            assert_eq!((b.tls, b.host.as_str(), b.port), (tls, host, port), "{url}");
        }
        assert_eq!(
            "mqtt://[::1]:1884".parse::<Broker>().map(|b| b.to_string()),
            Ok("mqtt://[::1]:1884".to_owned())
        );
        assert!("mqtt://::1"
            .parse::<Broker>()
            .unwrap_err()
            .contains("mqtt://[::1]:1883"));
        assert!("mqtt://[::1".parse::<Broker>().is_err());
        assert!("mqtt://[::1]x".parse::<Broker>().is_err());
    }

    #[test]
    fn default_client_ids_fit_in_23_bytes() {
        // Linux's largest pid is 4 194 304 (7 digits).
        for pid in [1, 4242, 4_194_304, u32::MAX] {
            for now in [0, 1_796_113_386_123_456_789, i64::MAX] {
                let id = default_client_id(pid, now);
                assert!(id.len() <= 23, "{id}");
                assert!(id.starts_with(&format!("cadline-{pid}-")), "{id}");
            }
        }
        assert_ne!(
            default_client_id(4_194_304, 1),
            default_client_id(4_194_304, 2)
        );
    }

    #[test]
    fn derived_and_shared_filters() {
        let c = config(&["--prefix", "energy", "--shared-group", "g"]).expect("valid");
        assert_eq!(c.filters.len(), 4);
        assert!(c
            .filters
            .iter()
            .all(|f| f.starts_with("$share/g/energy/+/")));
        let c = config(&["--topic", "glow/#,glow/+/STATE"]).expect("valid");
        assert_eq!(c.filters, vec!["glow/#", "glow/+/STATE"]);
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
