//! The agent settings of the Telegraf that runs cadline, read from the
//! configuration files it loaded, the way Telegraf v1.39.3 resolves them.
//!
//! cadline cannot ask Telegraf when a metric has reached an output: execd
//! inputs get no delivery tracking. What it can know is the schedule that
//! Telegraf's outputs keep — how often each flushes, how many metrics it
//! writes at a time and holds at most, and whether that buffer is on disk —
//! and those decide when an acknowledgement is safe and how fast a backlog
//! may be written. They are read here from the same files Telegraf read, in
//! the same order, with the same defaults (config/config.go, models/):
//! - files: in the order `config::telegraf_parent` finds them on the
//!   parent's command line;
//! - environment: `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$VAR`
//!   in string values (strict handling, v1.38's default); a variable that
//!   is not set is left as written. A file only valid after substitution
//!   (`--non-strict-env-handling`, which substitutes the text) is read that
//!   way too. cadline is Telegraf's child and has its environment;
//! - `[agent]` tables are applied in file order, a later key overriding an
//!   earlier one; defaults `flush_interval = "10s"`, `flush_jitter = 0`,
//!   `metric_batch_size = 1000`, `metric_buffer_limit = 10000`,
//!   `buffer_strategy = "memory"`. Agent durations may be strings
//!   (`"10s"`, `"1d"`) or numbers of seconds;
//! - each `[[outputs.*]]` may set its own `flush_interval`, `flush_jitter`
//!   (strings only) and `metric_batch_size`, `metric_buffer_limit`
//!   (integers only); a zero or missing value takes the agent's.
//!
//! Every output receives cadline's metrics unless filtered, so the
//! settings returned are the least favourable over all outputs: the
//! longest flush, the smallest buffer.

use std::path::PathBuf;
use std::time::Duration;

/// Telegraf's defaults (config/config.go `NewConfig`, models/running_output.go).
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_BATCH_SIZE: usize = 1000;
pub const DEFAULT_BUFFER_LIMIT: usize = 10_000;

/// Where each output keeps the metrics it has not written yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferStrategy {
    /// Lost when Telegraf stops or crashes; drops the oldest when full.
    Memory,
    /// `buffer_strategy = "disk"` (`disk_write_through`): survives a crash.
    Disk,
}

/// The agent settings that decide when cadline's output is safe, as the
/// least favourable over every output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSettings {
    /// The longest `flush_interval` of any output.
    pub flush_interval: Duration,
    /// The `flush_jitter` of the output with the longest interval + jitter.
    pub flush_jitter: Duration,
    /// The smallest `metric_batch_size` of any output.
    pub metric_batch_size: usize,
    /// The smallest `metric_buffer_limit` of any output.
    pub metric_buffer_limit: usize,
    pub buffer_strategy: BufferStrategy,
    /// How many `[[outputs.*]]` were found (0: Telegraf has none, or they
    /// are in files not read).
    pub outputs: usize,
}

impl Default for AgentSettings {
    fn default() -> AgentSettings {
        AgentSettings {
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            flush_jitter: Duration::ZERO,
            metric_batch_size: DEFAULT_BATCH_SIZE,
            metric_buffer_limit: DEFAULT_BUFFER_LIMIT,
            buffer_strategy: BufferStrategy::Memory,
            outputs: 0,
        }
    }
}

impl AgentSettings {
    /// The longest time from a metric entering an output's buffer to the
    /// flush that writes it, when the output is healthy and not backlogged.
    pub fn longest_flush_wait(&self) -> Duration {
        self.flush_interval + self.flush_jitter
    }
}

/// Reads the agent settings from `files` (in Telegraf's order).
pub fn read(
    files: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AgentSettings, String> {
    let mut tables = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        tables.push(parse(&text, env).map_err(|e| format!("{}: {e}", f.display()))?);
    }
    from_tables(&tables)
}

/// One file's TOML with the environment substituted.
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<toml::Table, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match text.parse::<toml::Table>() {
        Ok(mut table) => {
            substitute_strings(&mut table, env);
            Ok(table)
        }
        // Non-strict handling substitutes the text before parsing.
        Err(first) => substitute(text, env)
            .parse::<toml::Table>()
            .map_err(|_| first.message().to_owned()),
    }
}

fn substitute_strings(table: &mut toml::Table, env: &dyn Fn(&str) -> Option<String>) {
    fn value(v: &mut toml::Value, env: &dyn Fn(&str) -> Option<String>) {
        match v {
            toml::Value::String(s) => *s = substitute(s, env),
            toml::Value::Array(a) => a.iter_mut().for_each(|v| value(v, env)),
            toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| value(v, env)),
            _ => {}
        }
    }
    table.iter_mut().for_each(|(_, v)| value(v, env));
}

