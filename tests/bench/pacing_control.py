#!/usr/bin/env python3
"""The control for cadline's pacing: the same backlog replay through the
real Telegraf at its defaults, with cadline's default pacing and with
`--pace 0`, beside each other, to show that the pacing is what keeps the
readings.

Each run: a private Mosquitto (persistent, no queue or in-flight limit, as
the README asks for replays), a persistent session made with cadline's
client id, N electricity readings queued in it at QoS 1 while nobody is
connected, then the real Telegraf (.tools/bin/telegraf, v1.39.3) started
with no [agent] table (memory buffer of 10 000 metrics, 10 s flush), only
an execd running cadline as the shipped cadline.conf does, and one
outputs.influxdb to a private InfluxDB 1.x. It reports the readings stored,
Telegraf's "Metric buffer overflow" warnings and what they dropped, and
the time from Telegraf's start to the last reading stored. Runs alternate
between the settings, ROUNDS times (default 1). The third row keeps
Mosquitto's default `max_inflight_messages 20`: cadline holds each
acknowledgement until Telegraf's flush, so at first only 20 readings flow
in the 12 s they are held. The fourth is the same over MQTT 5, where
Mosquitto 2.0 uses the client's Receive Maximum as its in-flight limit.

    python3 tests/bench/pacing_control.py 50000

CADLINE_BIN (default target/release/cadline) and CADLINE_TELEGRAF choose
the binaries.
"""
import os, shutil, signal, subprocess, sys, tempfile, time

from telegraf_drain import ROOT, TELEGRAF, count, free_port, query, start_influx

TOPIC = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter"
CLIENT_ID = "cadline-pacing-control"
# (row, cadline's extra flags, Mosquitto's max_inflight_messages)
SETTINGS = [
    ("default pacing", [], 0),
    ("--pace 0", ["--pace", "0"], 0),
    ("default pacing, max_inflight_messages 20", [], 20),
    # With MQTT 5 Mosquitto takes cadline's Receive Maximum in its place.
    ("default pacing, max_inflight_messages 20, --mqtt-version 5", ["--mqtt-version", "5"], 20),
]
# When the "stored" column is read: before the first acknowledgement falls
# due by time (12 s after it was written, at Telegraf's defaults).
EARLY = 11.0


def reading(seq):
    """tests/telegraf.rs's reading(): cumulative = seq, meter time seq s
    after 2026-03-01, so each is its own point."""
    d, s = divmod(seq, 86_400)
    return ('{"electricitymeter":{"timestamp":"2026-03-%02dT%02d:%02d:%02dZ",'
            '"energy":{"import":{"cumulative":%d,"units":"kWh"}},'
            '"power":{"value":0.5,"units":"kW"}}}'
            % (d + 1, s // 3600, s % 3600 // 60, s % 60, seq))


def mosquitto(d, inflight):
    port = free_port()
    conf = os.path.join(d, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\nuser root\n"
                "persistence true\npersistence_location %s/\n"
                "max_queued_messages 0\nmax_inflight_messages %d\n" % (port, d, inflight))
    broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", conf],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return broker, port


def queue_backlog(port, n):
    # The session cadline resumes: same client id, clean session off.
    subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-i", CLIENT_ID,
                    "-c", "-q", "1", "-t", "glow/#", "-E"], check=True, timeout=30)
    # In chunks: mosquitto_pub -l with far more QoS 1 messages than it can
    # have acknowledged is dropped by Mosquitto 2.0.11 (see tests/rig.rs).
    for start in range(1, n + 1, 10_000):
        lines = "".join(reading(q) + "\n" for q in range(start, min(start + 10_000, n + 1)))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", TOPIC,
                        "-q", "1", "-l"], input=lines.encode(), check=True, timeout=120)


def stored(influx_port, db):
    return count(influx_port, db, "cumulative", "electricitymeter")


def run(n, name, flags, inflight, influx_port, cadline, index):
    d = tempfile.mkdtemp(prefix="cadline-pacing-")
    db = "pacing%d" % index
    query(influx_port, "CREATE DATABASE %s" % db)
    broker, port = mosquitto(d, inflight)
    try:
        queue_backlog(port, n)
        command = [cadline, "--broker", "mqtt://127.0.0.1:%d" % port, "--prefix", "glow",
                   "--persistent-session", "--client-id", CLIENT_ID] + flags
        conf = os.path.join(d, "telegraf.conf")
        with open(conf, "w") as f:
            f.write('[[inputs.execd]]\n  command = [%s]\n  signal = "none"\n'
                    '  restart_delay = "10s"\n  data_format = "influx"\n\n'
                    '[[outputs.influxdb]]\n  urls = ["http://127.0.0.1:%d"]\n  database = "%s"\n'
                    % (", ".join('"%s"' % c for c in command), influx_port, db))
        log_path = os.path.join(d, "telegraf.log")
        with open(log_path, "w") as log:
            t0 = time.monotonic()
            tg = subprocess.Popen([TELEGRAF, "--config", conf], stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=log)
            # Until every reading is stored, or none was added for 25 s
            # (longer than two 10 s flushes), or three times what 900
            # lines/s would take has passed.
            got, grew = 0, time.monotonic()
            last, early = t0, None
            give_up = t0 + 3 * n / 900 + 60
            while got < n and time.monotonic() - grew < 25 and time.monotonic() < give_up:
                time.sleep(0.5)
                now = stored(influx_port, db)
                if early is None and time.monotonic() - t0 >= EARLY:
                    early = got
                if now > got:
                    got, grew, last = now, time.monotonic(), time.monotonic()
            early = got if early is None else early
            tg.send_signal(signal.SIGTERM)
            tg.wait(30)
        text = open(log_path).read()
        overflows = [l for l in text.splitlines() if "buffer overflow" in l]
        dropped = sum(int(l.split("; ")[1].split()[0]) for l in overflows)
        chose = [l.split("] ", 1)[1] for l in text.splitlines() if "] Telegraf: flush" in l]
        print("%s: stored %d of %d (%d after %.0f s), %d overflow warnings, %d dropped, "
              "last stored at %.1f s" % (name, got, n, early, EARLY, len(overflows), dropped,
                                         last - t0), flush=True)
        if chose:
            print("  cadline: " + chose[0], flush=True)
        return got, early, len(overflows), dropped, last - t0
    finally:
        broker.terminate()
        broker.wait(20)
        shutil.rmtree(d, ignore_errors=True)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    rounds = int(os.environ.get("ROUNDS", "1"))
    cadline = os.environ.get("CADLINE_BIN", os.path.join(ROOT, "target/release/cadline"))
    influx, influx_port, d = start_influx()
    rows = {name: [] for name, _, _ in SETTINGS}
    try:
        index = 0
        for _ in range(rounds):
            for name, flags, inflight in SETTINGS:
                index += 1
                rows[name].append(run(n, name, flags, inflight, influx_port, cadline, index))
    finally:
        influx.terminate()
        influx.wait(20)
        shutil.rmtree(d, ignore_errors=True)
    print("\n| cadline under Telegraf's defaults, %d-reading backlog | stored | stored "
          "after %.0f s | overflow warnings | dropped | last stored after |" % (n, EARLY))
    print("|---|---:|---:|---:|---:|---:|")
    for name, _, _ in SETTINGS:
        for got, early, warnings, dropped, took in rows[name]:
            print("| %s | %d | %d | %d | %d | %.1f s |"
                  % (name, got, early, warnings, dropped, took))


if __name__ == "__main__":
    main()
