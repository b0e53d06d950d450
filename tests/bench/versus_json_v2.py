#!/usr/bin/env python3
"""cadline beside the mqtt_consumer + json_v2 setup it replaces, in the same
Telegraf build, on the same published stream: what each costs. Run through
tests/bench/versus_json_v2.sh, which builds what it needs; prints markdown.

For each row a private Mosquitto (max_queued_messages 0) gets a persistent
session for the row's client id, then MESSAGES QoS 1 messages are queued for
it (a realistic mix: electricity and gas for HOMES homes, every 10 s; the gas
reading repeats for 30 minutes), then Telegraf starts and drains the queue
into outputs.file. From Telegraf's start to the last line out (start-up
included, a fraction of a second): CPU seconds (user + system, Telegraf and
cadline summed, from /proc), the rate, and each process's peak RSS (VmHWM)
at the end.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MESSAGES = int(os.environ.get("MESSAGES", "100000"))
HOMES = int(os.environ.get("HOMES", "20"))
INFLIGHT_MESSAGES = int(os.environ.get("INFLIGHT_MESSAGES", "400"))
TELEGRAF = os.environ.get("CADLINE_TELEGRAF", os.path.join(ROOT, ".tools/bin/telegraf"))
CADLINE = os.path.join(ROOT, "target/release/cadline")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
TICK = os.sysconf("SC_CLK_TCK")
DAY = 1_772_323_200  # 2026-03-01T00:00:00Z


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def stream(n):
    """(topic, payload) pairs: per home, one electricity and one gas message
    every 10 s; gas carries its half-hourly reading's time."""
    out = []
    i = 0
    while len(out) < n:
        t = DAY + i * 10
        for h in range(HOMES):
            dev = f"0A1B2C3D{h:04X}"
            wh = 8_000_000 + i * 3
            out.append((f"energy/{dev}/SENSOR/electricitymeter",
                        '{"electricitymeter":{"timestamp":"%s","energy":{"export":{"cumulative":0.000,"units":"kWh"},'
                        '"import":{"cumulative":%.3f,"day":%.3f,"week":41.5,"month":187.25,"units":"kWh","mpan":"1900012345678",'
                        '"supplier":"Acme Power","price":{"unitrate":0.2451,"standingcharge":0.5322}}},'
                        '"power":{"value":%.3f,"units":"kW"}}}' % (utc(t), wh / 1000, (i * 3) / 1000, (i * 37 % 5000) / 1000)))
            g = i // 180
            out.append((f"energy/{dev}/SENSOR/gasmeter",
                        '{"gasmeter":{"timestamp":"%s","energy":{"import":{"cumulative":%.3f,"day":%.3f,"week":80,"month":301,'
                        '"units":"kWh","cumulativevol":%.3f,"cumulativevolunits":"m3","dayvol":1,"weekvol":80,"monthvol":301,'
                        '"dayweekmonthvolunits":"kWh","mprn":"---","supplier":"---","price":{"unitrate":0.0621,"standingcharge":0.3105}}}}}'
                        % (utc(DAY + g * 1800), 20000 + g * 1.125, g * 1.125, 1800 + g * 0.125)))
        i += 1
    return out[:n]


class Broker:
    def __init__(self, d, inflight):
        self.port = free_port()
        self.dir = d
        with open(os.path.join(d, "mosquitto.conf"), "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nuser root\nallow_anonymous true\n"
                    f"max_queued_messages 0\nmax_inflight_messages {inflight}\n")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", os.path.join(d, "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("mosquitto did not listen")

    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"

    def session(self, client_id, topic):
        """Creates a persistent session (clean session off) subscribed to topic."""
        subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-i", client_id,
                        "-c", "-q", "1", "-t", topic, "-W", "1"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def publish(self, msgs):
        by_topic = {}
        for t, p in msgs:
            by_topic.setdefault(t, []).append(p)
        for t, ps in by_topic.items():
            for k in range(0, len(ps), 10000):
                subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1", "-t", t, "-l"],
                               input=("\n".join(ps[k:k + 10000]) + "\n").encode(), check=True)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except OSError:
        return 0.0


def hwm_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid):
    """Children of every thread of pid (Go starts them from any thread)."""
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return 0


AGENT = """[agent]
  interval = "10s"
  flush_interval = "10s"
  omit_hostname = true
  skip_processors_after_aggregators = true
{buffer}
"""


