# Evaluates ../../nix/module.nix without nixpkgs: a stub `lib` with just the
# functions the module uses, a fake package, and configurations built from
# the module's own option defaults. tests/nix.rs reads the JSON this
# produces.
#
# Strict where the real module system is strict and a mistake would matter:
# every value set is checked against its option's type as nixpkgs checks it
# (an enum refuses qos = 2 and logLevel = "trace", `types.pathWith
# { inStore = false; }` refuses a store path or a path literal for
# passwordFile), an unknown option is an error, and `lib.getExe` wants a
# derivation, as nixpkgs' does.
#
# Arguments (nix-instantiate --arg):
#   override  options to set on top of `minimal`, evaluated as `custom`;
#   pathWith  false: a lib without `types.pathWith`, as nixpkgs before 25.05;
#   hostName  networking.hostName of the machine ("" is DHCP's).
{ override ? { }, pathWith ? true, hostName ? "meterbox" }:
let
  inherit (builtins) all elem isAttrs isBool isFloat isInt isList isString substring stringLength toJSON;
  hasPrefix = pre: s: substring 0 (stringLength pre) s == pre;
  type = description: check: { inherit description check; };
  types = {
    str = type "string" isString;
    bool = type "boolean" isBool;
    # nixpkgs: a derivation (or a store path).
    package = type "package" (x: isAttrs x && (x.type or null) == "derivation");
    # nixpkgs: anything coercible to a string that starts with "/".
    path = type "path" (x: (isString x || builtins.isPath x) && hasPrefix "/" (toString x));
    nullOr = t: type "null or ${t.description}" (x: x == null || t.check x);
    listOf = t: type "list of ${t.description}" (x: isList x && all t.check x);
    enum = xs: type "one of ${toJSON xs}" (x: elem x xs);
    addCheck = t: f: type t.description (x: t.check x && f x);
    ints = {
      between = lo: hi: type "integer between ${toString lo} and ${toString hi}" (x: isInt x && x >= lo && x <= hi);
      positive = type "positive integer" (x: isInt x && x > 0);
    };
    # nixpkgs: an int or a float in the range; "1s" and -1 are refused.
    numbers.between = lo: hi:
      type "integer or floating point number between ${toString lo} and ${toString hi} (both inclusive)"
        (x: (isInt x || isFloat x) && x >= lo && x <= hi);
  } // (if pathWith then {
    # nixpkgs 25.05: with inStore = false only a string (a path literal would
    # be copied into the store) outside the store.
    pathWith = { inStore, absolute }:
      type "absolute path, not in the Nix store" (x:
        isString x && (absolute -> hasPrefix "/" x)
        && (inStore == hasPrefix "${builtins.storeDir}/" x));
  } else { });
  lib = {
    inherit types hasPrefix;
    mkOption = a: a;
    mkEnableOption = d: { type = types.bool; default = false; description = d; };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkDefault = content: { _type = "override"; priority = 1000; inherit content; };
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    optional = c: x: if c then [ x ] else [ ];
    optionals = c: xs: if c then xs else [ ];
    concatMap = f: xs: builtins.concatLists (map f xs);
    filterNull = a: builtins.removeAttrs a (builtins.filter (n: a.${n} == null) (builtins.attrNames a));
    getExe = p:
      if isAttrs p && (p.type or null) == "derivation"
      then "${p.outPath}/bin/${p.meta.mainProgram}"
      else throw "lib.meta.getExe: The first argument is of type ${builtins.typeOf p}, but it should be a derivation instead.";
  };
  package = {
    type = "derivation";
    name = "cadline-0.1.0";
    outPath = "/nix/store/00000000000000000000000000000000-cadline-0.1.0";
    meta.mainProgram = "cadline";
  };
  pkgs = {
    callPackage = f: args: package;
  };
  module = config: import ../../nix/module.nix {
    inherit lib pkgs;
    config = config // { networking.hostName = hostName; };
  };
  # The option declarations, read once with an empty configuration.
  declared = (module { services.cadline = { }; services.telegraf.extraConfig = { }; }).options.services.cadline;
  # A definition as the module system merges it when nothing else defines
  # the same option: `mkIf false` drops it, `mkIf true` and `mkDefault`
  # give their content.
  resolve = v:
    if isAttrs v && (v._type or null) == "if" then (if v.condition then resolve v.content else null)
    else if isAttrs v && (v._type or null) == "override" then resolve v.content
    else if isAttrs v && (v.type or null) != "derivation" then
      lib.filterNull (builtins.mapAttrs (_: resolve) v)
    else v;
  # The attributes of a definition set with mkDefault (priority 1000).
  defaults = v:
    let s = if isAttrs v && (v._type or null) == "if" then (if v.condition then v.content else { }) else v; in
    builtins.filter (n: (s.${n}._type or null) == "override" && s.${n}.priority == 1000) (builtins.attrNames s);
  # What the module system does with a definition: unknown options and
  # values of the wrong type are errors naming the option; unset options
  # take their default.
  settle = defs:
    let
      unknown = builtins.filter (n: !(declared ? ${n})) (builtins.attrNames defs);
      value = n: o:
        let v = defs.${n} or o.default; in
        if o.type.check v then v
        else throw "The option `services.cadline.${n}' has a value that is not of type ${o.type.description}: ${show v}";
      # toJSON would copy a path literal into the store.
      show = v: if builtins.isPath v then "the path literal ${toString v}" else toJSON v;
    in
    if unknown != [ ] then throw "The option `services.cadline.${builtins.head unknown}' does not exist."
    else builtins.mapAttrs value declared;
  everything = {
    enable = true;
    package = package;
    broker = "mqtts://broker.lan:8883";
    prefix = "energy";
    topics = [ "energy/+/SENSOR/electricitymeter" ];
    sharedGroup = "cadline";
    username = "meter";
    passwordFile = "/run/secrets/mqtt-password";
    clientId = "cadline-1";
    qos = 1;
    ackDelay = 0.25;
    persistentSession = true;
    diskBuffer = true;
    caFile = "/etc/ssl/broker-ca.pem";
    certFile = "/etc/ssl/cadline.pem";
    keyFile = "/run/secrets/cadline.key";
    mqttVersion = "5";
    keepAlive = 30;
    maxMessageSize = 2000000;
    timestamp = "receive";
    meterTags = true;
    logLevel = "info";
    extraArgs = [ "--topic" "energy/+/STATE" ];
  };
  minimal = { enable = true; };
  evaluate = defs:
    let
      m = module {
        services.cadline = settle defs;
        services.telegraf.extraConfig.outputs = { file = [ { files = [ "stdout" ]; } ]; };
      };
      c = m.config.content;
    in
    {
      options = builtins.attrNames m.options.services.cadline;
      packageDefaultText = m.options.services.cadline.package.defaultText.text or null;
      enabledWhen = m.config.condition;
      execd = c.services.telegraf.extraConfig.inputs.execd;
      telegrafEnabled = c.services.telegraf.enable;
      credentials = c.systemd.services.telegraf.serviceConfig.LoadCredential;
      stateDirectory = c.systemd.services.telegraf.serviceConfig.StateDirectory;
      # The Telegraf agent settings the module gives, and which of them are
      # mkDefault (a user's own setting wins).
      agent = let a = resolve (c.services.telegraf.extraConfig.agent or { }); in if a == null then { } else a;
      agentDefaults = defaults (c.services.telegraf.extraConfig.agent or { });
      assertions = map (a: a.assertion) c.assertions;
      failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
    };
in
{
  everything = evaluate everything;
  minimal = evaluate minimal;
  custom = evaluate (minimal // override);
}
