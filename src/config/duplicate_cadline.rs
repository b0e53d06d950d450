//! Two copies of cadline's `[[inputs.execd]]` in one Telegraf, with one
//! `--client-id`: `cadline.conf` and a `cadline.conf.bak.conf` or
//! `cadline-copy.conf` beside it in `telegraf.d/` (Telegraf loads every
//! `*.conf` there), or `cadline.conf` copied into `telegraf.d/` next to a
//! `telegraf.conf` that already runs cadline.
//!
//! Telegraf then runs two cadlines with one client id: they take the
//! session from each other, and each loses the readings the other
//! acknowledges. `edges::takeover` says so once the broker shows it; this
//! says it at start, from the files the parent Telegraf loaded, naming
//! them, so that the fix is one `rm`.

use std::path::{Path, PathBuf};

use crate::config::telegraf_agent;
use crate::config::telegraf_parent::TelegrafParent;

/// One `[[inputs.execd]]` that runs cadline with a fixed client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CadlineBlock {
    pub file: PathBuf,
    /// As written (`cadline-{hostname}` expands the same way in both).
    pub client_id: String,
}

/// The client id an execd `command` (and its `environment`) gives
/// cadline: `--client-id ID`, `--client-id=ID`, else `CADLINE_CLIENT_ID`.
pub fn client_id(command: &[String], environment: &[String]) -> Option<String> {
    let mut words = command.iter();
    let mut found = None;
    while let Some(w) = words.next() {
        if w == "--client-id" {
            found = words.next().cloned();
        } else if let Some(v) = w.strip_prefix("--client-id=") {
            found = Some(v.to_owned());
        }
    }
    found
        .or_else(|| {
            environment
                .iter()
                .find_map(|kv| kv.strip_prefix("CADLINE_CLIENT_ID=").map(str::to_owned))
        })
        .filter(|id| !id.is_empty())
}

/// Whether an execd `command` runs cadline: its program is named `exe`
/// (cadline's own file name), wherever it is installed.
fn runs_cadline(command: &[String], exe: &str) -> bool {
    command
        .first()
        .is_some_and(|program| program.rsplit('/').next() == Some(exe))
}

