"""Archival under kill -9 (issue 6; docs/protocol.md "Archival": "Each move is one atomic write together
with its `$audit` event, so a crash leaves it either done or not done").

- SIGKILL right after the reply to AGGREGATE:ARCHIVE, AGGREGATE:RESTORE and EVENT:ARCHIVE: after the
  restart the move is there (flags, LOCKED, its audit event, and the next move counts it: RESTORE
  moves every event back, a second EVENT:ARCHIVE moves none), and every read is byte-identical.
- SIGKILL while such a move is in flight (request sent, no reply read): done or not done, never
  half — the audit event, the archived flag and the number of events the next move finds agree.
- SIGKILL right after EVENT:ARCHIVE {"all":true} and AGGREGATE:ARCHIVE answered in the middle of a
  burst of ADDs from several connections: every acknowledged event is there byte for byte, an ADD
  refused as LOCKED stored nothing, versions and positions have no gap, and VERIFY {} and CHECKSUM
  agree with roots recomputed here.
"""
import json
import socket
import threading
import time
import uuid

import redis

from harness import MASTER_KEY, RawClient, RespError, Server, encode_command, recv_until
from integrity_model import leaf_hash, merkle_root

PAGE = 10000


def j(obj):
    return json.dumps(obj, separators=(",", ":"))


def call(rc, name, arg=None):
    reply = rc.call(name, *([] if arg is None else [arg if isinstance(arg, str) else j(arg)]))
    if isinstance(reply, bytes):
        return json.loads(reply)
    if isinstance(reply, list):
        return [json.loads(x) if isinstance(x, bytes) else x for x in reply]
    return reply


def ok(rc, name, arg=None):
    reply = call(rc, name, arg)
    assert not isinstance(reply, RespError), (name, arg, reply)
    return reply


def raw_stream(r, stream):
    out = []
    while True:
        page = r.execute_command("GET", j({"stream": stream, "version": len(out), "limit": PAGE}))
        out += page
        if len(page) < PAGE:
            return out


def raw_log(r):
    out = []
    while True:
        page = r.execute_command("GETALL", j({"offset": len(out), "limit": PAGE}))
        out += page
        if len(page) < PAGE:
            return out


def check_store(r):
    """The whole store is consistent: positions and versions gap-free, hashes and roots recomputed
    here equal CHECKSUM, AGGREGATE:LIST and VERIFY {}. Returns (raw log, events by stream)."""
    raw = raw_log(r)
    log = [json.loads(x) for x in raw]
    assert [e["position"] for e in log] == list(range(1, len(log) + 1)), "global positions have a gap"
    by_stream = {}
    for x, e in zip(raw, log):
        assert e["hash"] == leaf_hash(e), e
        by_stream.setdefault(e["stream"], []).append((x, e))
    root = merkle_root([e["hash"] for e in log])
    assert r.execute_command("CHECKSUM") == [log[-1]["id"], root, len(log)]
    report = json.loads(r.execute_command("VERIFY", "{}"))
    assert report == {"ok": True, "events": len(log), "streams": len(by_stream), "root": root, "bad": []}, report
    for stream, items in by_stream.items():
        assert [e["version"] for _, e in items] == list(range(1, len(items) + 1)), stream
        assert raw_stream(r, stream) == [x for x, _ in items], f"GET {stream} differs from GETALL"
        st = json.loads(r.execute_command("AGGREGATE:GET", j({"stream": stream})))
        assert st["version"] == len(items) and st["root"] == merkle_root([e["hash"] for _, e in items]), stream
    return raw, by_stream


def audit_types(r):
    return [json.loads(e)["type"] for e in r.execute_command("GET", j({"stream": "$audit", "limit": PAGE}))]


def load(r, stream, n, per_add=1000, tag=""):
    p = r.pipeline(transaction=False)
    for first in range(0, n, per_add):
        p.execute_command("ADD", j({"stream": stream, "events": [
            {"type": "t", "data": {"i": str(first + i), "pad": f"{tag}{stream}" + "x" * 60}}
            for i in range(min(per_add, n - first))]}))
    p.execute()


