//! Why a file given at start cannot be read, when the cause is permission:
//! which user cadline runs as, who owns the file (or the directory in the
//! way) with what mode, and how to let that user read it.
//!
//! Under Telegraf cadline runs as Telegraf's user (`telegraf` on Debian
//! and NixOS), not as the root that made the file; "Permission denied (os
//! error 13)" alone leaves the user guessing which of the two is wrong.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A file read at start, as far as its advice differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A password or private key: to be readable by cadline's user only.
    Secret,
    /// A certificate: public, may be readable by all.
    Public,
}

/// The one line for a failed read of `path`, given as `flag`.
pub fn cannot_read(flag: &str, path: &Path, error: &io::Error, kind: Kind) -> String {
    let shown = path.display();
    if error.kind() != io::ErrorKind::PermissionDenied {
        return format!("cannot read {flag} {shown}: {error}");
    }
    let uid = uzers::get_effective_uid();
    let user = user_name(uid);
    let group = uzers::get_user_by_uid(uid)
        .map(|u| group_name(u.primary_group_id()))
        .unwrap_or_else(|| user.clone());
    let who = format!("user {user} (uid {uid}), which cadline runs as");
    // The credential names the NixOS module gives the same files.
    let credential = match flag {
        "--password-file" => "cadline-mqtt-password",
        "--key-file" => "cadline-mqtt-key",
        _ => "cadline-secret",
    };
    match blocking(path) {
        Blocking::File(owner) => {
            let fix = match kind {
                Kind::Secret => format!(
                    "let that user read it (as root): `chgrp {group} {shown} && chmod 0640 \
                     {shown}`; or, under systemd, have it handed over: \
                     `LoadCredential={credential}:{shown}` in Telegraf's unit (`systemctl \
                     edit telegraf`) and {flag} /run/credentials/telegraf.service/{credential}"
                ),
                Kind::Public => format!("a certificate is public: `chmod 0644 {shown}` (as root)"),
            };
            format!("cannot read {flag} {shown}: permission denied for {who}; the file is {owner}. To fix, {fix}")
        }
        Blocking::Directory(dir, owner) => format!(
            "cannot read {flag} {shown}: permission denied for {who}: the directory {} ({owner}) \
             is closed to that user. Move the file where it can be read (e.g. /etc/telegraf/), \
             or open the directory: `chmod o+x {}` (as root)",
            dir.display(),
            dir.display()
        ),
        Blocking::Unknown => {
            format!("cannot read {flag} {shown}: permission denied for {who} ({error})")
        }
    }
}

/// What denies the read.
enum Blocking {
    /// The file itself, with its owner, group and mode in words.
    File(String),
    /// A directory on its path that cannot be entered.
    Directory(std::path::PathBuf, String),
    /// Neither could be told (an ACL, SELinux, AppArmor).
    Unknown,
}

fn blocking(path: &Path) -> Blocking {
    if let Ok(m) = std::fs::metadata(path) {
        return Blocking::File(owner_and_mode(&m));
    }
    // The file cannot even be looked at: the first directory, from the
    // top, whose entries cannot be looked at is the one in the way.
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut ancestors: Vec<&Path> = absolute.ancestors().skip(1).collect();
    ancestors.reverse();
    for dir in ancestors {
        let Ok(m) = std::fs::metadata(dir) else {
            break;
        };
        if !entered(dir) {
            return Blocking::Directory(dir.to_owned(), owner_and_mode(&m));
        }
    }
    Blocking::Unknown
}

/// Whether `dir` can be entered (searched), listed or not.
fn entered(dir: &Path) -> bool {
    // `dir/.` resolves only with search permission on `dir`.
    std::fs::metadata(dir.join(".")).is_ok()
}

/// `owned by root:root with mode 0600`.
fn owner_and_mode(m: &std::fs::Metadata) -> String {
    format!(
        "owned by {}:{} with mode {:04o}",
        user_name(m.uid()),
        group_name(m.gid()),
        m.mode() & 0o7777
    )
}

fn user_name(uid: u32) -> String {
    uzers::get_user_by_uid(uid)
        .map(|u| u.name().to_string_lossy().into_owned())
        .unwrap_or_else(|| uid.to_string())
}

fn group_name(gid: u32) -> String {
    uzers::get_group_by_gid(gid)
        .map(|g| g.name().to_string_lossy().into_owned())
        .unwrap_or_else(|| gid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_errors_are_said_as_they_are() {
        let e = io::Error::from(io::ErrorKind::NotFound);
        let line = cannot_read(
            "--password-file",
            Path::new("/nonexistent/pw"),
            &e,
            Kind::Secret,
        );
        assert!(
            line.starts_with("cannot read --password-file /nonexistent/pw: "),
            "{line}"
        );
        assert!(!line.contains("which cadline runs as"), "{line}");
    }
}
