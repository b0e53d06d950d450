//! Finding the external programs the harness runs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The package command that provides each tool, for the panic message.
fn install_command(name: &str) -> &'static str {
    match name {
        "mosquitto" | "mosquitto_pub" | "mosquitto_sub" | "mosquitto_passwd" => {
            "apt-get install -y mosquitto mosquitto-clients"
        }
        "influxd" | "influx" => "apt-get install -y influxdb",
        "openssl" => "apt-get install -y openssl",
        _ => "apt-get install -y <the package that provides it>",
    }
}

/// The path of an executable `name`, searched in `PATH` and then in the
/// sbin directories, because Debian installs `mosquitto` in /usr/sbin, which
/// is not on every user's `PATH`.
///
/// Panics naming the install command when it is missing: a test must fail
/// loudly rather than skip, or a machine without Mosquitto would pass.
pub fn find_tool(name: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .filter(|dir| !dir.is_empty())
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"])
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        });
    match found {
        Some(p) => p,
        None => panic!(
            "{name} not found: install it with `{}` (tests/run.sh does it for you)",
            install_command(name)
        ),
    }
}
