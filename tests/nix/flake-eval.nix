# Evaluates ../../nix/flake.nix and ../../nix/default.nix without fetching
# nixpkgs: the flake's `outputs` is called with a stub nixpkgs input whose
# `callPackage` records what it was given instead of building. tests/flake.rs
# reads the JSON this produces.
let
  inherit (builtins) attrNames functionArgs listToAttrs map;
  flake = import ../../nix/flake.nix;
  # What a package is here: the file callPackage was given, and its
  # arguments (toString: a path printed as JSON would be copied into the store).
  callPackageFor = system: file: args: { called = toString file; inherit args system; };
  pkgsFor = system: {
    callPackage = callPackageFor system;
    stdenv.hostPlatform.system = system;
  };
  nixpkgs = {
    lib.genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
    legacyPackages = {
      x86_64-linux = pkgsFor "x86_64-linux";
      aarch64-linux = pkgsFor "aarch64-linux";
    };
  };
  outputs = flake.outputs { self = outputs; inherit nixpkgs; };
  overlaid = outputs.overlays.default (pkgsFor "x86_64-linux") { };
  classic = import ../../nix/default.nix { pkgs = pkgsFor "x86_64-linux"; };
in
{
  description = flake.description;
  inputs = flake.inputs;
  outputArgs = attrNames (functionArgs flake.outputs);
  outputNames = attrNames outputs;
  packages = outputs.packages;
  overlay = overlaid;
  nixosModules = builtins.mapAttrs (_: m: toString m) outputs.nixosModules;
  defaultNix = { package = classic.package; module = toString classic.module; };
  files = {
    package = toString ../../nix/package.nix;
    module = toString ../../nix/module.nix;
  };
}
