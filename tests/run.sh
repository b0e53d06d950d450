#!/usr/bin/env bash
# The project's test command: installs what the tests need on a fresh
# Debian/Ubuntu machine when it is missing, then runs the whole suite.
#   mosquitto, mosquitto-clients  a real broker and its clients (MQTT tests)
#   influxdb                      a real InfluxDB 1.x (end-to-end test)
#   nix-bin                       nix-instantiate, to parse the Nix files
#   openssl                       certificates for the TLS tests
#   libfaketime                   a shifted host clock (pipe mode clock test,
#                                 an expired certificate for the TLS tests)
#   tzdata                        Europe/London for InfluxDB's tz() (the
#                                 dashboard's UK days)
#   man-db, dpkg-dev              `man -l` and dpkg-shlibdeps for the .deb
#                                 test (tests/deb.rs)
#   cargo-deb (pinned, built)     builds the .deb (.ci/build-deb), into the
#                                 ignored .tools/bin/ like Telegraf
#   telegraf (pinned, built)      a real Telegraf running cadline as an execd
#                                 input, built from its Go module into the
#                                 ignored .tools/bin/ (a test tool only:
#                                 users bring their own Telegraf)
# Tests never skip: without these they fail and name the install command.
# `tests/run.sh --tools-only` installs the tools and runs no test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
command -v influxd >/dev/null || need+=(influxdb)
command -v nix-instantiate >/dev/null || need+=(nix-bin)
command -v openssl >/dev/null || need+=(openssl)
compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null || need+=(libfaketime)
[ -e /usr/share/zoneinfo/Europe/London ] || need+=(tzdata)
command -v man >/dev/null || need+=(man-db)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)

if [ "${#need[@]}" -gt 0 ]; then
  echo "Installing test dependencies: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The Telegraf the execd contract is checked against, with only the plugins
# the tests use (the `custom` tag leaves every other plugin out). About two
# minutes to build on two cores; reused while its version matches the pin.
TELEGRAF_VERSION=1.39.3
TELEGRAF_TAGS=custom,inputs.execd,inputs.mqtt_consumer,inputs.internal,parsers.influx,parsers.json_v2,outputs.influxdb,outputs.file,serializers.influx
TOOLS="$PWD/.tools"
telegraf="$TOOLS/bin/telegraf"
if [ -x "$telegraf" ] && "$telegraf" --version 2>/dev/null | grep -qx "Telegraf $TELEGRAF_VERSION.*"; then
  :
else
  go=$(command -v go || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; } || true)
  if [ -z "$go" ]; then
    echo "tests/run.sh: Go is needed to build the pinned Telegraf $TELEGRAF_VERSION for the tests" >&2
    echo "  (Telegraf v$TELEGRAF_VERSION needs Go 1.26 or later: https://go.dev/doc/install)" >&2
    exit 1
  fi
  echo "Building Telegraf $TELEGRAF_VERSION into $TOOLS/bin (a test tool; about 2 minutes)"
  mkdir -p "$TOOLS/bin"
  CGO_ENABLED=0 GOBIN="$TOOLS/bin" "$go" install \
    -tags "$TELEGRAF_TAGS" \
    -ldflags "-X github.com/influxdata/telegraf/internal.Version=$TELEGRAF_VERSION" \
    "github.com/influxdata/telegraf/cmd/telegraf@v$TELEGRAF_VERSION"
  if ! "$telegraf" --version | grep -qx "Telegraf $TELEGRAF_VERSION.*"; then
    echo "tests/run.sh: $telegraf says '$("$telegraf" --version)', not Telegraf $TELEGRAF_VERSION" >&2
    exit 1
  fi
fi

# cargo-deb, which .ci/build-deb runs to make the Debian package that
# tests/deb.rs installs. About 3 minutes to build on two cores (measured
# under load: see the README's Tests section); reused while its version
# matches the pin.
CARGO_DEB_VERSION=3.8.0
if ! "$TOOLS/bin/cargo-deb" --version 2>/dev/null | grep -qx "cargo-deb $CARGO_DEB_VERSION"; then
  echo "Building cargo-deb $CARGO_DEB_VERSION into $TOOLS/bin (a packaging tool)"
  cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --root "$TOOLS"
fi

if [ "${1:-}" = "--tools-only" ]; then
  exit 0
fi

# The Debian packages start their own mosquitto/influxd services on the
# default ports; the tests start private ones on free loopback ports and do
# not need them, but leave them alone.
exec cargo test --release "$@"
