#!/usr/bin/env python3
"""cadline beside the mqtt_consumer + json_v2 setup it replaces: one run, one
table, every row in the same Telegraf build at Telegraf's default agent
settings (10 s flush, batches of 1000, a buffer of 10 000 metrics; only what
a row's name says is changed), each with its own real Mosquitto and real
InfluxDB on free loopback ports in temporary directories. Run through
tests/bench/versus_json_v2.sh, which builds what it needs; prints markdown.

Each row runs three phases, each with a fresh Telegraf:
- burst: Telegraf connects once (the persistent session), stops; BACKLOG
  messages (electricity and gas for HOMES homes, QoS 1) are queued at the
  broker; Telegraf starts again and the broker replays them. Measured from
  that start (Telegraf's start-up included) to the moment every electricity
  reading is in InfluxDB.
- paced: Telegraf is started and connected; PACED_RATE messages/s of the
  same mix are published live for PACED_SECONDS; measured from the first
  publish to the moment every electricity reading is in InfluxDB.
- faults: 10 readings/s published for about 30 s while Telegraf is
  SIGKILLed twice, InfluxDB stopped for 6 s with a Telegraf SIGKILL in the
  middle, Mosquitto SIGKILLed (after a pause in publishing, as in
  tests/telegraf.rs, so the broker's own autosave is not what is counted)
  and cadline SIGKILLed (cadline rows); the same fixed schedule for every
  row. Then the distinct readings InfluxDB holds.

CPU is user + system time from /proc/PID/stat, Telegraf (all its threads,
not its children) and cadline (each cadline process Telegraf ran) apart;
peak RSS is VmHWM of each at the end of the phase. The broker queues
without limit (max_queued_messages 0), queues QoS 0 for offline sessions
(queue_qos0_messages true, so json_v2 at QoS 0 has a backlog to replay)
and has no in-flight limit (max_inflight_messages 0, as the README asks of
a broker that replays backlogs); it saves its sessions every second.
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKLOG = int(os.environ.get("BACKLOG", "30000"))
HOMES = int(os.environ.get("HOMES", "20"))
PACED_RATE = int(os.environ.get("PACED_RATE", "500"))
PACED_SECONDS = int(os.environ.get("PACED_SECONDS", "20"))
ONLY = os.environ.get("ROWS", "")  # comma-separated row keys, for trying one
TELEGRAF = os.environ.get("CADLINE_TELEGRAF", os.path.join(ROOT, ".tools/bin/telegraf"))
CADLINE = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release/cadline")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"
TICK = os.sysconf("SC_CLK_TCK")
DAY = 1_772_323_200  # 2026-03-01T00:00:00Z
STALL = 30  # seconds without a new point once publishing ended: give up


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port}")


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def stream(n, first=0):
    """(topic, payload) pairs: per home, one electricity and one gas message
    every 10 s; gas carries its half-hourly reading's time. Tick `first`
    onwards, so the paced phase's readings differ from the burst's."""
    out = []
    i = first
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


def fault_reading(seq):
    """One home's electricity reading: cumulative = seq, meter time seq s in."""
    return ("energy/0A1B2C3DFA17/SENSOR/electricitymeter",
            '{"electricitymeter":{"timestamp":"%s","energy":{"import":{"cumulative":%d,"units":"kWh"}},'
            '"power":{"value":0.5,"units":"kW"}}}' % (utc(DAY + 5_000_000 + seq), seq))


# --- a minimal MQTT 3.1.1 QoS 1 publisher (no client library needed) -------

def varint(n):
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