def run(name, inputs, buffer, inflight, n, client_id, timeout=600):
    d = tempfile.mkdtemp(prefix="cadline-versus-")
    try:
        broker = Broker(d, inflight)
        topic = "energy/+/SENSOR/+"
        broker.session(client_id, topic)
        broker.publish(stream(n))
        out = os.path.join(d, "out.lp")
        buf = ""
        if buffer == "disk":
            buf = f'  buffer_strategy = "disk"\n  buffer_directory = "{d}/buffer"'
        conf = AGENT.format(buffer=buf) + inputs(broker.url(), client_id) + \
            f'\n[[outputs.file]]\n  files = ["{out}"]\n  data_format = "influx"\n'
        with open(os.path.join(d, "telegraf.conf"), "w") as f:
            f.write(conf)
        log = open(os.path.join(d, "telegraf.log"), "w")
        tg = subprocess.Popen([TELEGRAF, "--strict-env-handling", "--config", os.path.join(d, "telegraf.conf")],
                              stdout=log, stderr=log)
        start = time.time()
        pids = [tg.pid]
        got = 0
        while got < n and time.time() - start < timeout:
            time.sleep(0.05)
            pids = [tg.pid] + children(tg.pid)
            got = count_lines(out)
        last = (time.time(), got, sum(cpu(p) for p in pids))
        rss = [hwm_mib(p) for p in pids]
        tg.terminate()
        tg.wait(30)
        log.close()
        broker.stop()
        if got < n:
            return dict(name=name, ok=False, got=got, n=n)
        return dict(name=name, ok=True, got=got, n=n,
                    rate=got / (last[0] - start),
                    cpu100k=last[2] * 100000 / got,
                    rss=rss)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def json_v2_input(url, client_id):
    with open(os.path.join(ROOT, "tests/bench/mqtt_consumer_json_v2.conf")) as f:
        return f.read().replace("@BROKER@", url.replace("mqtt://", "tcp://")).replace("@CLIENT_ID@", client_id)


def cadline_input(ack_delay):
    def make(url, client_id):
        cmd = [CADLINE, "--broker", url, "--prefix", "energy", "--persistent-session",
               "--client-id", client_id, "--ack-delay", ack_delay]
        return ("[[inputs.execd]]\n  command = [%s]\n  signal = \"none\"\n  restart_delay = \"10s\"\n"
                "  data_format = \"influx\"\n" % ", ".join(f'"{c}"' for c in cmd))
    return make


def main():
    for tool, hint in ((TELEGRAF, "run tests/run.sh --tools-only"), (CADLINE, "cargo build --release")):
        if not os.path.exists(tool):
            raise SystemExit(f"{tool} missing: {hint}")
    rows = [
        ("Telegraf + mqtt_consumer/json_v2 (QoS 1, persistent session, memory buffer)",
         json_v2_input, "memory", INFLIGHT_MESSAGES, MESSAGES, "bench-json-v2"),
        ("Telegraf + cadline, shipped: disk buffer, `--ack-delay 1`",
         cadline_input("1"), "disk", INFLIGHT_MESSAGES, MESSAGES, "bench-cadline"),
        ("Telegraf + cadline, memory buffer, `--ack-delay 0`",
         cadline_input("0"), "memory", INFLIGHT_MESSAGES, MESSAGES, "bench-cadline-mem"),
        ("Telegraf + cadline, shipped, Mosquitto's default `max_inflight_messages 20`",
         cadline_input("1"), "disk", 20, min(MESSAGES, 1200), "bench-cadline-20"),
    ]
    print(f"- {time.strftime('%F %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"load before {open('/proc/loadavg').read().split()[0]}; "
          f"`{subprocess.run([TELEGRAF, '--version'], capture_output=True, text=True).stdout.strip()}`; "
          f"MESSAGES={MESSAGES} HOMES={HOMES} INFLIGHT_MESSAGES={INFLIGHT_MESSAGES}")
    print()
    print("Command: `tests/bench/versus_json_v2.sh` (each row drains a queue of QoS 1 messages from one Mosquitto into outputs.file)")
    print()
    print("| setup | messages | drained msgs/s | CPU s per 100 000 messages (Telegraf + cadline) | peak RSS, MiB (Telegraf; cadline) |")
    print("|---|---:|---:|---:|---:|")
    for name, inputs, buffer, inflight, n, cid in rows:
        r = run(name, inputs, buffer, inflight, n, cid)
        if not r["ok"]:
            print(f"| {name} | {r['got']}/{r['n']} (timed out) | | | |")
            continue
        rss = "; ".join(f"{x:.1f}" for x in r["rss"])
        note = f" (max_inflight_messages {inflight})" if inflight == 20 else ""
        print(f"| {name}{note} | {n} | {r['rate']:.0f} | {r['cpu100k']:.2f} | {rss} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