/// `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$VAR` replaced by
/// the environment (compose-go's template, as Telegraf uses it); a variable
/// that is not set, or a pattern that is not one, is kept as written.
pub fn substitute(s: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(inner) = after.strip_prefix('{') {
            if let Some(end) = inner.find('}') {
                let body = &inner[..end];
                let name_end = body.find(|c: char| !is_name(c)).unwrap_or(body.len());
                let (name, op) = body.split_at(name_end);
                let replaced = if name.is_empty() {
                    None
                } else if op.is_empty() {
                    env(name)
                } else if let Some(default) = op.strip_prefix(":-") {
                    Some(
                        env(name)
                            .filter(|v| !v.is_empty())
                            .unwrap_or_else(|| default.to_owned()),
                    )
                } else {
                    op.strip_prefix('-')
                        .map(|default| env(name).unwrap_or_else(|| default.to_owned()))
                };
                match replaced {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&rest[i..i + 3 + end]),
                }
                rest = &inner[end + 1..];
                continue;
            }
        }
        let name_len = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
        let name = &after[..name_len];
        match (name.chars().next(), env(name)) {
            (Some(c), Some(v)) if !c.is_ascii_digit() => out.push_str(&v),
            _ => out.push_str(&rest[i..i + 1 + name_len]),
        }
        rest = &after[name_len..];
    }
    out.push_str(rest);
    out
}

/// The settings from parsed files, in load order.
pub fn from_tables(tables: &[toml::Table]) -> Result<AgentSettings, String> {
    let mut agent = AgentSettings::default();
    let mut strategy = "memory".to_owned();
    for table in tables {
        let Some(a) = table.get("agent").and_then(toml::Value::as_table) else {
            continue;
        };
        if let Some(v) = a.get("flush_interval") {
            agent.flush_interval = agent_duration(v).map_err(|e| format!("flush_interval: {e}"))?;
        }
        if let Some(v) = a.get("flush_jitter") {
            agent.flush_jitter = agent_duration(v).map_err(|e| format!("flush_jitter: {e}"))?;
        }
        if let Some(v) = a.get("metric_batch_size") {
            agent.metric_batch_size = count(v).map_err(|e| format!("metric_batch_size: {e}"))?;
        }
        if let Some(v) = a.get("metric_buffer_limit") {
            agent.metric_buffer_limit =
                count(v).map_err(|e| format!("metric_buffer_limit: {e}"))?;
        }
        if let Some(v) = a.get("buffer_strategy") {
            strategy = v
                .as_str()
                .ok_or("buffer_strategy: not a string")?
                .to_owned();
        }
    }
    // Zero means "the default" in models.NewRunningOutput.
    if agent.metric_batch_size == 0 {
        agent.metric_batch_size = DEFAULT_BATCH_SIZE;
    }
    if agent.metric_buffer_limit == 0 {
        agent.metric_buffer_limit = DEFAULT_BUFFER_LIMIT;
    }
    agent.buffer_strategy = match strategy.as_str() {
        "" | "memory" => BufferStrategy::Memory,
        "disk" | "disk_write_through" => BufferStrategy::Disk,
        other => {
            return Err(format!(
                "buffer_strategy {other:?} is not one Telegraf knows"
            ))
        }
    };

    let mut least = agent.clone();
    let mut worst_wait = Duration::ZERO;
    for table in tables {
        let Some(outputs) = table.get("outputs").and_then(toml::Value::as_table) else {
            continue;
        };
        for (name, blocks) in outputs {
            let blocks: Vec<&toml::Table> = match blocks {
                toml::Value::Array(a) => a.iter().filter_map(toml::Value::as_table).collect(),
                toml::Value::Table(t) => vec![t],
                _ => Vec::new(),
            };
            for block in blocks {
                let ctx = |key: &str, e: String| format!("outputs.{name} {key}: {e}");
                let interval = output_duration(block, "flush_interval")
                    .map_err(|e| ctx("flush_interval", e))?
                    .unwrap_or(agent.flush_interval);
                let jitter = output_duration(block, "flush_jitter")
                    .map_err(|e| ctx("flush_jitter", e))?
                    .unwrap_or(agent.flush_jitter);
                let batch =
                    output_count(block, "metric_batch_size").unwrap_or(agent.metric_batch_size);
                let limit =
                    output_count(block, "metric_buffer_limit").unwrap_or(agent.metric_buffer_limit);
                least.outputs += 1;
                if least.outputs == 1 || interval + jitter > worst_wait {
                    worst_wait = interval + jitter;
                    least.flush_interval = interval;
                    least.flush_jitter = jitter;
                }
                if least.outputs == 1 {
                    least.metric_batch_size = batch;
                    least.metric_buffer_limit = limit;
                } else {
                    least.metric_batch_size = least.metric_batch_size.min(batch);
                    least.metric_buffer_limit = least.metric_buffer_limit.min(limit);
                }
            }
        }
    }
    Ok(least)
}

