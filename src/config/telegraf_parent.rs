//! Whether cadline runs under Telegraf, in which mode, and from which
//! configuration files: read from the parent process's command line.
//!
//! Why the command line: Telegraf tells an execd child nothing about its
//! mode. Its `internal/process` starts the child with `os.Environ()` plus
//! the plugin's `environment` list; `cmd/telegraf/main.go` sets only
//! `DISABLE_KWALLET=1`, in every mode. Test and once runs differ from the
//! service only in Telegraf's own flags, so those flags are the one
//! reliable sign (Telegraf v1.39.3, `cmd/telegraf/main.go` and
//! `cmd/telegraf/telegraf.go`):
//!
//! - `--once` runs one gather and the outputs, then exits: `RunMode::Once`
//!   (it wins over `--test`: `c.TestMode = !once && (test || test_wait != 0)`).
//! - `--test`, or a non-zero `--test-wait N`, gathers and prints without
//!   outputs: `RunMode::Test`.
//! - Otherwise Telegraf runs as a service: `RunMode::Service`.
//!
//! Flags are parsed as Go's `flag` package does (under urfave/cli v2):
//! one or two dashes, `--name value` or `--name=value`, booleans only as
//! `--name` or `--name=false`, and parsing stops at the first word that is
//! not a flag or at `--`. `--config` and `--config-directory` repeat, and
//! each value is also split on commas (urfave's slice flags).
//!
//! Which files Telegraf loads (`getConfigFiles`): every `--config`, then
//! the `*.conf` files under each `--config-directory`, walked recursively
//! in name order. Only when that list is empty does it fall back to
//! `config.GetDefaultConfigPath()`: `$TELEGRAF_CONFIG_PATH` if it exists
//! (or is a URL), else `$HOME/.telegraf/telegraf.conf` if it exists, else
//! `/etc/telegraf/telegraf.conf` and the `*.conf` files under
//! `/etc/telegraf/telegraf.d`. So `/etc/telegraf/telegraf.d` is read
//! without `--config-directory` only in that last fallback, and
//! `--config-directory` alone does not read `/etc/telegraf/telegraf.conf`.
//! A `--config` that starts `scheme://` is fetched (http, https), not read.

use std::path::{Path, PathBuf};

/// How the Telegraf above cadline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// The long-running agent: readings go to its outputs.
    Service,
    /// `--test` or `--test-wait N`: readings are printed, never stored.
    Test,
    /// `--once`: one gather and one flush, then exit.
    Once,
}

impl RunMode {
    /// A run that stops on its own after a short while: it must not take
    /// over the service's session or acknowledge anything for it.
    pub fn is_trial(self) -> bool {
        self != RunMode::Service
    }
}

/// What Telegraf's command line says, before any file is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegrafArgs {
    pub mode: RunMode,
    /// `--config` values, in order (paths or URLs), as typed.
    pub configs: Vec<String>,
    /// `--config-directory` values, in order, as typed.
    pub config_dirs: Vec<String>,
}

/// The Telegraf process cadline runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegrafParent {
    pub pid: u32,
    pub mode: RunMode,
    /// Every local file Telegraf loads, in its loading order: the `--config`
    /// files, then the `*.conf` files found under each config directory, or
    /// the default files when those give none. Directories are already
    /// walked: read these files, not `config_dirs`. Relative paths are
    /// resolved against Telegraf's working directory.
    pub config_files: Vec<PathBuf>,
    /// The directories walked for `config_files` (from `--config-directory`,
    /// or `/etc/telegraf/telegraf.d` when the defaults applied).
    pub config_dirs: Vec<PathBuf>,
    /// Some configuration comes from a URL, which cadline does not fetch:
    /// `config_files` is then not the whole configuration.
    pub remote_config: bool,
}

/// Flags of Telegraf v1.39.3 that take a value (every other one is a
/// boolean, which takes a value only as `--flag=value`).
const VALUE_FLAGS: &[&str] = &[
    "config",
    "config-directory",
    "section-filter",
    "input-filter",
    "output-filter",
    "aggregator-filter",
    "processor-filter",
    "secretstore-filter",
    "test-wait",
    "config-url-retry-attempts",
    "usage",
    "pprof-addr",
    "watch-config",
    "watch-debounce-interval",
    "pidfile",
    "password",
    "select",
    "watch-interval",
    "config-url-watch-interval",
    "plugin-directory",
    // Windows only, harmless elsewhere.
    "service",
    "service-name",
    "service-display-name",
    "service-restart-delay",
];

