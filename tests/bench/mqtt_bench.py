#!/usr/bin/env python3
"""cadline through a private Mosquitto on loopback, each figure beside its
baseline from the same run. Called by tests/bench/run.sh; prints markdown.

    python3 tests/bench/mqtt_bench.py target/release/cadline

- throughput at QoS 0 and 1: N messages published by one `mosquitto_pub -l`
  from a file; messages/s until the last line reaches the subscriber's stdout
  (cadline's lines, mosquitto_sub's payloads),
  beside `mosquitto_sub -C N` (the broker-side ceiling) and beside the
  publisher with nobody subscribed (what the publisher alone can do);
- time from start to subscribed (the "Connected to" line on stderr);
- CPU used while idle (utime + stime from /proc/PID/stat).

Latency is `cargo bench --bench latency` (a Rust publisher: a Python one
measured its own scheduling more than cadline).

Knobs (environment): MQTT_MESSAGES (200000), IDLE_SECONDS (60), STARTS (5).
"""
import os, shutil, socket, statistics, subprocess, sys, tempfile, threading, time

CADLINE = os.path.abspath(sys.argv[1])
N = int(os.environ.get("MQTT_MESSAGES", 200_000))
IDLE = float(os.environ.get("IDLE_SECONDS", 60))
STARTS = int(os.environ.get("STARTS", 5))
TOPIC = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter"
STALL_SECONDS = 10  # no new line for this long after publishing: give up


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def payload(seq):
    return ('{"electricitymeter":{"timestamp":"2026-03-01T11:59:50Z","energy":{"export":{"cumulative":0.000,'
            '"units":"kWh"},"import":{"cumulative":%d.125,"day":7.25,"week":41.205,"month":187.554,"units":"kWh",'
            '"mpan":"read pending","supplier":"---","price":{"unitrate":0.24510,"standingcharge":0.53220}}},'
            '"power":{"value":0.375,"units":"kW"}}}' % seq)


tmp = tempfile.mkdtemp(prefix="cadline-bench-")
port = free_port()
conf = os.path.join(tmp, "mosquitto.conf")
with open(conf, "w") as f:
    f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\nmax_queued_messages 0\n")
messages = os.path.join(tmp, "messages.txt")
with open(messages, "w") as f:
    f.writelines(payload(i + 1) + "\n" for i in range(N))
mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
broker = subprocess.Popen([mosquitto, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", port), 0.1).close()
        break
    except OSError:
        time.sleep(0.05)
BROKER = f"mqtt://127.0.0.1:{port}"


def pub_cmd(qos):
    return ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", str(qos), "-t", TOPIC, "-l"]


def wait_connected(proc, timeout=15):
    """Reads stderr until cadline says it is connected; then drains the rest
    in the background so a chatty stderr can never block it."""
    deadline = time.time() + timeout
    for line in proc.stderr:
        if "Connected to" in line.decode(errors="replace"):
            break
        if time.time() > deadline:
            raise SystemExit("cadline did not connect")
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()


def publish(qos, done=None):
    """Feeds the N messages to one `mosquitto_pub -l`. With `done`, its stdin
    stays open until the subscriber has them all: at QoS 1 mosquitto_pub
    drops what it still has queued when stdin ends (about two thirds of
    200 000 were lost that way, for mosquitto_sub and cadline alike)."""
    pub = subprocess.Popen(pub_cmd(qos), stdin=subprocess.PIPE)
    with open(messages, "rb") as f:
        shutil.copyfileobj(f, pub.stdin)
    pub.stdin.flush()
    if done is not None:
        done.wait(STALL_SECONDS + 600)
    pub.stdin.close()
    pub.wait()


def publisher_alone(qos):
    start = time.perf_counter()
    publish(qos)
    return N, time.perf_counter() - start, float("nan")


def receive(cmd, qos, ready):
    """Starts subscriber `cmd`, publishes the N messages, and returns how
    many lines reached its stdout and the seconds from the start of
    publishing to the last of them (giving up after STALL_SECONDS without a
    line, so a lost message shows as a count below N, not a hang)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready(proc)
    got = [0, time.perf_counter()]  # lines, time of the last one

    def count():
        for _ in proc.stdout:
            got[0] += 1
            got[1] = time.perf_counter()
            if got[0] >= N:
                break

    reader = threading.Thread(target=count, daemon=True)
    done = threading.Event()
    publisher = threading.Thread(target=publish, args=(qos, done))
    start = got[1] = time.perf_counter()
    reader.start()
    publisher.start()
    while reader.is_alive() and time.perf_counter() - got[1] < STALL_SECONDS:
        reader.join(0.1)
    elapsed = got[1] - start
    cpu = cpu_ticks(proc.pid) / os.sysconf("SC_CLK_TCK")
    done.set()
    publisher.join()
    proc.kill()
    proc.wait()
    return got[0], elapsed, cpu


def mosquitto_sub(qos):
    # mosquitto_sub prints nothing when subscribed: give it half a second.
    return receive(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "glow/#", "-q", str(qos),
                    "-C", str(N)], qos, lambda p: time.sleep(0.5))


def cadline(qos):
    def ready(proc):
        wait_connected(proc)
        time.sleep(0.3)  # "Connected to" is printed as the SUBSCRIBE goes out

    return receive([CADLINE, "--broker", BROKER, "--qos", str(qos), "--log-level", "info"], qos, ready)


rows = []
for qos in (0, 1):
    for name, cmd, run in (
        # At QoS 1 the publisher alone cannot be timed: it drops its queue at EOF.
        *((("publisher alone, nobody subscribed", " ".join(pub_cmd(qos)) + " < messages.txt", publisher_alone),) if qos == 0 else ()),
        (f"`mosquitto_sub` (broker-side ceiling)", f"mosquitto_sub -t 'glow/#' -q {qos} -C {N}, lines counted on stdout", mosquitto_sub),
        (f"**`cadline`**", f"cadline --broker {BROKER} --qos {qos} --log-level info, lines counted on stdout", cadline),
    ):
        got, secs, cpu = run(qos)
        rows.append((qos, name, cmd, got, secs, cpu))

print(f"| through Mosquitto on loopback, {N} messages from one `mosquitto_pub -l` | QoS | received | messages/s | of `mosquitto_sub` | subscriber CPU s per 100 000 (utime + stime) | command |")
print("|---|---:|---:|---:|---:|---:|---|")
for qos in (0, 1):
    ceiling = next(g / s for q, n, _, g, s, _c in rows if q == qos and "mosquitto_sub" in n)
    for q, name, cmd, got, secs, cpu in rows:
        if q == qos:
            rate = got / secs if got > 0 and secs > 0 else float("nan")
            per = cpu * 100_000 / got if got > 0 else float("nan")
            print(f"| {name} | {q} | {got} | {rate:,.0f} | {100 * rate / ceiling:.0f} % | {per:.2f} | `{cmd}` |")

# Start to subscribed, then idle CPU on the last start.
starts = []
for i in range(STARTS):
    t = time.perf_counter()
    # /dev/null opened write-only, as a shell's `> /dev/null` does:
    # subprocess.DEVNULL opens it read-write, which cadline refuses in MQTT
    # mode as what a closed stdout becomes.
    p = subprocess.Popen([CADLINE, "--broker", BROKER, "--log-level", "info"], stdin=subprocess.PIPE,
                         stdout=open(os.devnull, "wb"), stderr=subprocess.PIPE)
    wait_connected(p)
    starts.append((time.perf_counter() - t) * 1000)
    if i < STARTS - 1:
        p.kill()
        p.wait()


time.sleep(1)
before = cpu_ticks(p.pid)
time.sleep(IDLE)
after = cpu_ticks(p.pid)
rss = next(int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS:"))
hz = os.sysconf("SC_CLK_TCK")
p.kill()
p.wait()
cpu_ms = (after - before) * 1000 / hz
print()
print("| connected to Mosquitto | value | command |")
print("|---|---:|---|")
print(f"| start to subscribed (\"Connected to\" on stderr), median of {STARTS} (min {min(starts):.1f}, max {max(starts):.1f}) | {statistics.median(starts):.1f} ms | `cadline --broker {BROKER} --log-level info` |")
print(f"| CPU while idle for {IDLE:.0f} s, utime + stime from /proc/PID/stat ({1000 / hz:.0f} ms ticks) | {cpu_ms:.0f} ms ({100 * cpu_ms / 1000 / IDLE:.3f} %) | same |")
print(f"| resident set while idle (VmRSS) | {rss} KiB | same |")
broker.kill()
broker.wait()
shutil.rmtree(tmp, ignore_errors=True)