def archived(r, stream):
    return json.loads(r.execute_command("AGGREGATE:GET", j({"stream": stream})))["archived"]


def restart(server):
    server.start()
    return server.client(), RawClient(server)


def test_acknowledged_archive_restore_and_event_archive_survive_sigkill():
    server = Server().start()
    try:
        r, rc = server.client(), RawClient(server)
        load(r, "case.big", 3000)
        load(r, "case.small", 7)
        load(r, "other.1", 20)
        before = {s: raw_stream(r, s) for s in ("case.big", "case.small", "other.1")}
        log_before = raw_log(r)

        def same_reads(r):
            for s, raw in before.items():
                assert raw_stream(r, s)[:len(raw)] == raw, s
            assert raw_log(r)[:len(log_before)] == log_before

        # ARCHIVE answered, then SIGKILL.
        assert ok(rc, "AGGREGATE:ARCHIVE", {"stream": "case.big"})["moved"] == 3000
        server.kill()
        r, rc = restart(server)
        assert archived(r, "case.big") is True and audit_types(r) == ["aggregate-archived"]
        reply = call(rc, "ADD", {"stream": "case.big", "events": [{"type": "t"}]})
        assert isinstance(reply, RespError) and reply == "LOCKED stream 'case.big' is archived", reply
        same_reads(r)
        check_store(r)

        # RESTORE answered, then SIGKILL: all 3,000 came back (none was left behind in the archive).
        assert ok(rc, "AGGREGATE:RESTORE", {"stream": "case.big"}) == \
            {"stream": "case.big", "version": 3000, "archived": False, "moved": 3000}
        server.kill()
        r, rc = restart(server)
        assert archived(r, "case.big") is False and audit_types(r) == ["aggregate-archived", "aggregate-restored"]
        reply = call(rc, "AGGREGATE:RESTORE", {"stream": "case.big"})
        assert reply == "ERR stream 'case.big' is not archived", reply
        assert ok(rc, "EVENT:ARCHIVE", {"stream": "case.big"}) == {"moved": 3000, "streams": 1}
        server.kill()  # right after EVENT:ARCHIVE's reply
        r, rc = restart(server)
        assert ok(rc, "EVENT:ARCHIVE", {"stream": "case.big"}) == {"moved": 0, "streams": 0}
        [e] = ok(rc, "ADD", {"stream": "case.big", "events": [{"type": "t", "data": {"after": "kill"}}]})
        assert e["version"] == 3001 and archived(r, "case.big") is False
        same_reads(r)

        # EVENT:ARCHIVE {"all":true} answered, then SIGKILL: nothing is left to move afterwards.
        reply = ok(rc, "EVENT:ARCHIVE", {"all": True})
        assert reply["moved"] >= 1 + 7 + 20, reply
        server.kill()
        r, rc = restart(server)
        for s in ("case.big", "case.small", "other.1"):
            assert ok(rc, "EVENT:ARCHIVE", {"stream": s}) == {"moved": 0, "streams": 0}, s
        assert audit_types(r).count("events-archived") == 6  # every control action is audited, moved 0 too
        same_reads(r)
        check_store(r)
        rc.close()
        assert server.stop() == 0
    finally:
        server.cleanup()


