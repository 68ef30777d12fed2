"""Durability under kill -9 (STYLE.md, Tests; PROTOCOL.md §6 ADD: "The reply is sent only after the
events are durable").

Eight writer threads, each on its own redis-py connection, append single-event and 3-event ADDs
(and a few two-stream ADDs) to shared and private streams, sometimes with expected versions and
sometimes with client-supplied ids. Each writer records every ADD whose reply it received. After a
random number of acknowledged ADDs (counted by the writers, signalled with a threading.Event) the
server gets SIGKILL, is restarted on the same data directory, and the whole store is checked:

- every acknowledged event is stored with byte-identical JSON (GET by stream, EVENT:GET by id);
- each stream's versions are 1..N without gaps, global positions 1..EVENTCOUNT without gaps;
- EVENTCOUNT / STREAMCOUNT / AGGREGATE:LIST / CHECKSUM agree with what GETALL returns;
- every event's hash is recomputed here from its content (JCS), CHECKSUM's root and each stream's
  root equal an RFC 6962 Merkle root computed here, and `VERIFY {}` reports ok;
- an ADD that was in flight at the kill is stored entirely or not at all, and an exact retry of it
  is answered idempotently (the stored events) or stores it now;
- an ADD rejected with CONFLICT stored nothing;
- no event appears that no client could have written.

The kill/restart cycle runs five times on the same data directory, so later rounds re-check the
data of earlier rounds.
"""
import json
import random
import shutil
import tempfile
import threading
import uuid

import redis

from harness import Server
from integrity_model import leaf_hash, merkle_root

WRITERS = 8
ROUNDS = 5
SHARED_STREAMS = [f"shared.s{i}" for i in range(4)]
EVENT_KEYS = {"id", "stream", "version", "position", "type", "data", "metadata", "causation_id",
              "correlation_id", "added_at", "actor", "hash"}
PAGE = 10000


# --- the writers ------------------------------------------------------------------------------

class Shared:
    """State shared by the writers of one round and the main thread."""

    def __init__(self, threshold):
        self.lock = threading.Lock()
        self.acked_count = 0  # guarded by lock
        self.threshold = threshold
        self.kill_now = threading.Event()
        self.stop = threading.Event()  # main thread gave up: writers must exit


class Writer(threading.Thread):
    def __init__(self, tid, server, shared, seed):
        super().__init__(name=f"writer-{tid}", daemon=True)
        self.tid = tid
        self.server = server
        self.shared = shared
        self.rnd = random.Random(seed)
        self.private = f"priv.w{tid}"
        self.acked = []      # (request, [raw event JSON]) whose reply arrived
        self.rejected = []   # requests answered CONFLICT (allowed only with a shared expected version)
        self.uncertain = None  # the request in flight when the connection died
        self.errors = []
        self.seq = 0

    def _events(self, n, with_ids):
        events = []
        for _ in range(n):
            self.seq += 1
            ev = {"type": self.rnd.choice(["created", "updated", "noted"]),
                  "data": {"n": self.seq, "w": str(self.tid), "txt": "caf\u00e9 \u2713 \"q\"\n\\",
                           "ok": self.rnd.random() < 0.5, "price": "4.50"}}
            r = self.rnd.random()
            if r < 0.15:
                ev["data"] = f"opaque payload {self.tid}/{self.seq}"
            elif r < 0.3:
                ev["metadata"] = {"trace": uuid.uuid4().hex, "gone": None}
            if with_ids:
                ev["id"] = uuid.uuid4().hex
            events.append(ev)
        return events

    def _build(self, conn, private_version):
        """One ADD request: (request dict, has a shared expected version)."""
        with_ids = self.rnd.random() < 0.5
        n = self.rnd.choice([1, 3])
        shared_expected = False
        r = self.rnd.random()
        if r < 0.1:
            # Two streams atomically: this writer's private stream and a shared one.
            parts = [{"stream": self.private, "events": self._events(1, with_ids)},
                     {"stream": self.rnd.choice(SHARED_STREAMS), "events": self._events(n, with_ids)}]
            if self.rnd.random() < 0.5:
                parts[0]["version"] = private_version
            return {"streams": parts}, False
        if r < 0.55:
            req = {"stream": self.private, "events": self._events(n, with_ids)}
            if self.rnd.random() < 0.3:
                req["version"] = private_version
            return req, False
        stream = self.rnd.choice(SHARED_STREAMS)
        req = {"stream": stream, "events": self._events(n, with_ids)}
        if self.rnd.random() < 0.15:
            latest = conn.execute_command("GET", json.dumps(
                {"stream": stream, "direction": "backward", "limit": 1}))
            req["version"] = json.loads(latest[0])["version"] if latest else 0
            shared_expected = True
        return req, shared_expected

    def _check_reply(self, req, raw):
        events = [json.loads(e) for e in raw]
        parts = req["streams"] if "streams" in req else [req]
        expected = [(p, ev) for p in parts for ev in p["events"]]
        assert len(events) == len(expected), f"reply has {len(events)} events for {len(expected)} sent"
        for e, (p, ev) in zip(events, expected):
            assert set(e) == EVENT_KEYS, e
            assert e["stream"] == p["stream"] and e["type"] == ev["type"], (e, ev)
            if "id" in ev:
                assert e["id"] == ev["id"], (e, ev)
            assert e["hash"] == leaf_hash(e), f"reply hash does not match content: {e}"
        # One ADD: consecutive global positions in request order, consecutive versions per stream.
        for a, b in zip(events, events[1:]):
            assert b["position"] == a["position"] + 1, f"batch interleaved: {a} {b}"
        i = 0
        for p in parts:
            mine = events[i:i + len(p["events"])]
            i += len(p["events"])
            first = p["version"] + 1 if isinstance(p.get("version"), int) else mine[0]["version"]
            assert [e["version"] for e in mine] == list(range(first, first + len(mine))), (p, mine)
        return events

    def run(self):
        try:
            conn = self.server.client()
            try:
                latest = conn.execute_command("GET", json.dumps(
                    {"stream": self.private, "direction": "backward", "limit": 1}))
            except (redis.ConnectionError, redis.TimeoutError):
                return  # killed before this writer got going
            private_version = json.loads(latest[0])["version"] if latest else 0
            while not self.shared.stop.is_set():
                try:
                    req, shared_expected = self._build(conn, private_version)
                except (redis.ConnectionError, redis.TimeoutError):
                    return
                try:
                    raw = conn.execute_command("ADD", json.dumps(req))
                except redis.ResponseError as e:
                    if str(e).startswith("CONFLICT") and shared_expected:
                        self.rejected.append(req)
                        continue
                    raise AssertionError(f"ADD {req} failed: {e}") from None
                except (redis.ConnectionError, redis.TimeoutError):
                    self.uncertain = req
                    return
                events = self._check_reply(req, raw)
                for e in events:
                    if e["stream"] == self.private:
                        private_version = e["version"]
                self.acked.append((req, list(raw)))
                with self.shared.lock:
                    self.shared.acked_count += 1
                    if self.shared.acked_count >= self.shared.threshold:
                        self.shared.kill_now.set()
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            self.errors.append(repr(e))
            self.shared.kill_now.set()


