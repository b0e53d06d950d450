#!/usr/bin/env python3
"""Where cadline's pacing figure comes from: the rate of line protocol an
execd input can write before Telegraf's DEFAULT memory buffer overflows.

Runs the real Telegraf (.tools/bin/telegraf, v1.39.3) with no [agent]
section at all (flush_interval 10s, metric_batch_size 1000,
metric_buffer_limit 10000, memory buffer) and one outputs.influxdb to a
private InfluxDB 1.x; its only input is an execd running this same script
in `emit` mode, which writes N distinct lines at a steady rate (no cadline
involved: this measures Telegraf and InfluxDB alone). For each rate it
reports the points stored and the "Metric buffer overflow" warnings.

    python3 tests/bench/telegraf_drain.py 50000 500 2000 8000 32000
"""
import json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request, urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


LINE = (b"drain,device=0A1B2C3D4E5F seq=%d,day=4.5,week=14.6,month=220.1,export.cumulative=0,"
        b"power=0.402,price.unitrate=0.245,price.standingcharge=0.521 %d\n")


def emit(n, rate):
    # Writes in slices of 10 ms so the rate is steady.
    out = sys.stdout.buffer
    t0, i = time.monotonic(), 0
    base = 1_772_323_200_000_000_000
    while i < n:
        due = int((time.monotonic() - t0) * rate) + 1
        chunk = []
        while i < min(due, n):
            i += 1
            # A line as cadline writes a real electricity reading: 8 fields.
            chunk.append(LINE % (i, base + i * 1_000_000_000))
        if chunk:
            out.write(b"".join(chunk))
            out.flush()
        time.sleep(0.01)
    sys.stderr.write("I! wrote %d lines in %.2f s\n" % (n, time.monotonic() - t0))
    sys.stderr.flush()
    # Stay alive (an exiting execd child is restarted) until stdin closes.
    sys.stdin.read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def query(port, q, db=None):
    args = {"q": q}
    if db:
        args["db"] = db
    url = "http://127.0.0.1:%d/query?%s" % (port, urllib.parse.urlencode(args))
    req = urllib.request.Request(url, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def count(port, db, field="seq", measurement="drain"):
    res = query(port, "SELECT count(%s) FROM %s" % (field, measurement), db)
    try:
        return res["results"][0]["series"][0]["values"][0][1]
    except (KeyError, IndexError):
        return 0


def run(n, rate, influx_port, telegraf):
    db = "drain%d" % rate
    d = tempfile.mkdtemp(prefix="cadline-drain-")
    conf = os.path.join(d, "telegraf.conf")
    with open(conf, "w") as f:
        f.write('[[inputs.execd]]\n  command = ["%s", "%s", "emit", "%d", "%d"]\n'
                '  signal = "none"\n  data_format = "influx"\n\n'
                '[[outputs.influxdb]]\n  urls = ["http://127.0.0.1:%d"]\n  database = "%s"\n'
                % (sys.executable, os.path.abspath(__file__), n, rate, influx_port, db))
    log = open(os.path.join(d, "telegraf.log"), "w")
    tg = subprocess.Popen([telegraf, "--strict-env-handling", "--config", conf],
                          stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    t0 = time.monotonic()
    deadline = t0 + n / rate + 40
    got = 0
    while time.monotonic() < deadline:
        time.sleep(2)
        try:
            got = count(influx_port, db)
        except Exception:
            continue
        if got >= n:
            break
    tg.terminate()
    tg.wait(20)
    text = open(os.path.join(d, "telegraf.log")).read()
    overflows = [l for l in text.splitlines() if "buffer overflow" in l]
    dropped = sum(int(l.split("; ")[1].split()[0]) for l in overflows)
    got = count(influx_port, db)
    took = [l.split("wrote ")[1] for l in text.splitlines() if "wrote %d lines" % n in l]
    print("rate %6d lines/s: stored %6d of %d, %2d overflow warnings, %6d dropped (%s)"
          % (rate, got, n, len(overflows), dropped, took[0] if took else "?"), flush=True)
    shutil.rmtree(d, ignore_errors=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "emit":
        emit(int(sys.argv[2]), int(sys.argv[3]))
        return
    n = int(sys.argv[1])
    rates = [int(r) for r in sys.argv[2:]]
    influx, port, d = start_influx()
    try:
        for rate in rates:
            run(n, rate, port, TELEGRAF)
    finally:
        influx.terminate()
        influx.wait(20)
        shutil.rmtree(d, ignore_errors=True)


TELEGRAF = os.environ.get("CADLINE_TELEGRAF", os.path.join(ROOT, ".tools/bin/telegraf"))


def start_influx():
    """A private InfluxDB 1.x, answering pings: (process, HTTP port, its directory)."""
    d = tempfile.mkdtemp(prefix="cadline-influx-")
    port, bind = free_port(), free_port()
    with open(os.path.join(d, "influxdb.conf"), "w") as f:
        f.write('reporting-disabled = true\nbind-address = "127.0.0.1:%d"\n'
                '[meta]\n  dir = "%s/meta"\n[data]\n  dir = "%s/data"\n  wal-dir = "%s/wal"\n'
                '[http]\n  bind-address = "127.0.0.1:%d"\n  log-enabled = false\n'
                % (bind, d, d, d, port))
    influx = subprocess.Popen(["influxd", "-config", os.path.join(d, "influxdb.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/ping" % port, timeout=1)
            break
        except Exception:
            time.sleep(0.2)
    return influx, port, d


if __name__ == "__main__":
    main()