def test_a_move_in_flight_at_sigkill_is_done_or_not_done():
    server = Server().start()
    try:
        r = server.client()
        n = 20000
        load(r, "case.big", n)
        load(r, "case.other", 50)
        before = raw_stream(r, "case.big")
        # How long a move takes, in round trips of a small read: the kill points are spread over it.
        reads = [("GET", j({"stream": "case.other", "limit": 50}))] * 200
        t0 = time.monotonic()
        for name, arg in reads:
            r.execute_command(name, arg)
        per_read = (time.monotonic() - t0) / len(reads)
        t0 = time.monotonic()
        r.execute_command("AGGREGATE:ARCHIVE", j({"stream": "case.big"}))
        move_time = time.monotonic() - t0
        r.execute_command("AGGREGATE:RESTORE", j({"stream": "case.big"}))
        moves = [("AGGREGATE:ARCHIVE", {"stream": "case.big"}), ("EVENT:ARCHIVE", {"all": True}),
                 ("EVENT:ARCHIVE", {"stream": "case.big"})] * 2
        fractions = [0.0, 0.3, 0.6, 0.9, 1.2, 2.0]
        outcomes = []
        for round_no, (name, arg) in enumerate(moves):
            r = server.client()
            audit_before = audit_types(r)
            # Send the move and kill the server without waiting for its reply; in between, reads on
            # another connection for a growing fraction of the time a move takes, so the kill lands
            # before, during and after it (reads, not sleeps: the outcome is checked either way).
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(encode_command("AUTH", MASTER_KEY))
            assert recv_until(s, lambda b: b.endswith(b"\r\n")) == b"+OK\r\n"
            s.sendall(encode_command(name, j(arg)))
            for _ in range(int(fractions[round_no] * move_time / per_read)):
                r.execute_command(*reads[0])
            server.kill()
            s.close()
            r, rc = restart(server)
            audit_now = audit_types(r)
            assert audit_now[:len(audit_before)] == audit_before
            new = audit_now[len(audit_before):]
            assert raw_stream(r, "case.big") == before, "events changed by a move interrupted by SIGKILL"
            check_store(r)
            if name == "AGGREGATE:ARCHIVE":
                done = archived(r, "case.big")
                assert new == (["aggregate-archived"] if done else []), (done, new)
                # The next move finds all events on one side: RESTORE moves all of them back, or the
                # stream was never archived and ARCHIVE now moves all of them.
                if done:
                    assert ok(rc, "AGGREGATE:RESTORE", {"stream": "case.big"})["moved"] == n
                else:
                    assert call(rc, "AGGREGATE:RESTORE", {"stream": "case.big"}) == \
                        "ERR stream 'case.big' is not archived"
            else:
                done = new == ["events-archived"]
                assert new in ([], ["events-archived"]), new
                moved = ok(rc, "EVENT:ARCHIVE", {"stream": "case.big"})["moved"]
                assert moved == (0 if done else n), (done, moved)
                assert ok(rc, "AGGREGATE:RESTORE", {"stream": "case.big"})["moved"] == n
            assert archived(r, "case.big") is False
            outcomes.append(done)
            rc.close()
        print(f"a move takes {move_time * 1000:.0f} ms; done before the kill: {outcomes}")
        assert server.stop() == 0
    finally:
        server.cleanup()


class Progress:
    """Acknowledged ADDs of all writers; the main thread waits for a count (no sleeping)."""

    def __init__(self):
        self.cond = threading.Condition()
        self.acked = 0  # guarded by cond

    def tick(self):
        with self.cond:
            self.acked += 1
            self.cond.notify_all()

    def wait_for(self, n, timeout=60):
        with self.cond:
            assert self.cond.wait_for(lambda: self.acked >= n, timeout), f"writers acknowledged only {self.acked}"
            return self.acked


class Writer(threading.Thread):
    """ADDs with client ids to its own stream and to the shared stream, until told to stop."""

    def __init__(self, tid, server, stop, progress):
        super().__init__(daemon=True)
        self.tid, self.server, self.stop, self.progress = tid, server, stop, progress
        self.acked, self.locked, self.uncertain, self.errors = [], [], [], []
        self.count = 0

    def run(self):
        try:
            r = redis.Redis(host="127.0.0.1", port=self.server.port, password=MASTER_KEY, decode_responses=True,
                            socket_timeout=60, single_connection_client=True)
            while not self.stop.is_set():
                self.count += 1
                stream = "burst.shared" if self.count % 3 == 0 else f"burst.w{self.tid}"
                req = {"stream": stream, "events": [
                    {"id": uuid.uuid4().hex, "type": "t", "data": {"w": str(self.tid), "n": str(self.count), "k": str(k)}}
                    for k in range(1 + self.count % 3)]}
                try:
                    raw = r.execute_command("ADD", j(req))
                except redis.ResponseError as e:
                    assert str(e) == "LOCKED stream 'burst.shared' is archived" and stream == "burst.shared", str(e)
                    self.locked.append(req)
                    continue
                except (redis.ConnectionError, redis.TimeoutError):
                    self.uncertain.append(req)
                    return
                self.acked.append(list(raw))
                self.progress.tick()
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            self.errors.append(repr(e))