/// An agent-level duration (`config.Duration`): a number of seconds, or a
/// string that is a number of seconds or a Go duration with `d` for days.
fn agent_duration(v: &toml::Value) -> Result<Duration, String> {
    match v {
        toml::Value::Integer(i) => seconds(*i as f64),
        toml::Value::Float(f) => seconds(*f),
        toml::Value::String(s) => {
            if s.is_empty() {
                return Ok(Duration::ZERO);
            }
            if let Ok(f) = s.parse::<f64>() {
                return seconds(f);
            }
            go_duration(s, true)
        }
        other => Err(format!("{other:?} is not a duration")),
    }
}

/// An output's own duration: a string with a Go duration only; zero means
/// "the agent's".
fn output_duration(block: &toml::Table, key: &str) -> Result<Option<Duration>, String> {
    match block.get(key) {
        Some(toml::Value::String(s)) => Ok(Some(go_duration(s, false)?).filter(|d| !d.is_zero())),
        _ => Ok(None),
    }
}

/// An output's own count: an integer only; zero means "the agent's".
fn output_count(block: &toml::Table, key: &str) -> Option<usize> {
    match block.get(key) {
        Some(toml::Value::Integer(i)) if *i > 0 => Some(*i as usize),
        _ => None,
    }
}

fn count(v: &toml::Value) -> Result<usize, String> {
    match v {
        toml::Value::Integer(i) if *i >= 0 => Ok(*i as usize),
        other => Err(format!("{other:?} is not a count")),
    }
}

fn seconds(f: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(f).map_err(|e| format!("{f}: {e}"))
}

