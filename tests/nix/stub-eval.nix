# Evaluates ../../nix/module.nix without nixpkgs: a stub `lib` with just the
# functions the module uses, a fake package, and a configuration that sets
# every option. tests/nix.rs reads the JSON this produces.
let
  lib = {
    mkOption = a: a;
    mkEnableOption = d: { default = false; description = d; };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    types = {
      str = "str";
      bool = "bool";
      package = "package";
      path = "path";
      nullOr = t: "nullOr";
      listOf = t: "listOf";
      enum = xs: "enum";
      pathWith = a: "pathWith";
    };
    optional = c: x: if c then [ x ] else [ ];
    optionals = c: xs: if c then xs else [ ];
    concatMap = f: xs: builtins.concatLists (map f xs);
    getExe = p: "${p.outPath}/bin/${p.meta.mainProgram}";
  };
  pkgs = {
    callPackage = f: args: { outPath = "/nix/store/00000000000000000000000000000000-cadline"; meta.mainProgram = "cadline"; };
  };
  everything = {
    enable = true;
    package = pkgs.callPackage null { };
    broker = "mqtts://broker.lan:8883";
    prefix = "energy";
    topics = [ "energy/+/SENSOR/electricitymeter" ];
    sharedGroup = "cadline";
    username = "meter";
    passwordFile = "/run/secrets/mqtt-password";
    clientId = "cadline-1";
    qos = 1;
    persistentSession = true;
    caFile = "/etc/ssl/broker-ca.pem";
    certFile = "/etc/ssl/cadline.pem";
    keyFile = "/run/secrets/cadline.key";
    timestamp = "receive";
    meterTags = true;
    logLevel = "info";
    extraArgs = [ "--max-message-size" "2000000" ];
  };
  minimal = {
    enable = true;
    package = pkgs.callPackage null { };
    broker = "mqtt://localhost:1883";
    prefix = "glow";
    topics = [ ];
    sharedGroup = null;
    username = null;
    passwordFile = null;
    clientId = null;
    qos = 1;
    persistentSession = false;
    caFile = null;
    certFile = null;
    keyFile = null;
    timestamp = "meter";
    meterTags = false;
    logLevel = "warn";
    extraArgs = [ ];
  };
  evaluate = cfg:
    let
      m = import ../../nix/module.nix {
        inherit lib pkgs;
        config = {
          services.cadline = cfg;
          services.telegraf.extraConfig.outputs = { file = [ { files = [ "stdout" ]; } ]; };
        };
      };
      c = m.config.content;
    in
    {
      options = builtins.attrNames m.options.services.cadline;
      enabledWhen = m.config.condition;
      execd = c.services.telegraf.extraConfig.inputs.execd;
      telegrafEnabled = c.services.telegraf.enable;
      credentials = c.systemd.services.telegraf.serviceConfig.LoadCredential;
      assertions = map (a: a.assertion) c.assertions;
    };
in
{
  everything = evaluate everything;
  minimal = evaluate minimal;
}