# --- the checks -------------------------------------------------------------------------------

def get_all(c):
    raw = []
    while True:
        page = c.execute_command("GETALL", json.dumps({"offset": len(raw), "limit": PAGE}))
        raw.extend(page)
        if len(page) < PAGE:
            return raw


def get_stream(c, stream):
    raw = []
    while True:
        page = c.execute_command("GET", json.dumps({"stream": stream, "version": len(raw), "limit": PAGE}))
        raw.extend(page)
        if len(page) < PAGE:
            return raw


def list_streams(c):
    out = []
    while True:
        arg = {"limit": PAGE}
        if out:
            arg["after"] = out[-1]["stream"]
        page = [json.loads(s) for s in c.execute_command("AGGREGATE:LIST", json.dumps(arg))]
        out.extend(page)
        if len(page) < PAGE:
            return out


def event_get_many(c, ids):
    out = []
    for i in range(0, len(ids), 1000):
        pipe = c.pipeline(transaction=False)
        for event_id in ids[i:i + 1000]:
            pipe.execute_command("EVENT:GET", json.dumps({"id": event_id}))
        out.extend(pipe.execute())
    return out


def check_store(c, acked, uncertain, rejected):
    """Checks the whole store against the acknowledged writes; returns the number of events."""
    raw_log = get_all(c)
    log = [json.loads(r) for r in raw_log]
    n = len(log)
    assert [e["position"] for e in log] == list(range(1, n + 1)), "global positions have a gap"
    assert c.execute_command("EVENTCOUNT") == n
    by_id = {}
    by_stream = {}
    for r, e in zip(raw_log, log):
        assert set(e) == EVENT_KEYS, e
        assert e["id"] not in by_id, f"event id {e['id']} stored twice"
        by_id[e["id"]] = r
        by_stream.setdefault(e["stream"], []).append((r, e))
    leaves = [leaf_hash(e) for e in log]
    for e, leaf in zip(log, leaves):
        assert e["hash"] == leaf, f"stored hash does not match the content of {e}"

    # Counters, CHECKSUM and VERIFY against the log just read.
    last_id, root, count = c.execute_command("CHECKSUM")
    assert count == n
    assert last_id == (log[-1]["id"] if log else "")
    assert root == merkle_root(leaves), "CHECKSUM root differs from the RFC 6962 root of the log"
    assert c.execute_command("STREAMCOUNT") == len(by_stream)
    report = json.loads(c.execute_command("VERIFY", "{}"))
    assert report == {"ok": True, "events": n, "streams": len(by_stream), "root": root, "bad": []}, report

    # Streams: AGGREGATE:LIST, GET and GETALL agree; versions 1..N; stream roots recomputed.
    listed = list_streams(c)
    assert [s["stream"] for s in listed] == sorted(by_stream, key=lambda s: s.encode())
    for s in listed:
        entries = by_stream[s["stream"]]
        assert [e["version"] for _, e in entries] == list(range(1, len(entries) + 1)), \
            f"stream {s['stream']} has a version gap or disorder"
        assert s["version"] == len(entries)
        assert s["root"] == merkle_root([leaf_hash(e) for _, e in entries])
        assert get_stream(c, s["stream"]) == [r for r, _ in entries], f"GET {s['stream']} differs from GETALL"

    # Every acknowledged event is there, byte for byte, by stream and by id.
    acked_events = [r for _, raws in acked for r in raws]
    acked_ids = [json.loads(r)["id"] for r in acked_events]
    assert len(set(acked_ids)) == len(acked_ids), "two acknowledged events share an id"
    for r, event_id in zip(acked_events, acked_ids):
        assert by_id.get(event_id) == r, f"acknowledged event lost or changed after kill -9: {r}"
    assert event_get_many(c, acked_ids) == acked_events, "EVENT:GET differs from the acknowledged events"

    # CONFLICT stored nothing.
    rejected_ids = [ev["id"] for req in rejected for p in req.get("streams", [req]) for ev in p["events"]
                    if "id" in ev]
    assert not [i for i in rejected_ids if i in by_id], "an ADD answered CONFLICT stored events"

    # Nothing appears that no client wrote: an event that was not acknowledged belongs to an ADD in
    # flight at a kill; those with client ids are matched by id, the others only by count/stream.
    acked_set = set(acked_ids)
    uncertain_ids = set()
    spare = {}  # stream -> events of in-flight ADDs with server-assigned ids
    for req in uncertain:
        for p in req.get("streams", [req]):
            for ev in p["events"]:
                if "id" in ev:
                    uncertain_ids.add(ev["id"])
                else:
                    spare[p["stream"]] = spare.get(p["stream"], 0) + 1
    for e in log:
        if e["id"] in acked_set or e["id"] in uncertain_ids:
            continue
        assert spare.get(e["stream"], 0) > 0, f"event nobody acknowledged or had in flight: {e}"
        spare[e["stream"]] -= 1
    return n


