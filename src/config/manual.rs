//! The man page and the shell completions, rendered from the clap definition
//! that parses the command line and prints `--help` (`cadline --generate
//! man|bash|zsh|fish`), so that what a package installs can never disagree
//! with the binary it installs beside it.
//!
//! A mode of the binary, as `rg --generate` is, rather than a build script:
//! the definition in cli.rs uses types from the library (log levels,
//! timestamp sources), which a build script could only see by duplicating
//! them, and a build script would run these generators on every build of
//! every user, the Nix build included. The packaging step (.ci/build-deb)
//! runs the freshly built binary instead.
//!
//! `--generate` is looked for before clap parses anything and is not part
//! of the clap definition: it is not a setting, and clap_complete's bash
//! script would offer it even hidden.

use std::ffi::OsString;

use clap::{CommandFactory, ValueEnum};
use clap_complete::Shell;

use super::cli::Cli;

/// What `--generate` renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// The man page, `cadline.1` (roff).
    Man,
    /// bash completion, for /usr/share/bash-completion/completions/cadline.
    Bash,
    /// zsh completion, for /usr/share/zsh/vendor-completions/_cadline.
    Zsh,
    /// fish completion, for /usr/share/fish/vendor_completions.d/cadline.fish.
    Fish,
}

/// `cadline --generate WHAT` and nothing else: what to render, or why the
/// request is wrong. `None` for every other command line.
pub fn requested(args: impl IntoIterator<Item = OsString>) -> Option<Result<Generate, String>> {
    let args: Vec<OsString> = args.into_iter().skip(1).collect();
    let first = args.first()?.to_str()?;
    // `--generatex` and the like are clap's to refuse as unknown flags.
    let value = match first.strip_prefix("--generate") {
        Some("") => args.get(1).and_then(|v| v.to_str()),
        Some(rest) => Some(rest.strip_prefix('=')?),
        None => return None,
    };
    let expected = if first.contains('=') { 1 } else { 2 };
    Some(
        match value {
            Some(v) if args.len() == expected => Generate::from_str(v, false).map_err(|_| ()),
            _ => Err(()),
        }
        .map_err(|()| "usage: cadline --generate man|bash|zsh|fish (alone)".to_owned()),
    )
}

/// The bytes of the man page or completion script. The definition is the
/// one `--help` prints, taken before the environment is consulted, so the
/// output does not depend on the packager's `CADLINE_*` variables.
pub fn render(what: Generate) -> std::io::Result<Vec<u8>> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    match what {
        Generate::Man => clap_mangen::Man::new(command).render(&mut out)?,
        Generate::Bash => clap_complete::generate(Shell::Bash, &mut command, "cadline", &mut out),
        Generate::Zsh => clap_complete::generate(Shell::Zsh, &mut command, "cadline", &mut out),
        Generate::Fish => clap_complete::generate(Shell::Fish, &mut command, "cadline", &mut out),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag `--help` shows is in the man page and in each completion
    /// script; the hidden `--generate` is in none of them.
    #[test]
    fn every_flag_is_documented_and_completed() {
        let flags: Vec<String> = Cli::command()
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect();
        assert!(flags.len() >= 20, "{flags:?}");
        for what in [Generate::Man, Generate::Bash, Generate::Zsh, Generate::Fish] {
            let text = String::from_utf8(render(what).expect("render")).expect("UTF-8");
            for flag in &flags {
                // roff escapes the hyphens of a flag: \-\-broker.
                let found = match what {
                    Generate::Man => text.contains(&format!("\\-\\-{}", flag.replace('-', "\\-"))),
                    Generate::Fish => text.contains(&format!("-l {flag}")),
                    _ => text.contains(&format!("--{flag}")),
                };
                assert!(found, "{what:?} lacks --{flag}");
            }
            assert!(!text.contains("generate"), "{what:?} shows --generate");
        }
    }

    #[test]
    fn only_a_whole_generate_request_is_one() {
        let args = |a: &[&str]| {
            std::iter::once("cadline")
                .chain(a.iter().copied())
                .map(OsString::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            requested(args(&["--generate", "man"])),
            Some(Ok(Generate::Man))
        );
        assert_eq!(
            requested(args(&["--generate=fish"])),
            Some(Ok(Generate::Fish))
        );
        assert_eq!(requested(args(&["--stdin"])), None);
        assert_eq!(requested(args(&[])), None);
        assert_eq!(requested(args(&["--generatex", "man"])), None);
        assert_eq!(requested(args(&["--stdin", "--generate", "man"])), None);
        for bad in [
            &["--generate"][..],
            &["--generate", "pdf"],
            &["--generate", "man", "--stdin"],
            &["--generate=man", "x"],
        ] {
            assert!(requested(args(bad)).is_some_and(|r| r.is_err()), "{bad:?}");
        }
    }
}
