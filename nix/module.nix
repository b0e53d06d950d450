# services.cadline: runs cadline as an `inputs.execd` of services.telegraf.
#
# The broker password never enters the Nix store, the Telegraf config, the
# environment or a command line: systemd copies `passwordFile` into the
# telegraf unit's private credentials directory at start, and cadline reads
# it from there with --password-file (a path, not the secret).
{ config, lib, pkgs, ... }:

let
  cfg = config.services.cadline;
  inherit (lib) mkOption mkEnableOption mkIf mkDefault types optional optionals;

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
    # toJSON, not toString: 0.5 is "0.5", not "0.500000".
    ++ [ "--ack-delay" (builtins.toJSON cfg.ackDelay) ]
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
      # The host name, not a fixed "cadline": two clients with one id throw
      # each other off the broker, and a configuration copied to a second
      # host would do exactly that.
      default =
        if config.networking.hostName != "" then "cadline-${config.networking.hostName}" else null;
      defaultText = lib.literalExpression ''"cadline-''${config.networking.hostName}"'';
      description = ''
        MQTT client id; required with `persistentSession`. Every cadline on
        one broker needs its own: two clients with one id keep disconnecting
        each other.
      '';
    };

    qos = mkOption {
      type = types.enum [ 0 1 ];
      default = 1;
      description = "MQTT QoS. At 1 a reading is acknowledged only once written.";
    };

    persistentSession = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Keep the session (and queued QoS 1 messages) at the broker while
        cadline or Telegraf is down, as the shipped telegraf/cadline.conf
        does: a restart of Telegraf (every `nixos-rebuild switch` that
        changes its configuration) then loses no reading.
      '';
    };

    ackDelay = mkOption {
      type = types.numbers.between 0 3600;
      default = 1;
      example = 0.5;
      description = ''
        Seconds cadline holds each QoS 1 acknowledgement after writing the
        reading to Telegraf (`--ack-delay`): by then Telegraf's disk buffer
        (`diskBuffer`) holds it, and a reading Telegraf lost in a crash
        before that is redelivered by the broker. Holding costs in-flight
        slots at the broker: about `max_inflight_messages / ackDelay`
        messages per second (20 with Mosquitto's defaults and 1 s).
      '';
    };

    diskBuffer = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Set Telegraf's agent to keep every metric on disk until an output
        wrote it (`buffer_strategy = "disk"`, `buffer_directory =
        "/var/lib/telegraf/buffer"`, with the unit's StateDirectory), so
        readings survive a Telegraf crash or restart and an output outage.
        Both are defaults (mkDefault) that `services.telegraf.extraConfig.agent`
        overrides. It applies to every output of this Telegraf. Telegraf
        1.39 calls the disk buffer experimental and logs one warning saying
        so at every start.
      '';
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
        assertion = cfg.persistentSession -> (cfg.clientId != null && cfg.clientId != "");
        message = "services.cadline.persistentSession needs services.cadline.clientId (its default needs networking.hostName).";
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

    # At-least-once through Telegraf (README, "Not losing a reading"): each
    # metric is on disk before cadline acknowledges it. Defaults only, so a
    # user's own agent settings win.
    services.telegraf.extraConfig.agent = mkIf cfg.diskBuffer {
      buffer_strategy = mkDefault "disk";
      buffer_directory = mkDefault "/var/lib/telegraf/buffer";
    };

    systemd.services.telegraf.serviceConfig.LoadCredential =
      optional (cfg.passwordFile != null) "cadline-mqtt-password:${cfg.passwordFile}"
      ++ optional (cfg.keyFile != null) "cadline-mqtt-key:${cfg.keyFile}";
    # /var/lib/telegraf, owned by the telegraf user, for the disk buffer
    # (Telegraf creates buffer/ in it). A list, so that it joins any other
    # module's StateDirectory instead of conflicting with it.
    systemd.services.telegraf.serviceConfig.StateDirectory = optional cfg.diskBuffer "telegraf";
  };
}
