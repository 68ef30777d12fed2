#!/usr/bin/python3
"""VERIFY throughput: how many events per second a whole-store VERIFY {} checks.

Loads EVENTS events (multi-event ADDs spread over STREAMS streams, so that both the stream trees
and the log tree have many stored interior nodes), restarts the server so that nothing is served
from the recent-event cache, then times VERIFY {} ROUNDS times and prints events/s per round and
the median. Target (issue 3): >= 200,000 events/s on the reference 2-core machine.

    EVENTFUL_BUILD_DIR=build-release /usr/bin/python3 bench/verify.py
    EVENTS=200000 ROUNDS=3 /usr/bin/python3 bench/verify.py

Runs with Debian's python3 (python3-redis). Uses the test harness to start a real server.
"""
import json
import os
import pathlib
import statistics
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from harness import Server  # noqa: E402

EVENTS = int(os.environ.get("EVENTS", "1000000"))
STREAMS = int(os.environ.get("STREAMS", "2000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
PER_ADD = 1000
TARGET = 200_000


def load(client):
    payload = "x" * 120
    pipe = client.pipeline(transaction=False)
    written = 0
    batch = 0
    while written < EVENTS:
        n = min(PER_ADD, EVENTS - written)
        # Each ADD writes to 4 streams, so the log interleaves streams.
        streams = {}
        for i in range(n):
            s = f"bench.{(written + i) * 7919 % STREAMS}"
            streams.setdefault(s, []).append({"type": "t", "data": {"i": str(written + i), "p": payload}})
        request = {"streams": [{"stream": s, "events": evs} for s, evs in streams.items()]}
        pipe.execute_command("ADD", json.dumps(request))
        written += n
        batch += 1
        if batch % 8 == 0:
            pipe.execute()
    pipe.execute()


def main():
    server = Server()
    server.start()
    try:
        t0 = time.monotonic()
        load(server.client())
        print(f"loaded {EVENTS:,} events into {STREAMS:,} streams in {time.monotonic() - t0:.1f} s", flush=True)
        server.stop()
        server.start()
        rates = []
        for r in range(ROUNDS):
            t0 = time.monotonic()
            report = json.loads(server.client().execute_command("VERIFY", "{}"))
            dt = time.monotonic() - t0
            if not report["ok"] or report["events"] != EVENTS:
                print(f"VERIFY did not pass: {report}", file=sys.stderr)
                return 1
            rates.append(EVENTS / dt)
            print(f"round {r + 1}: VERIFY {{}} of {EVENTS:,} events in {dt:.2f} s = {EVENTS / dt:,.0f} events/s", flush=True)
        median = statistics.median(rates)
        verdict = "met" if median >= TARGET else "NOT met"
        print(f"median: {median:,.0f} events/s verified; target {TARGET:,} events/s {verdict} ({median / TARGET:.2f}x)")
    finally:
        server.stop()
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
