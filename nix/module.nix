# services.cadline: runs cadline as an `inputs.execd` of services.telegraf.
#
# The broker password never enters the Nix store, the Telegraf config, the
# environment or a command line: systemd copies `passwordFile` into the
# telegraf unit's private credentials directory at start, and cadline reads
# it from there with --password-file (a path, not the secret).
{ config, lib, pkgs, ... }:

let
  cfg = config.services.cadline;
  inherit (lib) mkOption mkEnableOption mkIf types optional optionals;

  # Where systemd puts the unit's credentials (LoadCredential below).
  credentials = "/run/credentials/telegraf.service";

  # An absolute path outside the store, given as a string: a Nix path
  # literal would be copied into the world-readable store. `types.pathWith`
  # exists from nixpkgs 25.05; on 24.11 the same rule is a checked string.
  outsideStore =
    if types ? pathWith then
      types.pathWith { inStore = false; absolute = true; }
    else
      types.addCheck types.str (p:
        lib.hasPrefix "/" p && !lib.hasPrefix "${builtins.storeDir}/" p)
      // { description = "absolute path, not in the Nix store"; };
  secretPath = types.nullOr outsideStore;

  command =
    [ (lib.getExe cfg.package) "--broker" cfg.broker "--prefix" cfg.prefix ]
    ++ lib.concatMap (t: [ "--topic" t ]) cfg.topics
    ++ optionals (cfg.sharedGroup != null) [ "--shared-group" cfg.sharedGroup ]
    ++ optionals (cfg.username != null) [ "--username" cfg.username ]
    ++ optionals (cfg.passwordFile != null) [ "--password-file" "${credentials}/cadline-mqtt-password" ]
    ++ optionals (cfg.clientId != null) [ "--client-id" cfg.clientId ]
    ++ [ "--qos" (toString cfg.qos) ]
    ++ optional cfg.persistentSession "--persistent-session"
    # Interpolation, not toString: a Nix path (./ca.pem) is copied into the
    # store and the store path is used, which also works on a remote target.
    # Certificates are public; the key goes through LoadCredential below.
    ++ optionals (cfg.caFile != null) [ "--ca-file" "${cfg.caFile}" ]
    ++ optionals (cfg.certFile != null) [ "--cert-file" "${cfg.certFile}" ]
    ++ optionals (cfg.keyFile != null) [ "--key-file" "${credentials}/cadline-mqtt-key" ]
    ++ [ "--mqtt-version" cfg.mqttVersion ]
    ++ [ "--keep-alive" (toString cfg.keepAlive) ]
    ++ [ "--max-message-size" (toString cfg.maxMessageSize) ]
    ++ [ "--timestamp" cfg.timestamp ]
    ++ optional cfg.meterTags "--meter-tags"
    ++ [ "--log-level" cfg.logLevel ]
    ++ cfg.extraArgs;
in
{
  options.services.cadline = {
    enable = mkEnableOption "cadline, a Telegraf input for Hildebrand Glow smart-meter CADs";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./package.nix { }";
      description = "The cadline package.";
    };

    broker = mkOption {
      type = types.str;
      default = "mqtt://localhost:1883";
      example = "mqtts://broker.lan:8883";
      description = "Broker URL, mqtt:// or mqtts:// (TLS). No credentials in the URL.";
    };

    prefix = mkOption {
      type = types.str;
      default = "glow";
      example = "energy";
      description = "Topic prefix the CAD publishes under.";
    };

    topics = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "MQTT topic filters; empty means every CAD topic under `prefix`.";
    };

    sharedGroup = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Subscribe as $share/<name>/... so several instances split one stream.";
    };

    username = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Broker user name.";
    };

    passwordFile = mkOption {
      type = secretPath;
      default = null;
      example = "/run/secrets/mqtt-password";
      description = ''
        File whose first line is the broker password. Read by systemd when
        Telegraf starts (LoadCredential) and never copied into the Nix store;
        it may stay readable by root only.
      '';
    };

    clientId = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "MQTT client id; required with `persistentSession`.";
    };

    qos = mkOption {
      type = types.enum [ 0 1 ];
      default = 1;
      description = "MQTT QoS. At 1 a reading is acknowledged only once written.";
    };

    persistentSession = mkOption {
      type = types.bool;
      default = false;
      description = "Keep the session (and queued QoS 1 messages) at the broker while cadline is down.";
    };

    caFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "CA certificate (PEM) to verify an mqtts:// broker; default: the system roots. A Nix path is copied into the store.";
    };

    certFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "Client certificate (PEM); needs `keyFile`. A Nix path is copied into the store.";
    };

    keyFile = mkOption {
      type = secretPath;
      default = null;
      description = "Client key (PEM); passed like `passwordFile`, never copied into the store.";
    };

    mqttVersion = mkOption {
      type = types.enum [ "3.1.1" "5" ];
      default = "3.1.1";
      description = "MQTT protocol version.";
    };

    keepAlive = mkOption {
      type = types.ints.between 5 65535;
      default = 60;
      description = "Keep-alive interval in seconds.";
    };

    maxMessageSize = mkOption {
      type = types.ints.positive;
      default = 1048576;
      description = "Payloads larger than this many bytes are skipped (and acknowledged) with a warning.";
    };

    timestamp = mkOption {
      type = types.enum [ "meter" "receive" ];
      default = "meter";
      description = "Stamp lines with the meter's reading time or the time of arrival.";
    };

    meterTags = mkOption {
      type = types.bool;
      default = false;
      description = "Write MPAN/MPRN and supplier as tags (personal data).";
    };

    logLevel = mkOption {
      type = types.enum [ "error" "warn" "info" "debug" ];
      default = "warn";
      description = "What cadline logs (through Telegraf's log).";
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Further cadline flags.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.persistentSession -> cfg.clientId != null;
        message = "services.cadline.persistentSession needs services.cadline.clientId.";
      }
      {
        assertion = (cfg.certFile == null) == (cfg.keyFile == null);
        message = "services.cadline.certFile and keyFile go together.";
      }
      {
        assertion = (config.services.telegraf.extraConfig.outputs or { }) != { };
        message = "services.cadline feeds Telegraf, which refuses to start without an output: set services.telegraf.extraConfig.outputs.";
      }
    ];

    services.telegraf.enable = true;
    # A list: the NixOS Telegraf module concatenates list definitions, so
    # this joins the user's own `inputs.execd = [ ... ]` entries.
    services.telegraf.extraConfig.inputs.execd = [
      {
        inherit command;
        signal = "none";
        restart_delay = "10s";
        data_format = "influx";
      }
    ];

    systemd.services.telegraf.serviceConfig.LoadCredential =
      optional (cfg.passwordFile != null) "cadline-mqtt-password:${cfg.passwordFile}"
      ++ optional (cfg.keyFile != null) "cadline-mqtt-key:${cfg.keyFile}";
  };
}