/// Reads Telegraf's flags from its argv (`argv[0]` included).
///
/// A flag this version of Telegraf does not have is taken as a boolean,
/// unless the next word is not a flag, which is then taken as its value:
/// a newer Telegraf's value flag must not hide a `--test` after it.
pub fn parse_args(argv: &[String]) -> TelegrafArgs {
    let mut test = false;
    let mut once = false;
    let mut test_wait: i64 = 0;
    let mut configs = Vec::new();
    let mut config_dirs = Vec::new();
    let mut words = argv.iter().skip(1).peekable();
    while let Some(word) = words.next() {
        if word == "--" || word.len() < 2 || !word.starts_with('-') {
            break;
        }
        let body = word.strip_prefix("--").unwrap_or(&word[1..]);
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            break;
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        let takes_value = VALUE_FLAGS.contains(&name);
        let known_bool = matches!(name, "test" | "once");
        let value = match inline {
            Some(v) => Some(v),
            None if takes_value => words.next().cloned(),
            None if !known_bool && words.peek().is_some_and(|w| !w.starts_with('-')) => {
                words.next().cloned()
            }
            None => None,
        };
        match name {
            "test" => test = value.as_deref().is_none_or(go_bool),
            "once" => once = value.as_deref().is_none_or(go_bool),
            "test-wait" => test_wait = value.as_deref().map_or(0, go_int),
            "config" => configs.extend(slice_values(value.as_deref())),
            "config-directory" => config_dirs.extend(slice_values(value.as_deref())),
            _ => {}
        }
    }
    let mode = if once {
        RunMode::Once
    } else if test || test_wait != 0 {
        RunMode::Test
    } else {
        RunMode::Service
    };
    TelegrafArgs {
        mode,
        configs,
        config_dirs,
    }
}

/// Go's `strconv.ParseBool`; anything else made Telegraf refuse to start.
fn go_bool(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// `strconv.ParseInt(v, 0, 64)` for the forms anyone writes; a value Go
/// would refuse made Telegraf refuse to start, so it counts as set.
fn go_int(v: &str) -> i64 {
    let v = v.replace('_', "");
    let (negative, digits) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v.strip_prefix('+').unwrap_or(&v)),
    };
    let parsed = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16)
    } else {
        digits.parse::<i64>()
    };
    match parsed {
        Ok(n) if negative => -n,
        Ok(n) => n,
        Err(_) => 1,
    }
}

/// One slice-flag value: split on commas, trimmed, empties dropped (an
/// empty path would have stopped Telegraf at start).
fn slice_values(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether Telegraf fetches this `--config` instead of reading a file
/// (`fetchURLRe = ^\w+://`).
fn is_remote(config: &str) -> bool {
    config.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// What `resolve` needs from the machine, so that it can be tested on a
/// made-up one.
pub trait ConfigFs {
    /// `os.Stat(path) == nil`.
    fn exists(&self, path: &Path) -> bool;
    /// The `*.conf` files Telegraf's `WalkDirectory` finds under `dir`.
    fn conf_files_under(&self, dir: &Path) -> Vec<PathBuf>;
}

/// The files and directories Telegraf loads for `args`, as
/// `getConfigFiles` and `GetDefaultConfigPath` pick them. `env` is
/// Telegraf's environment, `cwd` its working directory.
pub fn resolve(
    args: &TelegrafArgs,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
    fs: &dyn ConfigFs,
) -> (Vec<PathBuf>, Vec<PathBuf>, bool) {
    let mut files = Vec::new();
    let mut remote = false;
    for config in &args.configs {
        if is_remote(config) {
            remote = true;
        } else {
            files.push(cwd.join(config));
        }
    }
    let mut dirs: Vec<PathBuf> = args.config_dirs.iter().map(|d| cwd.join(d)).collect();
    for dir in &dirs {
        files.extend(fs.conf_files_under(dir));
    }
    if !files.is_empty() || remote {
        return (files, dirs, remote);
    }
    // The defaults, in GetDefaultConfigPath's order.
    let env_file = env("TELEGRAF_CONFIG_PATH").unwrap_or_default();
    let home_file = format!(
        "{}/.telegraf/telegraf.conf",
        env("HOME").unwrap_or_default()
    );
    for candidate in [env_file, home_file] {
        if candidate.contains("://") && url_has_host(&candidate) {
            return (Vec::new(), dirs, true);
        }
        if !candidate.is_empty() && fs.exists(&cwd.join(&candidate)) {
            return (vec![cwd.join(candidate)], dirs, false);
        }
    }
    let etc_file = Path::new("/etc/telegraf/telegraf.conf");
    let etc_dir = Path::new("/etc/telegraf/telegraf.d");
    if fs.exists(etc_file) {
        files.push(etc_file.to_owned());
    }
    if fs.exists(etc_dir) {
        files.extend(fs.conf_files_under(etc_dir));
        dirs.push(etc_dir.to_owned());
    }
    (files, dirs, false)
}

/// Go's `isURL`: a scheme and a host.
fn url_has_host(s: &str) -> bool {
    s.split_once("://")
        .is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.starts_with('/'))
}

/// The real file system, walked as Telegraf's `WalkDirectory` does:
/// `filepath.Walk` (no symbolic links followed, names in byte order),
/// directories starting `..` skipped, files whose name is at least six
/// bytes and ends `.conf`.
pub struct RealFs;

impl ConfigFs for RealFs {
    fn exists(&self, path: &Path) -> bool {
        path.metadata().is_ok()
    }

    fn conf_files_under(&self, dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(dir, true, &mut found);
        found
    }
}

fn walk(path: &Path, root: bool, found: &mut Vec<PathBuf>) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(meta) = path.symlink_metadata() else {
        return;
    };
    let name = path.file_name().map(OsStrExt::as_bytes).unwrap_or_default();
    if meta.is_dir() {
        if !root && name.starts_with(b"..") {
            return;
        }
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        children.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        for child in children {
            walk(&child, false, found);
        }
    } else if name.len() >= 6 && name.ends_with(b".conf") {
        found.push(path.to_owned());
    }
}

