#!/usr/bin/env bash
# The project's test command: installs what the tests need on a fresh
# Debian/Ubuntu machine when it is missing, then runs the whole suite.
#   mosquitto, mosquitto-clients  a real broker and its clients (MQTT tests)
#   influxdb                      a real InfluxDB 1.x (end-to-end test)
#   nix-bin                       nix-instantiate, to parse the Nix files
#   openssl                       certificates for the TLS tests
#   libfaketime                   a shifted host clock (pipe mode clock test,
#                                 an expired certificate for the TLS tests)
# Tests never skip: without these they fail and name the install command.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
command -v influxd >/dev/null || need+=(influxdb)
command -v nix-instantiate >/dev/null || need+=(nix-bin)
command -v openssl >/dev/null || need+=(openssl)
compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null || need+=(libfaketime)

if [ "${#need[@]}" -gt 0 ]; then
  echo "Installing test dependencies: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The Debian packages start their own mosquitto/influxd services on the
# default ports; the tests start private ones on free loopback ports and do
# not need them, but leave them alone.
exec cargo test --release "$@"