class Publisher:
    """Publishes batches at QoS 1 and returns once the broker acknowledged
    every message of the batch; a batch that fails (broker down) is sent
    again on a new connection, so what `send` returned for reached the broker."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.pkid = 0

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), 2)
        s.settimeout(5)
        body = utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + utf8(f"bench-pub-{os.getpid()}")
        s.sendall(b"\x10" + varint(len(body)) + body)
        if self.read_packet(s)[0] >> 4 != 2:
            raise OSError("no CONNACK")
        self.sock = s

    @staticmethod
    def read_exact(s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise OSError("closed")
            buf += chunk
        return buf

    def read_packet(self, s):
        head = self.read_exact(s, 1)[0]
        mult, length = 1, 0
        while True:
            b = self.read_exact(s, 1)[0]
            length += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        return head, self.read_exact(s, length)

    def send(self, msgs, give_up=None):
        while True:
            try:
                if self.sock is None:
                    self.connect()
                out, want = bytearray(), set()
                for topic, payload in msgs:
                    self.pkid = self.pkid % 65535 + 1
                    want.add(self.pkid)
                    body = utf8(topic) + struct.pack("!H", self.pkid) + payload.encode()
                    out += b"\x32" + varint(len(body)) + body
                self.sock.sendall(out)
                while want:
                    head, body = self.read_packet(self.sock)
                    if head >> 4 == 4:
                        want.discard(struct.unpack("!H", body[:2])[0])
                return True
            except OSError:
                if self.sock:
                    self.sock.close()
                self.sock = None
                if give_up and give_up():
                    return False
                time.sleep(0.2)

    def close(self):
        if self.sock:
            self.sock.close()


# --- the parts --------------------------------------------------------------

class Broker:
    def __init__(self, d):
        self.port = free_port()
        self.conf = os.path.join(d, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nuser root\nallow_anonymous true\n"
                    f"max_queued_messages 0\nmax_inflight_messages 0\nqueue_qos0_messages true\n"
                    f"persistence true\npersistence_location {d}/\nautosave_interval 1\n")
        self.start()

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, "mosquitto")

    def kill(self):
        self.proc.kill()
        self.proc.wait()


class Influx:
    def __init__(self, d):
        self.port, rpc = free_port(), free_port()
        self.conf = os.path.join(d, "influxdb.conf")
        with open(self.conf, "w") as f:
            f.write(f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n'
                    f'[meta]\n  dir = "{d}/meta"\n[data]\n  dir = "{d}/data"\n  wal-dir = "{d}/wal"\n'
                    f'  query-log-enabled = false\n[monitor]\n  store-enabled = false\n'
                    f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
                    f'[continuous_queries]\n  enabled = false\n')
        self.log = os.path.join(d, "influxd.log")
        self.start()

    def start(self):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([INFLUXD, "-config", self.conf], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=2)
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("influxd did not answer /ping")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)

    def query(self, q, db=None):
        args = {"q": q}
        if db:
            args["db"] = db
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/query?{urllib.parse.urlencode(args)}",
                                     method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def readings(self, db, span):
        """Distinct electricity readings with `cumulative` in the phase's
        span: distinct values per series (json_v2 stores a redelivered
        reading as a second point; a reading redelivered from an earlier
        phase is not counted)."""
        q = ("SELECT count(distinct(cumulative)) FROM electricitymeter "
             "WHERE cumulative >= %d AND cumulative < %d GROUP BY *" % span)
        try:
            res = self.query(q, db)
            return sum(s["values"][0][1] for s in res["results"][0].get("series", []))
        except (OSError, KeyError, IndexError, ValueError):
            return -1


def cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except OSError:
        return None


def hwm_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


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


class Telegraf:
    """A Telegraf on `conf`; remembers the last CPU and VmHWM seen of each
    cadline it ran, so a sample taken after one exits still counts it."""

    def __init__(self, conf, log):
        self.conf, self.log = conf, log
        self.cadlines = {}
        self.start()

    def start(self):
        self.t0 = time.time()
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([TELEGRAF, "--config", self.conf], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)

    def sample(self):
        for p in children(self.proc.pid):
            c, r = cpu(p), hwm_mib(p)
            if c is not None:
                self.cadlines[p] = (c, r)
        return cpu(self.proc.pid) or 0.0, hwm_mib(self.proc.pid) or 0.0

    def cadline(self):
        """(CPU seconds of every cadline so far, the largest VmHWM)."""
        if not self.cadlines:
            return None, None
        return sum(c for c, _ in self.cadlines.values()), max(r or 0 for _, r in self.cadlines.values())

    def wait_connected(self, n=1, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log) as f:
                if f.read().count("Connected") >= n:
                    return True
            time.sleep(0.1)
        return False

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self):
        self.proc.kill()
        self.proc.wait()


# The electricity `cumulative` of each phase's readings (kWh): the burst's
# from 8000, the paced phase's from 11000 (tick 1 000 000), the faults' are
# the sequence numbers.
SPANS = dict(burst=(7000, 10000), paced=(10000, 10 ** 9), faults=(0, 7000))


def wait_stored(influx, db, want, publishing_done, timeout):
    """Polls InfluxDB until `want` readings are stored or nothing new
    arrived for STALL s after publishing ended; (count, time of the last
    new count)."""
    got, last, last_at = 0, -1, time.time()
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = influx.readings(db, SPANS[db])
        if got != last:
            last, last_at = got, time.time()
        if got >= want:
            break
        if publishing_done() and time.time() - last_at > STALL:
            break
        time.sleep(0.25)
    return max(got, 0), last_at


# --- the rows -----------------------------------------------------------------

def json_v2_input(qos):
    def make(broker_port, client_id):
        with open(os.path.join(ROOT, "tests/bench/mqtt_consumer_json_v2.conf")) as f:
            text = f.read()
        if qos == 0:
            text = text.replace("  qos = 1\n", "  qos = 0\n")
        return (text.replace("@BROKER@", f"tcp://127.0.0.1:{broker_port}")
                .replace("@CLIENT_ID@", client_id))
    return make


def shipped_execd(text, broker_port, client_id):
    """The first uncommented execd block of a shipped file, with this run's
    binary, broker, prefix and client id."""
    out = []
    for line in text.splitlines():
        if line.lstrip().startswith("command = [") and "/usr/local/bin/cadline" in line:
            line = (line.replace('"/usr/local/bin/cadline"', f'"{CADLINE}"')
                    .replace('"mqtt://localhost:1883"', f'"mqtt://127.0.0.1:{broker_port}"')
                    .replace('"--prefix", "glow"', '"--prefix", "energy"')
                    .replace('"cadline-{hostname}"', f'"{client_id}"'))
            assert CADLINE in line and str(broker_port) in line, line
        out.append(line)
    return "\n".join(out) + "\n"


def cadline_memory(broker_port, client_id):
    with open(os.path.join(ROOT, "telegraf/cadline.conf")) as f:
        return shipped_execd(f.read(), broker_port, client_id)


def output(influx, db):
    return f'\n[[outputs.influxdb]]\n  urls = ["http://127.0.0.1:{influx.port}"]\n  database = "{db}"\n'


def config(row, d, broker, influx, db, client_id):
    """The whole telegraf.conf of a row."""
    key = row["key"]
    if key.startswith("json"):
        return row["input"](broker.port, client_id) + output(influx, db)
    if key == "memory":
        # Telegraf's defaults: no [agent] table. Only cadline.conf added.
        return cadline_memory(broker.port, client_id) + output(influx, db)
    # The shipped telegraf.conf: its agent table, its execd, our output.
    with open(os.path.join(ROOT, "telegraf/telegraf.conf")) as f:
        text = f.read()
    text = shipped_execd(text, broker.port, client_id)
    text = text.replace('"/var/lib/telegraf/buffer"', f'"{d}/buffer"')
    text = text.replace('  buffer_strategy = "disk"\n', '  buffer_strategy = "disk"\n' + row.get("agent", ""))
    head, sep, _ = text.partition("[[outputs.influxdb]]")
    assert sep, "telegraf.conf has no outputs.influxdb"
    return head + output(influx, db)


ROWS = [
    dict(key="json0", name="mqtt_consumer + json_v2, QoS 0, persistent session", input=json_v2_input(0)),
    dict(key="json1", name="mqtt_consumer + json_v2, QoS 1, persistent session (baseline)", input=json_v2_input(1)),
    dict(key="memory", name="cadline, memory buffer (Telegraf's defaults + cadline.conf)"),
    dict(key="disk", name="cadline, disk buffer (the shipped telegraf.conf)"),
    dict(key="disk-nosync", name="cadline, disk buffer, `buffer_disk_sync = false`",
         agent="  buffer_disk_sync = false\n"),
    dict(key="disk-batch", name="cadline, disk buffer, `metric_batch_size = 5000`",
         agent="  metric_batch_size = 5000\n"),
]


def burst(row, d, broker, influx):
    db, cid = "burst", f"bench-{row['key']}-burst"
    influx.query(f"CREATE DATABASE {db}")
    conf = os.path.join(d, "burst.conf")
    with open(conf, "w") as f:
        f.write(config(row, d, broker, influx, db, cid))
    tg = Telegraf(conf, os.path.join(d, "burst.log"))
    if not tg.wait_connected():
        raise SystemExit(f"{row['key']}: did not connect:\n" + open(tg.log).read()[-3000:])
    time.sleep(0.5)
    tg.stop()
    msgs = stream(BACKLOG)
    want = sum(1 for t, _ in msgs if t.endswith("electricitymeter"))
    pub = Publisher(broker.port)
    for k in range(0, len(msgs), 500):
        pub.send(msgs[k:k + 500])
    pub.close()
    tg.cadlines = {}
    tg.start()
    done = threading.Event()

    def sample():
        while not done.is_set():
            tg.sample()
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    got, last_at = wait_stored(influx, db, want, lambda: True, 300)
    done.set()
    sampler.join()
    t_cpu, t_rss = tg.sample()
    c_cpu, c_rss = tg.cadline()
    tg.stop()
    log = open(tg.log).read()
    return dict(want=want, got=got, rate=BACKLOG / max(last_at - tg.t0, 0.001),
                tcpu=t_cpu * 100_000 / BACKLOG, ccpu=None if c_cpu is None else c_cpu * 100_000 / BACKLOG,
                trss=t_rss, crss=c_rss, overflow=log.count("buffer overflow"))


def paced(row, d, broker, influx):
    db, cid = "paced", f"bench-{row['key']}-paced"
    influx.query(f"CREATE DATABASE {db}")
    conf = os.path.join(d, "paced.conf")
    with open(conf, "w") as f:
        f.write(config(row, d, broker, influx, db, cid))
    # A session of its own: the burst's held acks were never sent, and
    # its redeliveries would be counted here.
    tg = Telegraf(conf, os.path.join(d, "paced.log"))
    if not tg.wait_connected():
        raise SystemExit(f"{row['key']}: did not connect")
    time.sleep(2)
    t_cpu0, _ = tg.sample()
    c_cpu0 = tg.cadline()[0] or 0.0
    n = PACED_RATE * PACED_SECONDS
    msgs = stream(n, first=1_000_000)
    want = sum(1 for t, _ in msgs if t.endswith("electricitymeter"))
    pub = Publisher(broker.port)
    t0 = time.time()
    step = max(PACED_RATE // 20, 1)  # every 50 ms
    for k in range(0, n, step):
        pub.send(msgs[k:k + step])
        pause = t0 + (k + step) / PACED_RATE - time.time()
        if pause > 0:
            time.sleep(pause)
        if k % (step * 10) == 0:
            tg.sample()
    published_at = time.time()
    pub.close()
    got, last_at = wait_stored(influx, db, want, lambda: True, 120)
    t_cpu, t_rss = tg.sample()
    c_cpu, c_rss = tg.cadline()
    tg.stop()
    return dict(want=want, got=got, rate=n / (published_at - t0), lag=last_at - published_at,
                tcpu=(t_cpu - t_cpu0) * 100_000 / n,
                ccpu=None if c_cpu is None else (c_cpu - c_cpu0) * 100_000 / n,
                trss=t_rss, crss=c_rss)


def faults(row, d, broker, influx):
    """The fixed fault schedule; returns (published, stored, timeline)."""
    db, cid = "faults", f"bench-{row['key']}-faults"
    influx.query(f"CREATE DATABASE {db}")
    conf = os.path.join(d, "faults.conf")
    with open(conf, "w") as f:
        f.write(config(row, d, broker, influx, db, cid))
    tg = Telegraf(conf, os.path.join(d, "faults.log"))
    if not tg.wait_connected():
        raise SystemExit(f"{row['key']}: did not connect")
    t0 = time.time()
    timeline = []
    state = dict(published=0, stop=False, pause=False)

    def event(what):
        timeline.append(f"{time.time() - t0:.1f}s {what} (published {state['published']})")

    def publish():
        pub = Publisher(broker.port)
        seq = 1
        while not state["stop"]:
            if state["pause"]:
                time.sleep(0.05)
                continue
            start = time.time()
            if pub.send([fault_reading(seq), fault_reading(seq + 1)], give_up=lambda: state["stop"]):
                state["published"] = seq + 1
                seq += 2
            time.sleep(max(0.0, 0.2 - (time.time() - start)))
        pub.close()

    publisher = threading.Thread(target=publish)
    publisher.start()

    def restart_telegraf(after):
        tg.kill()
        event("Telegraf SIGKILLed")
        time.sleep(after)
        tg.start()

    time.sleep(3)
    restart_telegraf(1.0)
    time.sleep(4)
    influx.stop()
    event("InfluxDB stopped")
    time.sleep(3)
    restart_telegraf(0.5)
    time.sleep(3)
    influx.start()
    event("InfluxDB started")
    time.sleep(3)
    state["pause"] = True
    time.sleep(2.6)
    broker.kill()
    event("Mosquitto SIGKILLed")
    state["pause"] = False
    time.sleep(0.5)
    broker.start()
    event("Mosquitto started")
    time.sleep(3)
    restart_telegraf(1.0)
    time.sleep(3)
    if not row["key"].startswith("json"):
        for p in children(tg.proc.pid):
            os.kill(p, signal.SIGKILL)
        event("cadline SIGKILLed")
    time.sleep(3)
    state["stop"] = True
    publisher.join()
    published = state["published"]
    event("publishing stopped")
    got, _ = wait_stored(influx, db, published, lambda: True, 90)
    tg.stop()
    return published, got, timeline


def run_row(row):
    d = tempfile.mkdtemp(prefix=f"cadline-versus-{row['key']}-")
    broker = influx = None
    try:
        for sub in ("mq", "influx"):
            os.makedirs(os.path.join(d, sub))
        broker = Broker(os.path.join(d, "mq"))
        influx = Influx(os.path.join(d, "influx"))
        b = burst(row, d, broker, influx)
        print(f"  {row['key']} burst: {b}", file=sys.stderr, flush=True)
        p = paced(row, d, broker, influx)
        print(f"  {row['key']} paced: {p}", file=sys.stderr, flush=True)
        f = faults(row, d, broker, influx)
        print(f"  {row['key']} faults: {f[0]} published, {f[1]} stored\n    " + "\n    ".join(f[2]),
              file=sys.stderr, flush=True)
        return b, p, f
    finally:
        for part in (broker, influx):
            try:
                part and part.proc.poll() is None and part.proc.kill()
            except OSError:
                pass
        shutil.rmtree(d, ignore_errors=True)


def fmt(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def main():
    for tool, hint in ((TELEGRAF, "run tests/run.sh --tools-only"), (CADLINE, "cargo build --release")):
        if not os.path.exists(tool):
            raise SystemExit(f"{tool} missing: {hint}")
    rows = [r for r in ROWS if not ONLY or r["key"] in ONLY.split(",")]
    load = open("/proc/loadavg").read().split()[0]
    started = time.time()
    results = [(row, run_row(row)) for row in rows]
    base = next((v for row, v in results if row["key"] == "json1"), None)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    version = subprocess.run([TELEGRAF, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"- {time.strftime('%F %H:%M UTC', time.gmtime(started))}, commit {commit}, {os.cpu_count()} cores, "
          f"load before {load}, {time.time() - started:.0f} s in all; `{version}`; "
          f"BACKLOG={BACKLOG} HOMES={HOMES} PACED_RATE={PACED_RATE} PACED_SECONDS={PACED_SECONDS}")
    print()

    def total(r):
        return r["tcpu"] + (r["ccpu"] or 0.0)

    for phase, title in ((0, f"Burst: a backlog of {BACKLOG} messages replayed after an outage"),
                         (1, f"Paced: {PACED_RATE} messages/s live for {PACED_SECONDS} s")):
        print(f"**{title}**")
        print()
        rate_head = "drained msgs/s" if phase == 0 else "published msgs/s; all stored within"
        print(f"| setup | {rate_head} | CPU s / 100 000 msgs: Telegraf | cadline | total | ratio to json_v2 QoS 1 "
              f"| peak RSS MiB: Telegraf | cadline | electricity readings stored |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        ref = total(base[phase]) if base else None
        for row, res in results:
            r = res[phase]
            rate = f"{r['rate']:.0f}" if phase == 0 else f"{r['rate']:.0f}; {r['lag']:.1f} s"
            ratio = f"{total(r) / ref:.2f}×" if ref else "–"
            extra = f" ({r['overflow']} overflow warnings)" if phase == 0 and r.get("overflow") else ""
            print(f"| {row['name']} | {rate} | {fmt(r['tcpu'])} | {fmt(r['ccpu'])} | {total(r):.2f} | {ratio} "
                  f"| {fmt(r['trss'], 1)} | {fmt(r['crss'], 1)} | {r['got']} of {r['want']}{extra} |")
        print()
    print("**Faults**: 10 readings/s for about 30 s; Telegraf SIGKILLed, InfluxDB stopped for 6 s with a "
          "Telegraf SIGKILL in the middle, Mosquitto SIGKILLed, Telegraf SIGKILLed, cadline SIGKILLed "
          "(cadline rows); the same schedule for every row")
    print()
    print("| setup | published | distinct readings stored | lost |")
    print("|---|---:|---:|---:|")
    for row, (_, _, (published, got, _)) in results:
        print(f"| {row['name']} | {published} | {got} | {published - got} |")


if __name__ == "__main__":
    main()
