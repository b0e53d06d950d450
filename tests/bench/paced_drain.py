#!/usr/bin/env python3
"""cadline alone (no Telegraf) draining a backlog at a fixed pace: its CPU
per 100 000 messages, its peak RSS and its threads' voluntary context
switches, for one or two builds run in turn (a before/after comparison in
one run, on the same broker settings).

    python3 tests/bench/paced_drain.py BUILD [BUILD...]

Knobs (environment): MESSAGES (30000), PACE (745: what cadline chooses
under Telegraf's defaults), ACK_DELAY (12: the same), ROUNDS (3).
Each round: a fresh Mosquitto (no queue or in-flight limit), a persistent
session made by a first cadline, MESSAGES queued (tests/bench/
versus_json_v2.py's stream: electricity and gas, one line each), then
cadline started and timed until every line is on its stdout.
"""
import glob
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import versus_json_v2 as v  # noqa: E402

N = int(os.environ.get("MESSAGES", 30000))
PACE = os.environ.get("PACE", "745")
ACK_DELAY = os.environ.get("ACK_DELAY", "12")
ROUNDS = int(os.environ.get("ROUNDS", 3))


def switches(pid):
    """Voluntary context switches per thread name."""
    out = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        with open(f"{task}/comm") as f:
            name = f.read().strip()
        with open(f"{task}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    out[name] = int(line.split()[1])
    return out


def one(build):
    d = tempfile.mkdtemp(prefix="paced-drain-")
    broker = v.Broker(d)
    args = [build, "--broker", f"mqtt://127.0.0.1:{broker.port}", "--prefix", "energy",
            "--persistent-session", "--client-id", "paced-drain", "--pace", PACE,
            "--ack-delay", ACK_DELAY]
    try:
        first = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=open(os.devnull, "w"),
                                 stderr=subprocess.PIPE)
        for line in first.stderr:
            if b"Connected" in line:
                break
        else:
            sys.exit(f"{build} did not connect")
        time.sleep(1)  # the SUBACK
        first.send_signal(signal.SIGTERM)
        first.wait()
        pub = v.Publisher(broker.port)
        msgs = v.stream(N)
        for i in range(0, N, 1000):
            pub.send(msgs[i:i + 1000])
        pub.close()
        started = time.time()
        p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        lines = 0
        for _ in p.stdout:
            lines += 1
            if lines >= N:
                break
        took = time.time() - started
        cpu, rss, ctx = v.cpu(p.pid), v.hwm_mib(p.pid), switches(p.pid)
        p.send_signal(signal.SIGTERM)
        p.wait()
        return dict(rate=lines / took, cpu=cpu / lines * 1e5, rss=rss,
                    conn=ctx.get("mqtt connection", 0), writer=ctx.get("writer", 0))
    finally:
        broker.kill()


def main():
    builds = sys.argv[1:] or [os.path.join(v.ROOT, "target/release/cadline")]
    runs = {b: [] for b in builds}
    for r in range(ROUNDS):
        for b in builds:
            runs[b].append(one(b))
            print(f"round {r + 1} {b}: {runs[b][-1]}", file=sys.stderr)
    print(f"{N} messages, --pace {PACE}, --ack-delay {ACK_DELAY}, {ROUNDS} rounds in turn; medians (range)\n")
    print("| build | lines/s | CPU s / 100 000 msgs | peak RSS MiB | connection thread switches | writer switches |")
    print("|---|---:|---:|---:|---:|---:|")
    for b, rs in runs.items():
        def col(k, fmt):
            xs = [x[k] for x in rs]
            return f"{statistics.median(xs):{fmt}} ({min(xs):{fmt}} to {max(xs):{fmt}})"
        print(f"| {b} | {col('rate', '.0f')} | {col('cpu', '.2f')} | {col('rss', '.1f')} | "
              f"{col('conn', '.0f')} | {col('writer', '.0f')} |")


if __name__ == "__main__":
    main()
