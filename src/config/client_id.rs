//! `{hostname}` in `--client-id`, so that one shipped line gives every
//! machine a client id of its own.
//!
//! Two services with one client id take the broker's session from each
//! other, and each loses the readings the other acknowledged. A
//! configuration is copied between machines all the time (a second
//! Raspberry Pi, a NixOS and a Debian box sharing a telegraf.d), so the
//! shipped `cadline.conf` says `--client-id cadline-{hostname}`, as the
//! NixOS module's `cadline-<hostName>` does. The host name is the kernel's
//! (`hostname` prints it): stable across restarts, which a persistent
//! session needs, and different on every machine that is set up sensibly.

use super::cli::Config;

/// The one placeholder `--client-id` expands.
pub const HOSTNAME: &str = "{hostname}";

/// `template` with every `{hostname}` replaced. Any other `{` is refused:
/// `{host}` or `{HOSTNAME}` is a typo that would otherwise become a client
/// id shared by every machine.
pub fn expand(template: &str, hostname: &str) -> Result<String, String> {
    let rest = template.replace(HOSTNAME, "");
    if rest.contains(['{', '}']) {
        return Err(format!(
            "--client-id {template:?}: {HOSTNAME} is the only placeholder (it becomes this \
             machine's host name)"
        ));
    }
    if !template.contains(HOSTNAME) {
        return Ok(template.to_owned());
    }
    let hostname = hostname.trim();
    if hostname.is_empty() || hostname == "(none)" {
        return Err(format!(
            "--client-id {template:?}: this machine has no host name to put in place of \
             {HOSTNAME}; set one (hostnamectl set-hostname NAME) or write the client id out"
        ));
    }
    Ok(template.replace(HOSTNAME, hostname))
}

/// The kernel's host name, as `hostname` prints it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// `config` with its client id expanded on this machine.
pub fn on_this_host(mut config: Config) -> Result<Config, String> {
    if let Some(template) = &config.client_id {
        if template.contains(['{', '}']) {
            config.client_id = Some(expand(template, &hostname())?);
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_is_put_in_place() {
        assert_eq!(
            expand("cadline-{hostname}", "meterbox"),
            Ok("cadline-meterbox".to_owned())
        );
        assert_eq!(
            expand("{hostname}-{hostname}", "pi\n"),
            Ok("pi-pi".to_owned())
        );
        assert_eq!(expand("cadline-7", ""), Ok("cadline-7".to_owned()));
    }

    #[test]
    fn a_typo_or_a_nameless_host_is_refused_not_shared() {
        for typo in [
            "cadline-{host}",
            "cadline-{HOSTNAME}",
            "cadline-{hostname",
            "x}",
        ] {
            let e = expand(typo, "pi").expect_err(typo);
            assert!(e.contains("the only placeholder"), "{e}");
        }
        for nameless in ["", "  ", "(none)"] {
            let e = expand("cadline-{hostname}", nameless).expect_err(nameless);
            assert!(e.contains("no host name"), "{e}");
        }
    }

    #[test]
    fn this_machine_has_a_name() {
        assert!(!hostname().is_empty());
    }
}
