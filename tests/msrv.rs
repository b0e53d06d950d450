//! The minimum Rust cadline states is the one its locked dependencies need:
//! raising a dependency cannot raise the minimum without this failing, and
//! the README says the same numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::rig::{run_with_timeout, TOOL_TIMEOUT};

/// The targets the README names: PCs and servers, 64-bit Raspberry Pi OS
/// (arm64) and 32-bit Raspberry Pi OS (armhf).
const TARGETS: [&str; 3] = [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "armv7-unknown-linux-gnueabihf",
];

/// A `rust-version` as numbers, "1.85" and "1.85.0" alike.
fn version(text: &str) -> Vec<u32> {
    let mut v: Vec<u32> = text
        .split('.')
        .map(|n| {
            n.parse()
                .unwrap_or_else(|_| panic!("rust-version {text:?}"))
        })
        .collect();
    v.resize(3, 0);
    v
}

fn shown(v: &[u32]) -> String {
    match v {
        [a, b, 0] => format!("{a}.{b}"),
        _ => v.iter().map(u32::to_string).collect::<Vec<_>>().join("."),
    }
}

/// What each locked package needs, as the highest rust-version among the
/// packages a build of cadline for `target` compiles (`with_dev`: the
/// tests' too), with the packages that need it.
struct Needs {
    ours: Vec<u32>,
    build: BTreeMap<Vec<u32>, BTreeSet<String>>,
    tests: BTreeMap<Vec<u32>, BTreeSet<String>>,
}

fn needs(target: &str) -> Needs {
    let out = run_with_timeout(
        Command::new(env!("CARGO"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["metadata", "--locked", "--format-version", "1"])
            .args(["--filter-platform", target]),
        None,
        TOOL_TIMEOUT,
        "cargo metadata --locked",
    );
    assert!(
        out.status.success(),
        "cargo metadata --locked: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let packages: BTreeMap<&str, &serde_json::Value> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p))
        .collect();
    let nodes: BTreeMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve")
        .iter()
        .map(|n| (n["id"].as_str().expect("id"), n))
        .collect();
    let root = meta["resolve"]["root"].as_str().expect("root package");
    // Every package reached from the root; dev-dependencies only the
    // root's own (a dependency's dev-dependencies are never built).
    let reach = |with_dev: bool| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![root];
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            for dep in nodes[id]["deps"].as_array().expect("deps") {
                let kinds = dep["dep_kinds"].as_array().expect("dep_kinds");
                if kinds
                    .iter()
                    .any(|k| k["kind"] != "dev" || (with_dev && id == root))
                {
                    todo.push(dep["pkg"].as_str().expect("pkg"));
                }
            }
        }
        let mut by_version: BTreeMap<Vec<u32>, BTreeSet<String>> = BTreeMap::new();
        for id in seen.into_iter().filter(|id| *id != root) {
            let p = packages[id];
            if let Some(v) = p["rust_version"].as_str() {
                by_version.entry(version(v)).or_default().insert(format!(
                    "{} {}",
                    p["name"].as_str().expect("name"),
                    p["version"].as_str().expect("version")
                ));
            }
        }
        by_version
    };
    Needs {
        ours: version(
            packages[root]["rust_version"]
                .as_str()
                .expect("cadline's rust-version"),
        ),
        build: reach(false),
        tests: reach(true),
    }
}

fn highest(map: &BTreeMap<Vec<u32>, BTreeSet<String>>) -> (Vec<u32>, &BTreeSet<String>) {
    let (v, who) = map
        .iter()
        .next_back()
        .expect("some dependency states a rust-version");
    (v.clone(), who)
}

/// Cargo.toml's rust-version is exactly the highest rust-version among the
/// locked packages a build compiles, for every target the README names:
/// not lower (the stated minimum would not build), not higher (it would
/// turn away toolchains that do). Our own code against that minimum is
/// clippy's `incompatible_msrv` lint's job, which reads the same field.
#[test]
fn rust_version_is_what_the_locked_dependencies_need() {
    for target in TARGETS {
        let needs = needs(target);
        let (need, who) = highest(&needs.build);
        assert_eq!(
            shown(&needs.ours),
            shown(&need),
            "{target}: Cargo.toml says rust-version {}, the locked dependencies need {} ({who:?}): \
             set rust-version to {} and update the README's quick start",
            shown(&needs.ours),
            shown(&need),
            shown(&need),
        );
    }
}

/// The README's quick start names the minimum to build and the minimum to
/// run the tests (dev-dependencies may need more), as the lock file has them.
#[test]
fn the_readme_states_the_minimum_rust() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let quick_start = readme
        .split("\n## Quick start\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Quick start section");
    let needs = needs(TARGETS[0]);
    let build = format!("Rust {} or later", shown(&needs.ours));
    let (tests, who) = highest(&needs.tests);
    let tests = format!("tests need Rust {} or later", shown(&tests));
    for (said, why) in [(&build, "building"), (&tests, "the tests")] {
        assert!(
            quick_start.contains(said.as_str()),
            "the quick start must say \"{said}\" ({why}; {who:?})"
        );
    }
}
