# cadline, built from this repository's Cargo.lock (crates.io only, so no
# hash to maintain). Use with `pkgs.callPackage ./package.nix { }`.
{ lib, rustPlatform, versionCheckHook }:

rustPlatform.buildRustPackage (finalAttrs: {
  pname = "cadline";
  version = (lib.importTOML ../Cargo.toml).package.version;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [ ../Cargo.toml ../Cargo.lock ../clippy.toml ../src ../tests ../telegraf ../nix ../README.md ];
  };
  cargoLock.lockFile = ../Cargo.lock;

  # The unit tests, the golden cases and pipe mode run in the sandbox. These
  # start a real Mosquitto, InfluxDB or nix-instantiate, which the build
  # sandbox does not have; tests/run.sh runs them outside Nix.
  checkFlags = [
    "--skip=mqtt::"
    "--skip=end_to_end::"
    "--skip=chaos::"
    "--skip=security::"
    "--skip=nix::"
  ];

  nativeInstallCheckInputs = [ versionCheckHook ];
  doInstallCheck = true;

  meta = {
    description = "Hildebrand Glow CAD MQTT messages to InfluxDB line protocol, as a Telegraf execd input";
    license = with lib.licenses; [ mit asl20 ];
    mainProgram = "cadline";
    platforms = lib.platforms.linux;
    maintainers = [ ];
  };
})
