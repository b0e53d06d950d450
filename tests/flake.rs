//! nix/flake.nix, checked as far as nix-instantiate can without fetching
//! nixpkgs (tests/nix/flake-eval.nix calls its `outputs` with a stub
//! nixpkgs): the outputs a NixOS flake user reaches for exist, build the
//! same package.nix and use the same module.nix as nix/default.nix.

use std::process::Command;

use crate::rig::{repo_path, run_with_timeout, tool, TOOL_TIMEOUT};

fn evaluated() -> serde_json::Value {
    let out = run_with_timeout(
        Command::new(tool("nix-instantiate", "nix-bin"))
            .args(["--eval", "--strict", "--json"])
            .arg(repo_path("tests/nix/flake-eval.nix")),
        None,
        TOOL_TIMEOUT,
        "nix-instantiate --eval flake-eval.nix",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The file a stub `callPackage` was given, and that it had no overrides.
fn called(package: &serde_json::Value) -> &str {
    assert_eq!(package["args"], serde_json::json!({}), "{package}");
    package["called"].as_str().expect("a callPackage'd package")
}

#[test]
fn the_flake_exposes_the_package_the_module_and_an_overlay() {
    let eval = evaluated();
    let package_nix = eval["files"]["package"].as_str().expect("path");
    let module_nix = eval["files"]["module"].as_str().expect("path");
    // Nix reads only these from a flake.nix, and `inputs` must be literal.
    assert_eq!(
        eval["outputArgs"],
        serde_json::json!(["nixpkgs", "self"]),
        "outputs takes one argument per input, and self"
    );
    let url = eval["inputs"]["nixpkgs"]["url"]
        .as_str()
        .expect("nixpkgs url");
    assert!(url.starts_with("github:NixOS/nixpkgs/"), "{url}");
    assert_eq!(
        eval["outputNames"],
        serde_json::json!(["nixosModules", "overlays", "packages"])
    );
    for system in ["x86_64-linux", "aarch64-linux"] {
        let packages = &eval["packages"][system];
        for name in ["default", "cadline"] {
            assert_eq!(called(&packages[name]), package_nix, "{system}.{name}");
            assert_eq!(
                packages[name]["system"], system,
                "{system}.{name}: its own pkgs"
            );
        }
    }
    assert_eq!(called(&eval["overlay"]["cadline"]), package_nix);
    assert_eq!(eval["nixosModules"]["default"], module_nix);
    assert_eq!(eval["nixosModules"]["cadline"], module_nix);
}

/// nix/default.nix, the entry point without flakes, still gives the same
/// package and module.
#[test]
fn default_nix_keeps_working_beside_the_flake() {
    let eval = evaluated();
    assert_eq!(
        called(&eval["defaultNix"]["package"]),
        eval["files"]["package"].as_str().expect("path")
    );
    assert_eq!(eval["defaultNix"]["module"], eval["files"]["module"]);
}

/// A flake.nix may hold only description, inputs, outputs and nixConfig at
/// its top level (Nix refuses anything else before evaluating it).
#[test]
fn the_flake_has_only_what_nix_allows_at_its_top_level() {
    let out = run_with_timeout(
        Command::new(tool("nix-instantiate", "nix-bin"))
            .args(["--eval", "--strict", "--json", "--expr"])
            .arg(format!(
                "builtins.attrNames (import {})",
                repo_path("nix/flake.nix").display()
            )),
        None,
        TOOL_TIMEOUT,
        "nix-instantiate --eval flake.nix",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = serde_json::from_slice(&out.stdout).expect("JSON");
    for name in &names {
        assert!(
            ["description", "inputs", "outputs", "nixConfig"].contains(&name.as_str()),
            "flake.nix has {name} at its top level"
        );
    }
    assert!(names.contains(&"outputs".to_owned()), "{names:?}");
}
