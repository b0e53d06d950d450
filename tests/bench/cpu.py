#!/usr/bin/env python3
"""Wall time and CPU time of commands that read one capture on stdin, run
interleaved (A B C A B C ...) so that a noisy neighbour slows every command
alike, and reported as medians: the first command is the baseline.

    cpu.py MESSAGES CAPTURE RUNS JSON_OUT NAME CMD [NAME CMD]...

CMD is split like a shell would (no redirections: stdin is CAPTURE, stdout
and stderr are /dev/null). CPU is the child's user + system time from
wait4(2), so it counts every thread and nothing of this script. Prints one
markdown row per command and writes the medians to JSON_OUT.
"""
import json
import os
import shlex
import statistics
import subprocess
import sys
import time


def run_once(argv, capture):
    with open(capture, "rb") as stdin, open(os.devnull, "wb") as null:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdin=stdin, stdout=null, stderr=null)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"{argv[0]} exited with {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def main():
    messages, capture, runs, json_out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    pairs = sys.argv[5:]
    commands = [(pairs[i], shlex.split(pairs[i + 1])) for i in range(0, len(pairs), 2)]
    for _, argv in commands:  # warm-up: the capture into the page cache
        run_once(argv, capture)
    walls = {name: [] for name, _ in commands}
    cpus = {name: [] for name, _ in commands}
    for _ in range(runs):
        for name, argv in commands:
            wall, cpu = run_once(argv, capture)
            walls[name].append(wall)
            cpus[name].append(cpu)
    base_wall = statistics.median(walls[commands[0][0]])
    base_cpu = statistics.median(cpus[commands[0][0]])
    result = {}
    for name, _ in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        result[name] = {"wall_s": wall, "cpu_s": cpu, "cpu_ns_per_message": cpu / messages * 1e9}
        print(
            f"| {name} | {wall * 1000:.0f} ms | {min(walls[name]) * 1000:.0f}-{max(walls[name]) * 1000:.0f} ms "
            f"| {messages / wall:,.0f} | {wall / base_wall:.2f} | {cpu / messages * 1e9:,.0f} ns | {cpu / base_cpu:.2f} |"
        )
    with open(json_out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