/// Whether a process's argv[0] and `comm` name Telegraf (`telegraf`, or
/// nixpkgs' `.telegraf-wrapped`).
pub fn is_telegraf(argv0: &str, comm: &str) -> bool {
    let base = |s: &str| {
        let b = s.rsplit('/').next().unwrap_or(s);
        let b = b.strip_prefix('.').unwrap_or(b);
        b.strip_suffix("-wrapped").unwrap_or(b).to_owned()
    };
    base(argv0) == "telegraf" || base(comm.trim_end()) == "telegraf"
}

/// How many processes up to look for Telegraf: its execd child is cadline
/// itself, or a wrapper (`sh -c`, `env`, `systemd-run --scope`) around it.
const ANCESTORS: usize = 4;

impl TelegrafParent {
    /// The Telegraf above this process, if there is one; `None` when
    /// cadline was started by anything else (a shell, systemd, a test), or
    /// when /proc cannot be read.
    pub fn detect() -> Option<TelegrafParent> {
        let mut pid = std::os::unix::process::parent_id();
        for _ in 0..ANCESTORS {
            if pid <= 1 {
                return None;
            }
            let argv = read_argv(pid)?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if is_telegraf(argv.first().map_or("", String::as_str), &comm) {
                return Some(Self::from_process(pid, &argv));
            }
            pid = parent_of(pid)?;
        }
        None
    }

    /// The parent as its argv, environment and working directory describe it.
    fn from_process(pid: u32, argv: &[String]) -> TelegrafParent {
        let args = parse_args(argv);
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok();
        let env = |name: &str| -> Option<String> {
            match &environ {
                Some(bytes) => bytes.split(|&b| b == 0).find_map(|kv| {
                    let kv = String::from_utf8_lossy(kv);
                    kv.strip_prefix(name)
                        .and_then(|r| r.strip_prefix('='))
                        .map(str::to_owned)
                }),
                // Another user's Telegraf: cadline inherited its environment.
                None => std::env::var(name).ok(),
            }
        };
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))
            .or_else(|_| std::env::current_dir())
            .unwrap_or_else(|_| PathBuf::from("/"));
        let (config_files, config_dirs, remote_config) = resolve(&args, &env, &cwd, &RealFs);
        TelegrafParent {
            pid,
            mode: args.mode,
            config_files,
            config_dirs,
            remote_config,
        }
    }
}

fn read_argv(pid: u32) -> Option<Vec<String>> {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        bytes
            .split(|&b| b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect(),
    )
}