def test_a_burst_of_adds_with_moves_then_sigkill_keeps_every_acknowledged_event():
    server = Server().start()
    try:
        rc = RawClient(server)
        stop = threading.Event()
        progress = Progress()
        writers = [Writer(t, server, stop, progress) for t in range(4)]
        for w in writers:
            w.start()
        try:
            # Moves in the middle of the burst: no reply waits for the writers, no sleep.
            load(server.client(), "burst.shared", 200, per_add=100, tag="pre")
            seen = progress.wait_for(300)
            all_reply = ok(rc, "EVENT:ARCHIVE", {"all": True})
            progress.wait_for(seen + 300)
            ok(rc, "ADD", {"stream": "burst.shared", "events": [{"type": "t", "data": {"between": "moves"}}]})
            archive_reply = ok(rc, "AGGREGATE:ARCHIVE", {"stream": "burst.shared"})
            # The writers go on (their shared-stream ADDs now refused) until the kill.
            with progress.cond:
                now = progress.acked
            progress.wait_for(now + 100)
            server.kill()
        finally:
            stop.set()
            for w in writers:
                w.join(timeout=60)
        assert not any(w.is_alive() for w in writers)
        assert not [e for w in writers for e in w.errors], [e for w in writers for e in w.errors]
        assert all_reply["moved"] >= 200, all_reply
        acked = [x for w in writers for raws in w.acked for x in raws]
        print(f"{len(acked)} acknowledged events, {sum(len(w.locked) for w in writers)} ADDs refused as LOCKED, "
              f"EVENT:ARCHIVE all moved {all_reply['moved']}, ARCHIVE moved {archive_reply['moved']}")

        server.start()
        r = server.client()
        rc = RawClient(server)
        raw, by_stream = check_store(r)
        stored = {json.loads(x)["id"]: x for x in raw}
        for x in acked:
            assert stored.get(json.loads(x)["id"]) == x, f"acknowledged event lost or changed: {x}"
        for w in writers:
            for req in w.locked:
                assert not any(ev["id"] in stored for ev in req["events"]), "an ADD refused as LOCKED stored events"
            for req in w.uncertain:  # in flight at the kill: all of it or none
                present = [ev["id"] in stored for ev in req["events"]]
                assert all(present) or not any(present), req
        # The archive of burst.shared was acknowledged: it holds, with everything it had at that moment.
        assert archived(r, "burst.shared") is True
        assert archive_reply["version"] == len(by_stream["burst.shared"])
        assert 1 <= archive_reply["moved"] <= archive_reply["version"]  # those EVENT:ARCHIVE moved are not counted
        assert call(rc, "ADD", {"stream": "burst.shared", "events": [{"type": "t"}]}) == \
            "LOCKED stream 'burst.shared' is archived"
        assert audit_types(r) == ["events-archived", "aggregate-archived"]
        assert ok(rc, "AGGREGATE:RESTORE", {"stream": "burst.shared"})["moved"] == archive_reply["version"]
        for t in range(4):
            assert archived(r, f"burst.w{t}") is False
            ok(rc, "ADD", {"stream": f"burst.w{t}", "events": [{"type": "t"}]})
        check_store(r)
        rc.close()
        assert server.stop() == 0
    finally:
        server.cleanup()
