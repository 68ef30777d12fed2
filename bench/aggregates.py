#!/usr/bin/python3
"""AGGREGATE:GET of the latest state: automatic snapshots vs none, and vs Redis HGETALL (issue 6).

Starts its own eventfuld (test harness, fresh data dir) and redis-server (no persistence: the
workload only reads), loads

- `snap.1`: 10,000 events in a category whose live schema has snapshot_threshold 100 (ADDs of 50
  events, so an automatic snapshot is stored every 100 events, the newest at 10,000);
- `none.1`: the same 10,000 events in a category without a schema (every read folds all of them);
- Redis hash `state:1`: HSET of the fields of the final state,

checks that the three hold the same state, then measures each with redis-benchmark (50 connections,
one fixed command, the same tool and settings for every side), alternating the sides over ROUNDS
rounds, and prints ops/s, p50/p99 and the ratios "snapshots vs none" (target >= 20x) and
"snapshots vs Redis HGETALL" (target >= 0.5x) per round and for the medians.

    EVENTFUL_BUILD_DIR=build /usr/bin/python3 bench/aggregates.py
    SECONDS_PER_RUN=2 ROUNDS=2 /usr/bin/python3 bench/aggregates.py      # quicker

Environment: EVENTFUL_BUILD_DIR (build tree with bin/eventfuld), ROUNDS (default 3), CLIENTS
(default 50), SECONDS_PER_RUN (default 5: each run's request count is calibrated to take about
this long), EVENTS (default 10000), THRESHOLD (default 100).
"""
import json
import os
import pathlib
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from aggregate_model import fold  # noqa: E402
from harness import MASTER_KEY, Server  # noqa: E402

import redis  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "3"))
CLIENTS = int(os.environ.get("CLIENTS", "50"))
SECONDS_PER_RUN = float(os.environ.get("SECONDS_PER_RUN", "5"))
EVENTS = int(os.environ.get("EVENTS", "10000"))
THRESHOLD = int(os.environ.get("THRESHOLD", "100"))
FIELDS = [f"field{i}" for i in range(12)]
PER_ADD = 50


def j(obj):
    return json.dumps(obj, separators=(",", ":"))


def make_events():
    rng = random.Random(6)
    events = []
    for i in range(EVENTS):
        data = {}
        for f in rng.sample(FIELDS, rng.randint(1, 3)):
            data[f] = None if rng.random() < 0.05 else f"{f}-value-{i}-" + "x" * rng.randint(0, 40)
        events.append({"type": "updated", "data": data})
    return events


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(work):
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", work,
                                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                                 "--logfile", os.path.join(work, "redis.log")])
        client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if client.ping():
                    return proc, port
            except redis.ConnectionError:
                time.sleep(0.05)
        proc.kill()
        proc.wait()
    raise RuntimeError("redis-server did not start")


def run_benchmark(port, password, requests, command):
    """One redis-benchmark run; returns (ops/s, p50 ms, p99 ms)."""
    args = ["redis-benchmark", "--csv", "-h", "127.0.0.1", "-p", str(port), "-c", str(CLIENTS), "-n", str(requests)]
    if password:
        args += ["-a", password]
    r = subprocess.run(args + command, capture_output=True, text=True, timeout=600)
    text = r.stdout + r.stderr
    if r.returncode != 0 or any(line.startswith(("Error", "ERR")) for line in text.splitlines()):
        raise RuntimeError(f"redis-benchmark failed:\n{text}")
    # Last CSV line: "name","rps","avg","min","p50","p95","p99","max"; the name holds commas.
    fields = r.stdout.strip().splitlines()[-1].replace('"', "").split(",")
    return float(fields[-7]), float(fields[-4]), float(fields[-2])