fn strings(v: Option<&toml::Value>) -> Vec<String> {
    v.and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The cadline blocks with a fixed client id in one parsed file.
pub fn blocks_in(file: &Path, table: &toml::Table, exe: &str) -> Vec<CadlineBlock> {
    let execd = table
        .get("inputs")
        .and_then(toml::Value::as_table)
        .and_then(|inputs| inputs.get("execd"));
    let blocks: Vec<&toml::Table> = match execd {
        Some(toml::Value::Array(a)) => a.iter().filter_map(toml::Value::as_table).collect(),
        Some(toml::Value::Table(t)) => vec![t],
        _ => Vec::new(),
    };
    blocks
        .into_iter()
        .filter_map(|block| {
            let command = strings(block.get("command"));
            if !runs_cadline(&command, exe) {
                return None;
            }
            let id = client_id(&command, &strings(block.get("environment")))?;
            Some(CadlineBlock {
                file: file.to_owned(),
                client_id: id,
            })
        })
        .collect()
}

/// Each client id that more than one block uses, with their files in
/// Telegraf's loading order.
pub fn duplicates(blocks: &[CadlineBlock]) -> Vec<(String, Vec<PathBuf>)> {
    let mut out: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for b in blocks {
        match out.iter_mut().find(|(id, _)| *id == b.client_id) {
            Some((_, files)) => files.push(b.file.clone()),
            None => out.push((b.client_id.clone(), vec![b.file.clone()])),
        }
    }
    out.retain(|(_, files)| files.len() > 1);
    out
}

/// The one error line for a client id used by several blocks.
pub fn message(client_id: &str, files: &[PathBuf]) -> String {
    let named: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let same_file = files.windows(2).all(|w| w[0] == w[1]);
    let where_ = if same_file {
        format!("{} ({} blocks)", named[0], files.len())
    } else {
        named.join(" and ")
    };
    format!(
        "This Telegraf runs cadline {} times with --client-id {client_id}: [[inputs.execd]] in \
         {where_}. The copies take the session from each other and each loses the readings \
         the other acknowledges. Keep one: Telegraf loads every file ending in .conf in its \
         configuration directory, so remove the copy or rename it to end otherwise (such as \
         .conf.disabled)",
        files.len()
    )
}

/// Reads the parent Telegraf's files and says each duplicate at error
/// level; nothing outside Telegraf, or when the files cannot be read
/// (`delivery` says that).
pub fn say_at_start() {
    let Some(parent) = TelegrafParent::detect() else {
        return;
    };
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "cadline".to_owned());
    let env = |name: &str| std::env::var(name).ok();
    let mut blocks = Vec::new();
    for file in &parent.config_files {
        let Ok(text) = std::fs::read_to_string(file) else {
            return;
        };
        let Ok(table) = telegraf_agent::parse(&text, &env) else {
            return;
        };
        blocks.extend(blocks_in(file, &table, &exe));
    }
    for (id, files) in duplicates(&blocks) {
        crate::error!("{}", message(&id, &files));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn the_client_id_comes_from_the_command_or_the_environment() {
        let cmd = words(&[
            "/usr/local/bin/cadline",
            "--client-id",
            "cadline-{hostname}",
        ]);
        assert_eq!(client_id(&cmd, &[]).as_deref(), Some("cadline-{hostname}"));
        let cmd = words(&["cadline", "--client-id=pi"]);
        assert_eq!(client_id(&cmd, &[]).as_deref(), Some("pi"));
        let env = words(&["CADLINE_CLIENT_ID=from-env"]);
        assert_eq!(
            client_id(&words(&["cadline"]), &env).as_deref(),
            Some("from-env")
        );
        assert_eq!(
            client_id(&cmd, &env).as_deref(),
            Some("pi"),
            "the flag wins"
        );
        assert_eq!(client_id(&words(&["cadline"]), &[]), None);
    }

    fn table(text: &str) -> toml::Table {
        telegraf_agent::parse(text, &|_| None).expect("toml")
    }

    const SHIPPED: &str = "[[inputs.execd]]\n  command = [\"/usr/local/bin/cadline\", \
                           \"--persistent-session\", \"--client-id\", \"cadline-{hostname}\"]\n  \
                           data_format = \"influx\"\n";

    #[test]
    fn two_files_with_the_shipped_block_are_one_duplicate_naming_both() {
        let a = Path::new("/etc/telegraf/telegraf.d/cadline.conf");
        let b = Path::new("/etc/telegraf/telegraf.d/cadline.conf.bak.conf");
        let mut blocks = blocks_in(a, &table(SHIPPED), "cadline");
        blocks.extend(blocks_in(b, &table(SHIPPED), "cadline"));
        let other = "[[inputs.execd]]\n  command = [\"/usr/bin/other\", \"--client-id\", \
                     \"cadline-{hostname}\"]\n";
        blocks.extend(blocks_in(Path::new("/x.conf"), &table(other), "cadline"));
        let d = duplicates(&blocks);
        assert_eq!(
            d,
            vec![(
                "cadline-{hostname}".to_owned(),
                vec![a.to_owned(), b.to_owned()]
            )]
        );
        let text = message(&d[0].0, &d[0].1);
        for needle in [
            "runs cadline 2 times with --client-id cadline-{hostname}",
            "/etc/telegraf/telegraf.d/cadline.conf and /etc/telegraf/telegraf.d/cadline.conf.bak.conf",
            "remove the copy",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }

    #[test]
    fn different_ids_or_no_id_are_not_duplicates() {
        let two = "[[inputs.execd]]\n  command = [\"cadline\", \"--client-id\", \"a\"]\n\
                   [[inputs.execd]]\n  command = [\"cadline\", \"--client-id\", \"b\"]\n\
                   [[inputs.execd]]\n  command = [\"cadline\"]\n\
                   [[inputs.execd]]\n  command = [\"cadline\"]\n";
        let blocks = blocks_in(Path::new("/t.conf"), &table(two), "cadline");
        assert_eq!(blocks.len(), 2);
        assert!(duplicates(&blocks).is_empty());
    }

    #[test]
    fn one_file_with_the_block_twice_is_named_once() {
        let twice = format!("{SHIPPED}{SHIPPED}");
        let f = Path::new("/etc/telegraf/telegraf.conf");
        let d = duplicates(&blocks_in(f, &table(&twice), "cadline"));
        let text = message(&d[0].0, &d[0].1);
        assert!(
            text.contains("[[inputs.execd]] in /etc/telegraf/telegraf.conf (2 blocks)."),
            "{text}"
        );
    }
}
