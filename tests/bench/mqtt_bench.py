#!/usr/bin/env python3
"""Through a private Mosquitto on loopback: cadline's sustained throughput at
QoS 0 and 1 beside mosquitto_sub (the broker-side ceiling) in the same run,
idle CPU, and time from start to subscribed. Prints markdown rows. Knobs
(environment): MQTT_MESSAGES (200000), IDLE_SECONDS (60). Latency is
measured by `cargo bench --bench latency` (a Rust publisher: a Python one
measured its own GIL)."""
import os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

CADLINE = sys.argv[1]
N = int(os.environ.get("MQTT_MESSAGES", 200_000))
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
