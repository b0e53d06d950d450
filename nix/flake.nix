# cadline as a flake: the package, the NixOS module and an overlay. It lives
# in nix/ (the repository's top level is Cargo's), so a flake URL names the
# directory, e.g. "git+https://<host>/<owner>/cadline?dir=nix"; the whole
# repository is still the flake's source, so ./package.nix builds from
# ../Cargo.lock as without flakes. nix/default.nix is the entry point
# without flakes; both use the same package.nix and module.nix.
#
# In a NixOS flake:
#   inputs.cadline.url = "git+https://<host>/<owner>/cadline?dir=nix";
#   modules = [ cadline.nixosModules.default { services.cadline.enable = true; } ];
# The module builds cadline with the system's own nixpkgs (its `package`
# option defaults to `pkgs.callPackage ./package.nix { }`), so this flake's
# nixpkgs input is used only by `packages`: add
# `inputs.cadline.inputs.nixpkgs.follows = "nixpkgs";` to fetch one nixpkgs.
{
  description = "cadline: Hildebrand Glow CAD MQTT messages to InfluxDB line protocol, as a Telegraf execd input";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs = { self, nixpkgs }:
    let
      # The systems nixpkgs builds and caches Rust for; package.nix itself
      # builds on any Linux (meta.platforms).
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forEachSystem = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      # nix build "<url>?dir=nix"  (or #cadline)
      packages = forEachSystem (pkgs: {
        cadline = pkgs.callPackage ./package.nix { };
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.cadline;
      });

      # pkgs.cadline in a nixpkgs with this overlay.
      overlays.default = final: prev: {
        cadline = final.callPackage ./package.nix { };
      };

      # services.cadline (see the README's NixOS section).
      nixosModules.default = ./module.nix;
      nixosModules.cadline = ./module.nix;
    };
}
