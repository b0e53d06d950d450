//! The README's flag table lists every flag `--help` lists, and no other.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::rig::{run_with_timeout, TOOL_TIMEOUT};

/// `--long` names in the first part of `text` (a table cell, a help line).
fn longs(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 3)
        .map(str::to_owned)
        .collect()
}

/// The flags of the "Options:" section of `cadline --help`: each starts a
/// line indented by at most six spaces (descriptions are indented further).
fn help_flags() -> BTreeSet<String> {
    let out = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_cadline")).arg("--help"),
        None,
        TOOL_TIMEOUT,
        "cadline --help",
    );
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).expect("UTF-8");
    let options = help
        .split("\nOptions:\n")
        .nth(1)
        .expect("an Options: section in --help");
    options
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .filter(|l| {
            let indent = l.len() - l.trim_start().len();
            indent <= 6 && l.trim_start().starts_with('-')
        })
        // The names come before the description, which starts after two spaces.
        .flat_map(|l| longs(l.trim_start().split("  ").next().unwrap_or_default()))
        .collect()
}

/// The flags in the first column of the README's table under "### Flags".
fn table_flags() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let section = readme
        .split("\n### Flags\n")
        .nth(1)
        .and_then(|s| s.split("\n#").next())
        .expect("a ### Flags section in the README");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| longs(l.split('|').nth(1).unwrap_or_default()))
        .collect()
}

#[test]
fn the_readme_flag_table_lists_every_flag_help_lists() {
    let help = help_flags();
    let table = table_flags();
    assert!(
        help.contains("--broker") && help.contains("--version") && help.contains("--help"),
        "{help:?}"
    );
    let missing: Vec<&String> = help.difference(&table).collect();
    let extra: Vec<&String> = table.difference(&help).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README \"### Flags\" table: missing {missing:?} (listed by --help); \
         not in --help: {extra:?}"
    );
}