/// The parent pid from `/proc/<pid>/stat` (after the `)` that ends the
/// command name, which may itself hold spaces and parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn args(line: &str) -> TelegrafArgs {
        let argv: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        parse_args(&argv)
    }

    #[test]
    fn the_mode_follows_telegrafs_own_rule() {
        assert_eq!(args("telegraf").mode, RunMode::Service);
        assert_eq!(args("telegraf --config a.conf").mode, RunMode::Service);
        assert_eq!(args("telegraf --test").mode, RunMode::Test);
        assert_eq!(args("/usr/bin/telegraf -test").mode, RunMode::Test);
        assert_eq!(args("telegraf --test=true").mode, RunMode::Test);
        assert_eq!(args("telegraf --test=false").mode, RunMode::Service);
        assert_eq!(args("telegraf --test --test=0").mode, RunMode::Service);
        assert_eq!(args("telegraf --test-wait 10").mode, RunMode::Test);
        assert_eq!(args("telegraf --test-wait=10").mode, RunMode::Test);
        assert_eq!(args("telegraf --test-wait 0").mode, RunMode::Service);
        assert_eq!(args("telegraf --once").mode, RunMode::Once);
        // --once wins over --test, as in `c.TestMode = !once && ...`.
        assert_eq!(args("telegraf --test --once").mode, RunMode::Once);
        assert_eq!(args("telegraf --once --test-wait 5").mode, RunMode::Once);
        assert!(RunMode::Test.is_trial() && RunMode::Once.is_trial());
        assert!(!RunMode::Service.is_trial());
    }

    #[test]
    fn a_flag_after_a_word_that_is_not_a_flag_is_not_telegrafs() {
        // Go's flag package stops at the first non-flag word and at `--`.
        assert_eq!(args("telegraf -- --test").mode, RunMode::Service);
        assert_eq!(args("telegraf --test false").mode, RunMode::Test);
        assert_eq!(args("telegraf --once stray --test").mode, RunMode::Once);
    }

    #[test]
    fn a_value_is_never_taken_for_a_flag() {
        // `--pidfile --test` names a pid file called "--test".
        assert_eq!(args("telegraf --pidfile --test").mode, RunMode::Service);
        let a = args("telegraf --config --once");
        assert_eq!(
            (a.mode, a.configs),
            (RunMode::Service, vec!["--once".into()])
        );
    }

    #[test]
    fn an_unknown_value_flag_does_not_hide_a_later_test() {
        assert_eq!(
            args("telegraf --future-flag value --test").mode,
            RunMode::Test
        );
        assert_eq!(args("telegraf --future-bool --test").mode, RunMode::Test);
    }

    #[test]
    fn configs_and_directories_repeat_and_split_on_commas() {
        let a = args(
            "telegraf -config /etc/telegraf/telegraf.conf --config=b.conf,c.conf \
             --config-directory /etc/telegraf/telegraf.d -config-directory=x,y --test",
        );
        assert_eq!(
            a.configs,
            ["/etc/telegraf/telegraf.conf", "b.conf", "c.conf"]
        );
        assert_eq!(a.config_dirs, ["/etc/telegraf/telegraf.d", "x", "y"]);
        assert_eq!(a.mode, RunMode::Test);
    }

    /// A made-up machine: files that exist, and what each directory holds.
    struct FakeFs {
        files: Vec<&'static str>,
        dirs: HashMap<&'static str, Vec<&'static str>>,
    }

    impl ConfigFs for FakeFs {
        fn exists(&self, path: &Path) -> bool {
            let p = path.to_str().unwrap_or_default();
            self.files.contains(&p) || self.dirs.contains_key(p)
        }
        fn conf_files_under(&self, dir: &Path) -> Vec<PathBuf> {
            self.dirs
                .get(dir.to_str().unwrap_or_default())
                .map(|v| v.iter().map(PathBuf::from).collect())
                .unwrap_or_default()
        }
    }

    fn debian() -> FakeFs {
        FakeFs {
            files: vec![
                "/etc/telegraf/telegraf.conf",
                "/home/pi/.telegraf/telegraf.conf",
            ],
            dirs: HashMap::from([(
                "/etc/telegraf/telegraf.d",
                vec!["/etc/telegraf/telegraf.d/cadline.conf"],
            )]),
        }
    }

    fn resolved(
        line: &str,
        env: &[(&str, &str)],
        fs: &FakeFs,
    ) -> (Vec<PathBuf>, Vec<PathBuf>, bool) {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        resolve(
            &args(line),
            &|k| env.get(k).cloned(),
            Path::new("/home/pi/work"),
            fs,
        )
    }

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn the_debian_service_line_loads_the_file_and_the_directory() {
        let (files, dirs, remote) = resolved(
            "/usr/bin/telegraf -config /etc/telegraf/telegraf.conf \
             -config-directory /etc/telegraf/telegraf.d",
            &[],
            &debian(),
        );
        assert_eq!(
            files,
            paths(&[
                "/etc/telegraf/telegraf.conf",
                "/etc/telegraf/telegraf.d/cadline.conf"
            ])
        );
        assert_eq!(dirs, paths(&["/etc/telegraf/telegraf.d"]));
        assert!(!remote);
    }

    #[test]
    fn a_config_alone_is_all_that_is_loaded_and_relative_paths_use_telegrafs_cwd() {
        let (files, dirs, _) = resolved("telegraf --config cadline.conf --test", &[], &debian());
        assert_eq!(files, paths(&["/home/pi/work/cadline.conf"]));
        assert!(dirs.is_empty());
    }

    #[test]
    fn without_flags_the_defaults_apply_in_telegrafs_order() {
        // $TELEGRAF_CONFIG_PATH first, if it exists.
        let fs = FakeFs {
            files: vec!["/srv/t.conf", "/etc/telegraf/telegraf.conf"],
            dirs: HashMap::new(),
        };
        let (files, _, _) = resolved(
            "telegraf --test",
            &[("TELEGRAF_CONFIG_PATH", "/srv/t.conf")],
            &fs,
        );
        assert_eq!(files, paths(&["/srv/t.conf"]));
        // Then ~/.telegraf/telegraf.conf, alone.
        let (files, dirs, _) = resolved(
            "telegraf --test",
            &[
                ("TELEGRAF_CONFIG_PATH", "/missing.conf"),
                ("HOME", "/home/pi"),
            ],
            &debian(),
        );
        assert_eq!(files, paths(&["/home/pi/.telegraf/telegraf.conf"]));
        assert!(dirs.is_empty());
        // Then /etc/telegraf/telegraf.conf and telegraf.d together.
        let (files, dirs, _) = resolved("telegraf --once", &[("HOME", "/root")], &debian());
        assert_eq!(
            files,
            paths(&[
                "/etc/telegraf/telegraf.conf",
                "/etc/telegraf/telegraf.d/cadline.conf"
            ])
        );
        assert_eq!(dirs, paths(&["/etc/telegraf/telegraf.d"]));
    }

    #[test]
    fn an_empty_config_directory_falls_back_to_the_defaults() {
        let mut fs = debian();
        fs.dirs.insert("/empty", vec![]);
        let (files, dirs, _) = resolved(
            "telegraf --config-directory /empty",
            &[("HOME", "/root")],
            &fs,
        );
        assert_eq!(files[0], PathBuf::from("/etc/telegraf/telegraf.conf"));
        assert_eq!(dirs, paths(&["/empty", "/etc/telegraf/telegraf.d"]));
    }

    #[test]
    fn a_config_url_is_reported_not_read() {
        let (files, _, remote) = resolved(
            "telegraf --config https://config.lan/telegraf.conf --config local.conf",
            &[],
            &debian(),
        );
        assert_eq!(files, paths(&["/home/pi/work/local.conf"]));
        assert!(remote);
        let (files, _, remote) = resolved(
            "telegraf",
            &[("TELEGRAF_CONFIG_PATH", "http://config.lan/t.conf")],
            &debian(),
        );
        assert!(files.is_empty() && remote);
    }

    #[test]
    fn telegraf_is_known_by_its_name_however_it_was_started() {
        assert!(is_telegraf("/usr/bin/telegraf", "telegraf\n"));
        assert!(is_telegraf("telegraf", ""));
        assert!(is_telegraf(
            "/nix/store/x/bin/.telegraf-wrapped",
            ".telegraf-wrapp"
        ));
        assert!(is_telegraf("weird-argv0", "telegraf\n"));
        assert!(!is_telegraf("/bin/sh", "sh\n"));
        assert!(!is_telegraf("/usr/bin/telegraf-helper", "telegraf-helper"));
    }

    #[test]
    fn the_real_walk_finds_conf_files_as_telegraf_does() {
        let root = std::env::temp_dir().join(format!("cadline-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let make = |p: &str| {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "").expect("write");
        };
        make("b.conf");
        make("a.conf");
        make("sub/c.conf");
        make(".conf");
        make("notes.txt");
        make("..data/d.conf");
        let found = RealFs.conf_files_under(&root);
        let names: Vec<_> = found
            .iter()
            .map(|p| p.strip_prefix(&root).expect("under root").to_owned())
            .collect();
        assert_eq!(names, paths(&["a.conf", "b.conf", "sub/c.conf"]));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_test_process_has_no_telegraf_above_it() {
        // cargo runs the tests; no Telegraf is among the ancestors.
        assert_eq!(TelegrafParent::detect(), None);
    }
}