/// Go's `time.ParseDuration` (`1h30m`, `1.5s`, `500ms`, `0`), with
/// Telegraf's `d` (24 h) when `days` is set.
fn go_duration(s: &str, days: bool) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration");
    let text = s.trim_start_matches('+');
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() || text.starts_with('-') {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" if days => 86_400.0,
            _ => return Err(bad()),
        };
        total += number * unit;
        rest = &rest[unit_len..];
    }
    seconds(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn settings(files: &[&str]) -> AgentSettings {
        let tables: Vec<toml::Table> = files
            .iter()
            .map(|t| parse(t, &no_env).expect("parses"))
            .collect();
        from_tables(&tables).expect("settings")
    }

    #[test]
    fn no_agent_table_is_telegrafs_defaults() {
        let s = settings(&["[[outputs.influxdb]]\n  urls = [\"http://127.0.0.1:8086\"]\n"]);
        assert_eq!(s.flush_interval, Duration::from_secs(10));
        assert_eq!(s.flush_jitter, Duration::ZERO);
        assert_eq!(s.metric_batch_size, 1000);
        assert_eq!(s.metric_buffer_limit, 10_000);
        assert_eq!(s.buffer_strategy, BufferStrategy::Memory);
        assert_eq!(s.outputs, 1);
    }

    #[test]
    fn the_shipped_telegraf_conf_is_a_disk_buffer_with_a_10_s_flush() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/telegraf/telegraf.conf"
        ))
        .expect("telegraf.conf");
        let s = settings(&[&text]);
        assert_eq!(s.buffer_strategy, BufferStrategy::Disk);
        assert_eq!(s.flush_interval, Duration::from_secs(10));
        assert_eq!(s.outputs, 1);
    }

    #[test]
    fn agent_durations_take_every_form_telegraf_takes() {
        for (written, secs) in [
            ("\"10s\"", 10.0),
            ("\"1m30s\"", 90.0),
            ("\"500ms\"", 0.5),
            ("\"1.5s\"", 1.5),
            ("\"1d\"", 86_400.0),
            ("\"7\"", 7.0),
            ("5", 5.0),
            ("2.5", 2.5),
            ("\"0\"", 0.0),
            ("\"\"", 0.0),
        ] {
            let s = settings(&[&format!("[agent]\n  flush_jitter = {written}\n")]);
            assert_eq!(s.flush_jitter, Duration::from_secs_f64(secs), "{written}");
        }
        for bad in ["\"10 s\"", "\"s\"", "\"-1s\"", "\"10x\"", "true"] {
            let table =
                parse(&format!("[agent]\n  flush_interval = {bad}\n"), &no_env).expect("parses");
            assert!(from_tables(&[table]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_later_agent_table_overrides_only_the_keys_it_sets() {
        let s = settings(&[
            "[agent]\n  flush_interval = \"30s\"\n  metric_buffer_limit = 50000\n",
            "[agent]\n  flush_interval = \"5s\"\n",
        ]);
        assert_eq!(s.flush_interval, Duration::from_secs(5));
        assert_eq!(s.metric_buffer_limit, 50_000);
    }

    #[test]
    fn the_least_favourable_output_decides() {
        let s = settings(&[
            "[agent]\n  flush_interval = \"10s\"\n  flush_jitter = \"2s\"\n\
             [[outputs.influxdb]]\n  metric_buffer_limit = 3000\n\
             [[outputs.file]]\n  flush_interval = \"60s\"\n  metric_batch_size = 200\n\
             [[outputs.influxdb]]\n  flush_jitter = \"0s\"\n  metric_buffer_limit = 0\n",
        ]);
        assert_eq!(s.outputs, 3);
        assert_eq!(s.flush_interval, Duration::from_secs(60));
        assert_eq!(s.flush_jitter, Duration::from_secs(2), "0s is the agent's");
        assert_eq!(s.metric_batch_size, 200);
        assert_eq!(s.metric_buffer_limit, 3000);
    }

    #[test]
    fn an_outputs_own_durations_are_strings_only_as_in_telegraf() {
        // Telegraf's getFieldDuration ignores a number here.
        let s = settings(&["[[outputs.influxdb]]\n  flush_interval = 60\n"]);
        assert_eq!(s.flush_interval, Duration::from_secs(10));
        let bad =
            parse("[[outputs.influxdb]]\n  flush_interval = \"1d\"\n", &no_env).expect("parses");
        assert!(from_tables(&[bad]).is_err(), "no days in an output's");
    }

    #[test]
    fn buffer_strategy_disk_and_its_long_name_are_the_disk_buffer() {
        for (written, strategy) in [
            ("disk", BufferStrategy::Disk),
            ("disk_write_through", BufferStrategy::Disk),
            ("memory", BufferStrategy::Memory),
        ] {
            let s = settings(&[&format!("[agent]\n  buffer_strategy = \"{written}\"\n")]);
            assert_eq!(s.buffer_strategy, strategy);
        }
        let t = parse("[agent]\n  buffer_strategy = \"ram\"\n", &no_env).expect("parses");
        assert!(from_tables(&[t]).is_err());
    }

    #[test]
    fn environment_variables_are_substituted_in_strings() {
        let env = |k: &str| match k {
            "FLUSH" => Some("30s".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(substitute("${FLUSH}", &env), "30s");
        assert_eq!(substitute("$FLUSH", &env), "30s");
        assert_eq!(substitute("a ${FLUSH} b", &env), "a 30s b");
        assert_eq!(substitute("${UNSET}", &env), "${UNSET}");
        assert_eq!(substitute("$UNSET/x", &env), "$UNSET/x");
        assert_eq!(substitute("${UNSET:-5s}", &env), "5s");
        assert_eq!(substitute("${EMPTY:-5s}", &env), "5s");
        assert_eq!(substitute("${EMPTY-5s}", &env), "");
        assert_eq!(substitute("${1}", &env), "${1}");
        assert_eq!(substitute("cost $5", &env), "cost $5");
        assert_eq!(substitute("${unclosed", &env), "${unclosed");
        let t = parse("[agent]\n  flush_interval = \"${FLUSH}\"\n", &env).expect("parses");
        assert_eq!(
            from_tables(&[t]).expect("settings").flush_interval,
            Duration::from_secs(30)
        );
        // --non-strict-env-handling: the text is substituted, then parsed.
        let env = |k: &str| (k == "LIMIT").then(|| "20000".to_owned());
        let t = parse("[agent]\n  metric_buffer_limit = ${LIMIT}\n", &env).expect("parses");
        assert_eq!(
            from_tables(&[t]).expect("settings").metric_buffer_limit,
            20_000
        );
    }

    #[test]
    fn an_unreadable_or_invalid_file_is_an_error_naming_it() {
        let err = read(&["/nonexistent/telegraf.conf".into()], &no_env).expect_err("missing");
        assert!(err.contains("/nonexistent/telegraf.conf"), "{err}");
        assert!(parse("[agent\n", &no_env).is_err());
    }
}
