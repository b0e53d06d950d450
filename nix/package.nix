# cadline, built from this repository's Cargo.lock (crates.io only, so no
# hash to maintain). Use with `pkgs.callPackage ./package.nix { }`.
{ lib, rustPlatform, procps, versionCheckHook }:

let
  # Every Telegraf configuration shipped in telegraf/, installed as examples
  # under share/doc/cadline/examples as the Debian package does
  # (tests/nix.rs checks this list against the directory).
  examples = [ "cadline.conf" "telegraf.conf" "at-least-once.conf" ];
in
# The plain attribute-set form (not `finalAttrs:`, which buildRustPackage
# takes only from nixpkgs 25.05), so the package builds on 24.11 too.
rustPlatform.buildRustPackage {
  pname = "cadline";
  version = (lib.importTOML ../Cargo.toml).package.version;

  src = lib.fileset.toSource {
    root = ../.;
    # Only what `cargo build` and the tests run below read, and the examples
    # installed below, so that editing the README, nix/ or the dashboard
    # does not rebuild the package.
    fileset = lib.fileset.unions ([
      ../Cargo.toml
      ../Cargo.lock
      ../src
      ../tests
      ../telegraf/example-capture.txt # read by the pipe tests
    ] ++ map (name: ../telegraf + "/${name}") examples);
  };
  cargoLock.lockFile = ../Cargo.lock;

  # The pipe tests signal cadline with `kill`, which stdenv lacks.
  nativeCheckInputs = [ procps ];

  # The unit tests, the golden cases, pipe mode and the fuzz tests run in the
  # sandbox. These start a real Mosquitto, InfluxDB, Telegraf or
  # nix-instantiate, which the build sandbox does not have; tests/run.sh runs
  # them outside Nix (tests/nix.rs checks this list covers them).
  checkFlags = [
    "--skip=mqtt::"
    "--skip=end_to_end::"
    "--skip=chaos::"
    "--skip=security::"
    "--skip=nix::"
    "--skip=telegraf::"
    "--skip=exits::"
    "--skip=sessions::"
    "--skip=hostile::"
    "--skip=flake::"
    # Run cadline under a real Mosquitto, InfluxDB or Telegraf.
    "--skip=telegraf_defaults::"
    "--skip=boundaries::"
    "--skip=broker_faults::"
    "--skip=dashboard::"
    "--skip=limits::"
    "--skip=operator::"
    "--skip=start_up::"
    "--skip=tls_errors::"
    "--skip=telegraf_defaults::"
    "--skip=fault_schedule::"
    # Reads README.md, which is not in the source set above.
    "--skip=flag_table::"
    # Builds and installs the .deb with cargo-deb and dpkg, as root.
    "--skip=deb::"
    # Runs `cargo metadata --locked`, which reads the registry's index.
    "--skip=msrv::"
    # Shifts the host clock with Debian's libfaketime, at Debian's path.
    "--skip=pipe::a_host_clock_that_is_wrong_keeps_the_meter_time"
    # Reads the system's CA bundle at /etc/ssl, which the sandbox lacks.
    "--skip=edges::mqtt_source::tests::mqtts_without_a_ca_file_trusts_the_systems_ca_bundle"
  ];

  # The examples run this package's cadline, not /usr/local/bin/cadline
  # (at-least-once.conf runs nothing).
  postInstall = ''
    install -Dm644 -t $out/share/doc/cadline/examples \
      ${lib.concatMapStringsSep " " (name: "telegraf/${name}") examples}
    for f in cadline.conf telegraf.conf; do
      substituteInPlace $out/share/doc/cadline/examples/$f \
        --replace-fail /usr/local/bin/cadline $out/bin/cadline
    done
  '';

  nativeInstallCheckInputs = [ versionCheckHook ];
  doInstallCheck = true;

  meta = {
    description = "Hildebrand Glow CAD MQTT messages to InfluxDB line protocol, as a Telegraf execd input";
    license = with lib.licenses; [ mit asl20 ];
    mainProgram = "cadline";
    platforms = lib.platforms.linux;
    maintainers = [ ];
  };
}
