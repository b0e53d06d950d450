#!/usr/bin/env python3
"""Through a private Mosquitto on loopback: cadline's sustained throughput at
QoS 0 and 1 beside mosquitto_sub (the broker-side ceiling) in the same run,
publish-to-stdout latency at a steady rate, idle CPU, and time from start to
subscribed. Prints markdown rows. Knobs (environment): MQTT_MESSAGES
(200000), LATENCY_SECONDS (10), LATENCY_RATE (1000), IDLE_SECONDS (60)."""
import os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

CADLINE = sys.argv[1]
N = int(os.environ.get("MQTT_MESSAGES", 200_000))
LAT_SECONDS = float(os.environ.get("LATENCY_SECONDS", 10))
LAT_RATE = int(os.environ.get("LATENCY_RATE", 1000))
IDLE = float(os.environ.get("IDLE_SECONDS", 60))
TOPIC = "glow/0A1B2C3D4E5F/SENSOR/electricitymeter"

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def payload(seq):
    return ('{"electricitymeter":{"timestamp":"2026-03-01T11:59:50Z","energy":{"import":{"cumulative":%d,'
            '"units":"kWh","price":{"unitrate":0.2451,"standingcharge":0.5322}}},"power":{"value":0.375,"units":"kW"}}}' % seq)

tmp = tempfile.mkdtemp(prefix="cadline-bench-")
port = free_port()
conf = os.path.join(tmp, "mosquitto.conf")
with open(conf, "w") as f:
    f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\nmax_queued_messages 0\n")
mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
broker = subprocess.Popen([mosquitto, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", port), 0.1).close(); break
    except OSError:
        time.sleep(0.05)

def publish(lines, qos):
    for start in range(0, len(lines), 10_000):
        chunk = "\n".join(lines[start:start + 10_000]) + "\n"
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", TOPIC, "-q", str(qos), "-l"],
                       input=chunk.encode(), check=True)

def wait_stderr(proc, needle, timeout=15):
    deadline = time.time() + timeout
    for line in proc.stderr:
        if needle in line.decode(errors="replace"):
            return True
        if time.time() > deadline:
            break
    return False

def timed_receive(cmd, qos, ready):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready(proc)
    lines = [payload(i + 1) for i in range(N)]
    start = time.perf_counter()
    t = threading.Thread(target=publish, args=(lines, qos)); t.start()
    got = 0
    for _ in proc.stdout:
        got += 1
        if got >= N:
            break
    elapsed = time.perf_counter() - start
    t.join()
    proc.kill(); proc.wait()
    return got, elapsed

rows = []
for qos in (0, 1):
    def sub_ready(p):
        time.sleep(0.5)
    got_s, t_s = timed_receive(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "glow/#", "-q", str(qos), "-C", str(N)], qos, sub_ready)
    def cad_ready(p):
        wait_stderr(p, "onnected to"); time.sleep(0.3)
    got_c, t_c = timed_receive([CADLINE, "--broker", f"mqtt://127.0.0.1:{port}", "--qos", str(qos)], qos, cad_ready)
    rows.append((qos, N / t_s, N / t_c, got_s, got_c))

print("| through Mosquitto on loopback | messages/s | of ceiling |")
print("|---|---:|---:|")
for qos, ceil, cad, gs, gc in rows:
    print(f"| `mosquitto_sub -q {qos} > /dev/null` (ceiling), {gs} messages | {ceil:,.0f} | 100 % |")
    print(f"| `cadline --qos {qos}`, {gc} lines | {cad:,.0f} | {100 * cad / ceil:.0f} % |")

# Latency at a steady rate: send times by sequence number, arrival times of
# lines; mosquitto_sub in the same run is the baseline (the publisher, the
# broker and this script's own timing are in both).
def latency(cmd, ready, seq_of):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready(proc)
    pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", TOPIC, "-q", "1", "-l"],
                           stdin=subprocess.PIPE)
    total = int(LAT_SECONDS * LAT_RATE)
    sent, arrived = {}, {}
    def reader():
        for line in proc.stdout:
            arrived[seq_of(line)] = time.perf_counter()
            if len(arrived) >= total:
                return
    r = threading.Thread(target=reader); r.start()
    t0 = time.perf_counter()
    for i in range(1, total + 1):
        # Sleep (releasing the GIL for the reader thread) until the send time.
        delay = t0 + i / LAT_RATE - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent[i] = time.perf_counter()
        pub.stdin.write((payload(i) + "\n").encode()); pub.stdin.flush()
    pub.stdin.close(); pub.wait()
    r.join(timeout=30)
    proc.kill(); proc.wait()
    lat = sorted((arrived[i] - sent[i]) * 1000 for i in sent if i in arrived)
    pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
    return len(lat), total, pct(50), pct(99), lat[-1]

def cad_seq(line):
    return int(float(line.split(b" cumulative=")[1].split(b",")[0]))
def sub_seq(line):
    return int(line.split(b'"cumulative":')[1].split(b",")[0])
base = latency(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "glow/#", "-q", "1"],
               lambda p: time.sleep(0.5), sub_seq)
cad = latency([CADLINE, "--broker", f"mqtt://127.0.0.1:{port}", "--qos", "1"],
              lambda p: (wait_stderr(p, "onnected to"), time.sleep(0.3)), cad_seq)
print()
print(f"| latency, publish → line on stdout, QoS 1, {LAT_RATE} msg/s for {LAT_SECONDS:.0f} s | received | p50 ms | p99 ms | max ms |")
print("|---|---:|---:|---:|---:|")
print(f"| `mosquitto_sub` (baseline) | {base[0]}/{base[1]} | {base[2]:.3f} | {base[3]:.3f} | {base[4]:.3f} |")
print(f"| `cadline` | {cad[0]}/{cad[1]} | {cad[2]:.3f} | {cad[3]:.3f} | {cad[4]:.3f} |")

# Start to subscribed, and idle CPU.
starts = []
for _ in range(5):
    t = time.perf_counter()
    p = subprocess.Popen([CADLINE, "--broker", f"mqtt://127.0.0.1:{port}"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_stderr(p, "onnected to")
    starts.append((time.perf_counter() - t) * 1000)
    if len(starts) < 5:
        p.kill(); p.wait()
def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
before = cpu_ticks(p.pid)
time.sleep(IDLE)
after = cpu_ticks(p.pid)
hz = os.sysconf("SC_CLK_TCK")
p.kill(); p.wait()
print()
print("| footprint | value |")
print("|---|---:|")
print(f"| start to subscribed (median of 5) | {statistics.median(starts):.1f} ms |")
print(f"| CPU while idle for {IDLE:.0f} s | {(after - before) / hz * 1000:.0f} ms ({100 * (after - before) / hz / IDLE:.3f} %) |")
broker.kill(); broker.wait()
shutil.rmtree(tmp, ignore_errors=True)