def resolve_in_flight(c, uncertain, acked, rejected):
    """ADDs in flight at the kill that carry ids: all of it stored or none; then retried exactly."""
    for req in uncertain:
        parts = req.get("streams", [req])
        ids = [ev.get("id") for p in parts for ev in p["events"]]
        if None in ids:
            continue
        stored = event_get_many(c, ids)
        present = [s is not None for s in stored]
        assert all(present) or not any(present), f"ADD in flight at the kill is partly stored: {req}"
        try:
            raw = c.execute_command("ADD", json.dumps(req))
        except redis.ResponseError as e:
            # Not stored and an expected version that no longer holds: the only acceptable refusal.
            assert not any(present) and str(e).startswith("CONFLICT"), f"retry of {req}: {e}"
            assert any(isinstance(p.get("version"), int) for p in parts), f"retry of {req}: {e}"
            rejected.append(req)
            continue
        print(f"in-flight ADD with ids was {'stored' if all(present) else 'not stored'}; retried")
        if all(present):
            assert list(raw) == stored, "an exact retry of a stored ADD did not return the stored events"
        assert [json.loads(r)["id"] for r in raw] == ids
        acked.append((req, list(raw)))


def test_acknowledged_events_survive_repeated_kill_9():
    seed = random.randrange(1 << 30)
    print(f"kill -9 test seed {seed}")
    rnd = random.Random(seed)
    data_dir = tempfile.mkdtemp(prefix="eventful-kill9-")
    acked, uncertain, rejected = [], [], []
    in_flight = []  # ADDs in flight at the last kill
    server = None
    try:
        for round_no in range(ROUNDS + 1):
            server = Server(data_dir=data_dir).start()
            c = server.client()
            # The data of every earlier round, after its kill -9.
            resolve_in_flight(c, in_flight, acked, rejected)
            before = check_store(c, acked, uncertain, rejected)
            assert before >= sum(len(raws) for _, raws in acked)
            if round_no == ROUNDS:
                break

            shared = Shared(threshold=rnd.randint(200, 2000))
            writers = [Writer(t, server, shared, rnd.randrange(1 << 30)) for t in range(WRITERS)]
            for w in writers:
                w.start()
            try:
                assert shared.kill_now.wait(timeout=90), "writers did not reach the kill threshold"
            finally:
                shared.stop.set()
                server.kill()
                for w in writers:
                    w.join(timeout=60)
            assert not any(w.is_alive() for w in writers), "a writer hung after the kill"
            errors = [e for w in writers for e in w.errors]
            assert not errors, errors
            round_acked = [a for w in writers for a in w.acked]
            assert len(round_acked) >= shared.threshold
            acked.extend(round_acked)
            rejected.extend(r for w in writers for r in w.rejected)
            in_flight = [w.uncertain for w in writers if w.uncertain is not None]
            uncertain.extend(in_flight)
            print(f"round {round_no}: {before} events before, {len(round_acked)} ADDs acknowledged "
                  f"(threshold {shared.threshold}), {len(in_flight)} in flight at the kill")
        assert server.stop() == 0, "server did not shut down cleanly:\n" + "".join(server.output)
        server = None
    finally:
        if server is not None:
            server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