def main():
    work = tempfile.mkdtemp(prefix="eventful-bench-agg-")
    server = Server(data_dir=os.path.join(work, "eventful"))
    rproc = None
    try:
        server.start()
        rproc, rport = start_redis(work)
        ev = server.client()
        rd = redis.Redis(host="127.0.0.1", port=rport, decode_responses=True)

        t0 = time.monotonic()
        ev.execute_command("SCHEMA:CREATE", j({"aggregate": "snap", "events": {"updated": {"fields": FIELDS}},
                                               "snapshot_threshold": THRESHOLD}))
        ev.execute_command("SCHEMA:MIGRATE", j({"apply": True}))
        events = make_events()
        pipe = ev.pipeline(transaction=False)
        for i in range(0, EVENTS, PER_ADD):
            for stream in ("snap.1", "none.1"):
                pipe.execute_command("ADD", j({"stream": stream, "events": events[i:i + PER_ADD]}))
        pipe.execute()
        final = fold(events)
        rd.delete("state:1")
        rd.hset("state:1", mapping=final)
        print(f"loaded 2 x {EVENTS:,} events and a {len(final)}-field hash in {time.monotonic() - t0:.1f} s", flush=True)

        snap = json.loads(ev.execute_command("AGGREGATE:GET", j({"stream": "snap.1"})))
        none = json.loads(ev.execute_command("AGGREGATE:GET", j({"stream": "none.1"})))
        expected_snapshot = EVENTS // THRESHOLD * THRESHOLD if THRESHOLD else None
        problems = []
        if snap["state"] != final or none["state"] != final or rd.hgetall("state:1") != final:
            problems.append("the three states differ")
        if snap["version"] != EVENTS or none["version"] != EVENTS:
            problems.append(f"versions {snap['version']} / {none['version']}, expected {EVENTS}")
        if snap["snapshot_version"] != expected_snapshot:
            problems.append(f"snap.1 snapshot_version {snap['snapshot_version']}, expected {expected_snapshot}")
        if none["snapshot_version"] is not None:
            problems.append(f"none.1 snapshot_version {none['snapshot_version']}, expected null")
        if problems:
            print("bench: " + "; ".join(problems), file=sys.stderr)
            return 1

        sides = [
            ("snapshots", "eventful AGGREGATE:GET, snapshots", server.port, MASTER_KEY,
             ["AGGREGATE:GET", j({"stream": "snap.1"})]),
            ("none", "eventful AGGREGATE:GET, no snapshot", server.port, MASTER_KEY,
             ["AGGREGATE:GET", j({"stream": "none.1"})]),
            ("redis", "redis HGETALL", rport, None, ["HGETALL", "state:1"]),
        ]
        # Calibrate: requests per run for about SECONDS_PER_RUN seconds on each side.
        requests = {}
        for key, _, port, pw, cmd in sides:
            n = CLIENTS * 2
            while True:
                ops, _, _ = run_benchmark(port, pw, n, cmd)
                if n / ops >= 0.5 or n >= 1_000_000:
                    break
                n *= 10
            requests[key] = max(CLIENTS * 2, int(ops * SECONDS_PER_RUN))
        results = {key: [] for key, *_ in sides}
        load_before = open("/proc/loadavg").read().split()[:3]
        for rnd in range(1, ROUNDS + 1):
            for key, label, port, pw, cmd in sides:
                ops, p50, p99 = run_benchmark(port, pw, requests[key], cmd)
                results[key].append((ops, p50, p99))
                print(f"  round {rnd}: {label:<38} {ops:>10,.0f} ops/s  p50 {p50:7.3f} ms  p99 {p99:7.3f} ms "
                      f"({requests[key]:,} requests)", flush=True)

        print()
        print(f"AGGREGATE:GET latest state of a {EVENTS:,}-event stream, {CLIENTS} connections, redis-benchmark; "
              f"{ROUNDS} rounds; load average before {' '.join(load_before)}, "
              f"after {' '.join(open('/proc/loadavg').read().split()[:3])}; {os.cpu_count()} CPUs")
        print(f"state: {len(final)} fields, {len(json.dumps(final))} bytes of JSON; snapshot_threshold {THRESHOLD}")
        print(f"{'side':<40} {'ops/s':>10} {'p50 ms':>8} {'p99 ms':>8}   rounds ops/s")
        for key, label, *_ in sides:
            rs = results[key]
            print(f"{label:<40} {statistics.median(r[0] for r in rs):>10,.0f} {statistics.median(r[1] for r in rs):>8.3f} "
                  f"{statistics.median(r[2] for r in rs):>8.3f}   " + " ".join(f"{r[0]:.0f}" for r in rs))

        def ratio(a, b, label, target):
            med = statistics.median(r[0] for r in results[a]) / statistics.median(r[0] for r in results[b])
            per = " ".join(f"{x[0] / y[0]:.2f}" for x, y in zip(results[a], results[b]))
            verdict = "met" if med >= target else "NOT met"
            print(f"  ratio {label:<28} {med:8.2f}x   (per round: {per})   target >= {target}x: {verdict}")

        ratio("snapshots", "none", "snapshots vs none", 20)
        ratio("snapshots", "redis", "snapshots vs Redis HGETALL", 0.5)
        return 0
    finally:
        if rproc is not None:
            rproc.terminate()
            rproc.wait()
        server.cleanup()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
