//! What cadline does under `telegraf --test`, `--test-wait N` or `--once`:
//! a trial run beside the service, which must not cost the service a
//! reading.
//!
//! With the service's settings a trial run would connect with the service's
//! `--client-id`: the broker closes the service's connection, hands the
//! trial run the persistent session, and the readings the trial run
//! acknowledges are printed by `telegraf --test` and never stored (21 to 27
//! of 100 lost in a 10 s `--test`). So a trial run connects as a client of
//! its own (`cadline-<pid>-<n>`) with a clean session, outside any
//! `--shared-group` (a group member takes its share of the stream away from
//! the service), and holds no acknowledgement: the broker keeps delivering
//! everything to the service as before, and also sends the trial run a copy
//! of what arrives while it runs, which it prints as usual.

use std::time::Duration;

use super::cli::Config;
use super::telegraf_parent::{RunMode, TelegrafParent};

/// The settings for a trial run: `config` without anything that names or
/// shares the service's session.
pub fn settings(config: &Config) -> Config {
    let mut trial = config.clone();
    trial.client_id = None;
    trial.persistent_session = false;
    trial.ack_delay = Some(Duration::ZERO);
    trial.pace = Some(0.0);
    trial.filters = config.filters.iter().map(|f| unshared(f)).collect();
    trial
}

/// `$share/<group>/<filter>` as the plain `<filter>`.
fn unshared(filter: &str) -> String {
    match filter
        .strip_prefix("$share/")
        .and_then(|r| r.split_once('/'))
    {
        Some((_, plain)) => plain.to_owned(),
        None => filter.to_owned(),
    }
}

/// The one line that tells the person running the trial what it did.
pub fn notice(config: &Config, mode: RunMode) -> String {
    let run = match mode {
        RunMode::Once => "telegraf --once",
        _ => "telegraf --test",
    };
    let mut changed = Vec::new();
    if let Some(id) = &config.client_id {
        changed.push(format!("not as --client-id {id}"));
    }
    if config.persistent_session {
        changed.push("with a clean session".to_owned());
    }
    if config.filters.iter().any(|f| f.starts_with("$share/")) {
        changed.push("outside --shared-group".to_owned());
    }
    let changed = if changed.is_empty() {
        String::new()
    } else {
        format!(" ({})", changed.join(", "))
    };
    format!(
        "Run by {run}: subscribing as a client of its own{changed}, so a running \
         service keeps its session and every reading; this run shows only readings \
         that arrive while it runs (give --test-wait 15 or more: the CAD sends every \
         10 s). `cadline check` says more"
    )
}

/// The settings to run with: `config` as given, or its trial-run form when
/// the Telegraf above cadline is a test or once run (said on stderr at
/// warning level). Pipe mode has no session and is left as it is.
pub fn for_parent(config: Config) -> Config {
    if config.stdin {
        return config;
    }
    match TelegrafParent::detect() {
        Some(parent) if parent.mode.is_trial() => {
            crate::warn!("{}", notice(&config, parent.mode));
            settings(&config)
        }
        _ => config,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cli::Cli;
    use clap::Parser;

    fn config(args: &[&str]) -> Config {
        let cli = Cli::try_parse_from(std::iter::once("cadline").chain(args.iter().copied()))
            .expect("flags");
        Config::from_cli(cli).expect("config")
    }

    #[test]
    fn a_trial_run_never_names_or_shares_the_services_session() {
        let service = config(&[
            "--persistent-session",
            "--client-id",
            "cadline-pi",
            "--ack-delay",
            "1",
            "--shared-group",
            "house",
        ]);
        assert!(service
            .filters
            .iter()
            .all(|f| f.starts_with("$share/house/")));
        let trial = settings(&service);
        assert_eq!(trial.client_id, None);
        assert!(!trial.persistent_session);
        assert_eq!(trial.ack_delay, Some(Duration::ZERO));
        let plain: Vec<String> = service
            .filters
            .iter()
            .map(|f| f.trim_start_matches("$share/house/").to_owned())
            .collect();
        assert_eq!(trial.filters, plain);
        // Everything else is the service's: the same broker, prefix, QoS.
        assert_eq!(trial.broker, service.broker);
        assert_eq!(trial.prefix, service.prefix);
        assert_eq!(trial.qos, service.qos);
    }

    #[test]
    fn the_notice_names_what_was_changed() {
        let service = config(&["--persistent-session", "--client-id", "cadline-pi"]);
        let text = notice(&service, RunMode::Test);
        assert!(text.starts_with("Run by telegraf --test:"), "{text}");
        assert!(
            text.contains("not as --client-id cadline-pi, with a clean session"),
            "{text}"
        );
        assert!(notice(&service, RunMode::Once).starts_with("Run by telegraf --once:"));
        let plain = notice(&config(&[]), RunMode::Test);
        assert!(plain.contains("as a client of its own, so"), "{plain}");
    }

    #[test]
    fn a_filter_that_only_looks_shared_is_kept() {
        assert_eq!(unshared("$share/g/glow/#"), "glow/#");
        assert_eq!(unshared("glow/$share/x"), "glow/$share/x");
    }
}
