"""Archival: AGGREGATE:ARCHIVE, AGGREGATE:RESTORE, EVENT:ARCHIVE (issue 6; PROTOCOL.md §3, §8 "Schemas"
and "Further settled points"; docs/protocol.md "Archival" and the ADD validation table).

Moving events to the archive changes where they are kept, never what a client sees: for every
stream, GET (forward, backward, from a version), GETALL (by position, by event id, filtered),
EVENT:GET (by id and by hash), PROOF (stream and global, current and past sizes), CONSISTENCY,
TREEHEAD, VERIFY and AGGREGATE:GET / AGGREGATE:SNAPSHOTS are compared reply for reply (the raw JSON
strings) before archiving, while archived, after a restart and after restoring. Global replies are
compared at the log size before the move: each move appends one `$audit` event to the log. The
stream proofs are checked once by rfc9162.py against roots recomputed here from the events.

Also: ADD to an archived stream is LOCKED and stores nothing (through the raw socket, redis-py and
redis-cli), AGGREGATE:GET / AGGREGATE:LIST report archived and locked, RESTORE unlocks, EVENT:ARCHIVE
keeps the stream writable, every documented error, one `$audit` event per move and none for a
refused command, and NOPERM for callers without admin rights.
"""
import json
import subprocess
import threading
import time

import pytest
import redis

from aggregate_model import fold
from harness import MASTER_KEY, RawClient, RespError
from json_conn import Conn, expect_error, j
from integrity_model import leaf_hash, merkle_root
from rfc9162 import verify_consistency, verify_inclusion

STREAMS = {"case.1": 30, "case.2": 12, "case.3": 5, "other.1": 8}
PATIENT = {"aggregate": "case", "events": {"opened": {"fields": ["n", "who", "note"]}, "noted": {"fields": ["note"]}},
           "snapshot_threshold": 10}


# --- helpers ---------------------------------------------------------------------------------------


def audit(c):
    return c.ok("GET", {"stream": "$audit", "limit": 10000})


def fingerprint(c):
    return c.ok("EVENTCOUNT"), c.ok("CHECKSUM"), c.ok("STREAMCOUNT")


def populate(c):
    """STREAMS written interleaved (one- and multi-stream ADDs), a live schema for `case` with automatic
    snapshots every 10 events, and a manual snapshot of other.1. Returns the stored events by stream."""
    c.ok("SCHEMA:CREATE", PATIENT)
    assert c.ok("SCHEMA:MIGRATE", {"apply": True})["applied"] is True
    written = {s: [] for s in STREAMS}
    i = 0
    while any(len(written[s]) < n for s, n in STREAMS.items()):
        parts = []
        for s, n in STREAMS.items():
            if len(written[s]) < n and (i + len(s)) % 3 != 1:
                k = min(n - len(written[s]), 1 + i % 3)
                evs = [{"type": "opened" if s.startswith("case") else "t",
                        "data": {"n": str(len(written[s]) + x), "who": "alice", "note": f"{s} entry {i}/{x}"}}
                       for x in range(k)]
                parts.append({"stream": s, "events": evs})
        if parts:
            reply = c.ok("ADD", {"streams": parts})
            for e in reply:
                written[e["stream"]].append(e)
        i += 1
        if len(written["other.1"]) >= 4 and not c.ok("AGGREGATE:SNAPSHOTS", {"stream": "other.1"}):
            c.ok("SNAPSHOT", {"stream": "other.1", "comment": "half way"})
    return written


def stream_view(r, stream, n, log_size):
    """Every read of `stream` (n events), raw reply strings; global reads pinned to log_size."""
    cmds = [("GET", {"stream": stream, "limit": 10000}),
            ("GET", {"stream": stream, "direction": "backward", "limit": 10000}),
            ("GET", {"stream": stream, "version": n // 2, "limit": 3}),
            ("GET", {"stream": stream, "direction": "backward", "limit": 1}),
            ("GETALL", {"filter": {"streams": [stream]}, "limit": 10000}),
            ("GETALL", {"filter": {"streams": [stream], "types": ["noted", "t"]}, "limit": 10000}),
            ("VERIFY", {"stream": stream}),
            ("AGGREGATE:SNAPSHOTS", {"stream": stream})]
    for v in range(1, n + 1):
        cmds.append(("PROOF", {"stream": stream, "version": v}))
        cmds.append(("PROOF", {"stream": stream, "version": 1 + (v - 1) // 2, "tree_size": v}))
        cmds.append(("CONSISTENCY", {"stream": stream, "from": v}))
        cmds.append(("CONSISTENCY", {"stream": stream, "from": 1 + (v - 1) // 2, "to": v}))
    p = r.pipeline(transaction=False)
    for name, arg in cmds:
        p.execute_command(name, j(arg))
    replies = p.execute(raise_on_error=False)
    events = [json.loads(e) for e in replies[0]]
    # Its AGGREGATE:LIST summary, but for the flags that archiving changes.
    [summary] = [json.loads(x) for x in r.execute_command("AGGREGATE:LIST", j({"pattern": stream}))]
    summary = {k: v for k, v in summary.items() if k not in ("archived", "locked")}
    assert len(events) == n, (stream, len(events), n)
    p = r.pipeline(transaction=False)
    for e in events:
        # GETALL pages that end inside the log of log_size events (later events may be appended).
        limit = max(0, min(3, log_size - e["position"]))
        p.execute_command("EVENT:GET", j({"id": e["id"]}))
        p.execute_command("EVENT:GET", j({"hash": e["hash"]}))
        p.execute_command("PROOF", j({"position": e["position"], "tree_size": log_size}))
        if limit:
            p.execute_command("GETALL", j({"offset": e["id"], "limit": limit}))
        else:
            p.execute_command("PING")
        p.execute_command("GETALL", j({"offset": e["position"] - 1, "limit": min(2, log_size - e["position"] + 1)}))
    for v in range(0, n + 1):
        p.execute_command("AGGREGATE:GET", j({"stream": stream, "version": v}))
    more = p.execute(raise_on_error=False)
    errors = [x for x in replies + more if isinstance(x, Exception)]
    assert not errors, f"reads of {stream} failed: {errors[:3]}"
    states = more[5 * n:]
    # archived / locked are what may change; the state and root may not.
    stable_states = []
    for s in states:
        s = json.loads(s)
        stable_states.append({k: v for k, v in s.items() if k not in ("archived", "locked")})
    head = json.loads(r.execute_command("TREEHEAD", j({"stream": stream})))
    return {"replies": replies + more[:5 * n],
            "states": stable_states, "summary": summary,
            "treehead": {k: head[k] for k in ("stream", "tree_size", "root", "key_id", "public_key")}}


def log_view(r, log_size):
    """Global reads that do not depend on events appended after log_size."""
    p = r.pipeline(transaction=False)
    p.execute_command("GETALL", j({"limit": log_size}))
    for k in range(1, log_size + 1, 7):
        p.execute_command("CONSISTENCY", j({"from": k, "to": log_size}))
    return p.execute()


def whole_view(c, r, written):
    log_size = c.ok("EVENTCOUNT")  # the events written and the audit events of the setup
    return {s: stream_view(r, s, len(evs), log_size) for s, evs in written.items()}, log_view(r, log_size), log_size


def check_independently(view, written):
    """The stream proofs of a view verify against roots recomputed here from the events."""
    for s, evs in written.items():
        leaves = [leaf_hash(e) for e in evs]
        n = len(evs)
        replies = view[s]["replies"]
        proofs = replies[8:8 + 4 * n]
        for v in range(1, n + 1):
            p = json.loads(proofs[4 * (v - 1)])
            assert p["root"] == merkle_root(leaves) and p["leaf_hash"] == leaves[v - 1]
            assert verify_inclusion(p["leaf_index"], p["tree_size"], p["leaf_hash"], p["path"], p["root"]), (s, v)
            old = json.loads(proofs[4 * (v - 1) + 1])
            assert old["root"] == merkle_root(leaves[:v])
            assert verify_inclusion(old["leaf_index"], v, leaves[old["leaf_index"]], old["path"], old["root"])
            cons = json.loads(proofs[4 * (v - 1) + 3])
            assert verify_consistency(cons["from"], v, merkle_root(leaves[:cons["from"]]), merkle_root(leaves[:v]),
                                      cons["path"]), (s, v)
        assert view[s]["treehead"]["root"] == merkle_root(leaves)
        assert [st["state"] for st in view[s]["states"]][-1] == fold(evs)


def verify_all(c):
    """VERIFY {} is ok and its root is the RFC 6962 root of the whole log, recomputed here."""
    log = c.ok("GETALL", {"limit": 10000})
    report = c.ok("VERIFY", {})
    root = merkle_root([leaf_hash(e) for e in log])
    assert report == {"ok": True, "events": len(log), "streams": len({e["stream"] for e in log}), "root": root,
                      "bad": []}, report
    assert c.ok("CHECKSUM") == [log[-1]["id"], root, len(log)]
    assert c.ok("EVENTCOUNT") == len(log) and c.ok("STREAMCOUNT") == len({e["stream"] for e in log})


def flags(c, stream):
    st = c.ok("AGGREGATE:GET", {"stream": stream})
    [entry] = [e for e in c.ok("AGGREGATE:LIST", {"pattern": stream}) if e["stream"] == stream]
    assert (entry["archived"], entry["locked"]) == (st["archived"], st["locked"]), (entry, st)
    return st["archived"], st["locked"]


def cli(server, *words):
    r = subprocess.run(["redis-cli", "--no-raw", "-h", "127.0.0.1", "-p", str(server.port), "-a", MASTER_KEY,
                        "--no-auth-warning", *words], capture_output=True, text=True, timeout=60)
    return r.stdout.strip()


class World:
    def __init__(self, server):
        self.server = server
        self.c = Conn(server)
        self.r = server.client()
        self.written = populate(self.c)
        self.view, self.log, self.log_size = whole_view(self.c, self.r, self.written)
        check_independently(self.view, self.written)

    def unchanged(self, streams=None):
        """Every read of every stream (or of `streams`) and of the log prefix is as it was."""
        for s in streams or self.written:
            now = stream_view(self.r, s, len(self.written[s]), self.log_size)
            assert now == self.view[s], f"reads of {s} changed"
        assert log_view(self.r, self.log_size) == self.log, "global reads changed"
        verify_all(self.c)

    def refresh(self):
        self.view, self.log, self.log_size = whole_view(self.c, self.r, self.written)


@pytest.fixture
def world(server):
    w = World(server)
    yield w
    w.c.close()


# --- AGGREGATE:ARCHIVE / AGGREGATE:RESTORE -------------------------------------------------------------

def test_archive_and_restore_change_no_read_and_lock_only_while_archived(world):
    c, server = world.c, world.server
    audit_before = audit(c)
    assert flags(c, "case.1") == (False, False)

    reply = c.ok("AGGREGATE:ARCHIVE", {"stream": "case.1", "comment": "case closed"})
    assert reply == {"stream": "case.1", "version": 30, "archived": True, "moved": 30}, reply
    new = audit(c)[len(audit_before):]
    assert [(e["type"], e["actor"]) for e in new] == [("aggregate-archived", "master")], new
    assert "case.1" in json.dumps(new[0]["data"]), new
    world.unchanged()
    assert flags(c, "case.1") == (True, True)
    assert flags(c, "case.2") == (False, False)

    # Writes are refused whole, by every client, in every ADD form.
    locked = "LOCKED stream 'case.1' is archived"
    before = fingerprint(c)
    ev = [{"type": "noted", "data": {"note": "late"}}]
    expect_error(c("ADD", {"stream": "case.1", "events": ev}), locked)
    expect_error(c("ADD", {"stream": "case.1", "version": 30, "events": ev}), locked)
    expect_error(c("ADD", {"streams": [{"stream": "case.2", "events": ev}, {"stream": "case.1", "events": ev}]}), locked)
    expect_error(c("ADD", {"streams": [{"stream": "case.1", "events": ev}, {"stream": "other.1", "events": ev}]}), locked)
    with pytest.raises(redis.ResponseError) as e:
        server.client().execute_command("ADD", j({"stream": "case.1", "events": ev}))
    assert str(e.value) == locked
    assert cli(server, "ADD", j({"stream": "case.1", "events": ev})) == f"(error) {locked}"
    assert fingerprint(c) == before, "an ADD to an archived stream stored something"

    # Archiving again is an error and audits nothing.
    expect_error(c("AGGREGATE:ARCHIVE", {"stream": "case.1"}), "ERR stream 'case.1' is already archived")
    assert fingerprint(c) == before

    # A restart keeps it archived, and every read still the same.
    world.c.close()
    assert server.stop() == 0
    server.start()
    world.c, world.r = Conn(server), server.client()
    c = world.c
    world.unchanged()
    assert flags(c, "case.1") == (True, True)
    expect_error(c("ADD", {"stream": "case.1", "events": ev}), locked)

    reply = c.ok("AGGREGATE:RESTORE", {"stream": "case.1", "comment": "reopened"})
    assert reply == {"stream": "case.1", "version": 30, "archived": False, "moved": 30}, reply
    new = audit(c)[len(audit_before):]
    assert [(e["type"], e["actor"]) for e in new] == [("aggregate-archived", "master"), ("aggregate-restored", "master")]
    world.unchanged()
    assert flags(c, "case.1") == (False, False)
    expect_error(c("AGGREGATE:RESTORE", {"stream": "case.1"}), "ERR stream 'case.1' is not archived")
    assert len(audit(c)) == len(audit_before) + 2

    # Writable again; the new event extends the same tree.
    old_head = world.view["case.1"]["treehead"]
    [e31] = c.ok("ADD", {"stream": "case.1", "version": 30, "events": ev})
    assert e31["version"] == 31
    leaves = [leaf_hash(e) for e in world.written["case.1"] + [e31]]
    cons = c.ok("CONSISTENCY", {"stream": "case.1", "from": 30})
    assert cons["from_root"] == old_head["root"] and cons["to_root"] == merkle_root(leaves)
    assert verify_consistency(30, 31, old_head["root"], merkle_root(leaves), cons["path"])
    assert c.ok("EVENT:GET", {"id": e31["id"]}) == e31
    verify_all(c)


def test_an_archived_stream_of_a_schema_category_reports_locked_and_rejects_valid_events(world):
    c = world.c
    c.ok("AGGREGATE:ARCHIVE", {"stream": "case.3"})
    expect_error(c("ADD", {"stream": "case.3", "events": [{"type": "noted", "data": {"note": "x"}}]}),
                 "LOCKED stream 'case.3' is archived")
    st = c.ok("AGGREGATE:GET", {"stream": "case.3"})
    assert st["archived"] is True and st["locked"] is True and st["state"] == fold(world.written["case.3"])
    # Restoring unlocks it; a lock of the aggregate type then still reports locked (not archived).
    c.ok("AGGREGATE:RESTORE", {"stream": "case.3"})
    c.ok("SCHEMA:ALTER", {"aggregate": "case", "lock": True})
    c.ok("SCHEMA:MIGRATE", {"apply": True})
    assert flags(c, "case.3") == (False, True)
    expect_error(c("ADD", {"stream": "case.3", "events": [{"type": "noted"}]}), "LOCKED aggregate 'case' is locked")
    world.unchanged(["case.3"])


# --- EVENT:ARCHIVE -------------------------------------------------------------------------------------

def test_event_archive_moves_events_but_keeps_the_stream_writable(world):
    c = world.c
    audit_count = len(audit(c))
    reply = c.ok("EVENT:ARCHIVE", {"stream": "case.2"})
    assert reply == {"moved": 12, "streams": 1}, reply
    new = audit(c)[audit_count:]
    assert [(e["type"], e["actor"]) for e in new] == [("events-archived", "master")], new
    world.unchanged()
    assert flags(c, "case.2") == (False, False)

    # New events go on as usual, readable and provable; already archived ones are not moved again.
    added = c.ok("ADD", {"stream": "case.2", "version": 12, "events": [{"type": "noted", "data": {"note": "after"}}] * 2})
    assert [e["version"] for e in added] == [13, 14]
    world.written["case.2"] += added
    assert c.ok("GET", {"stream": "case.2", "limit": 100}) == world.written["case.2"]
    for e in added:
        assert c.ok("EVENT:GET", {"hash": e["hash"]}) == e
    # Pages that span archived and new events, both directions.
    for v in range(0, 15):
        assert c.ok("GET", {"stream": "case.2", "version": v, "limit": 3}) == world.written["case.2"][v:v + 3], v
        assert c.ok("GET", {"stream": "case.2", "version": v + 1, "direction": "backward", "limit": 3}) == \
            world.written["case.2"][max(0, v - 3):v][::-1], v
    assert c.ok("EVENT:ARCHIVE", {"stream": "case.2"}) == {"moved": 2, "streams": 1}
    # Nothing left to move: K counts the streams whose events moved.
    assert c.ok("EVENT:ARCHIVE", {"stream": "case.2"}) == {"moved": 0, "streams": 0}
    assert len(audit(c)) == audit_count + 3
    world.refresh()
    check_independently(world.view, world.written)
    # The same after a restart (nothing from caches).
    world.c.close()
    assert world.server.stop() == 0
    world.server.start()
    world.c, world.r = Conn(world.server), world.server.client()
    c = world.c
    world.unchanged()

    # A stream with archived events can be restored: all of them move back; it was never locked.
    reply = c.ok("AGGREGATE:RESTORE", {"stream": "case.2"})
    assert reply == {"stream": "case.2", "version": 14, "archived": False, "moved": 14}, reply
    expect_error(c("AGGREGATE:RESTORE", {"stream": "case.2"}), "ERR stream 'case.2' is not archived")
    assert len(audit(c)) == audit_count + 4
    world.unchanged()

    # {"all":true}: every stream's events in one write. case.1 is archived (and locked) first: its
    # events are not counted again and it stays locked; the others stay writable.
    c.ok("AGGREGATE:ARCHIVE", {"stream": "case.1"})
    world.refresh()
    audit_count = len(audit(c))
    user_events = sum(len(v) for s, v in world.written.items() if s != "case.1")
    user_streams = len(world.written) - 1
    reply = c.ok("EVENT:ARCHIVE", {"all": True})
    assert set(reply) == {"moved", "streams"}, reply
    # Whether the system stream $audit counts as one of "every stream" is not settled: accept both.
    assert (reply["moved"], reply["streams"]) in {(user_events, user_streams),
                                                   (user_events + audit_count, user_streams + 1),
                                                   (user_events + audit_count + 1, user_streams + 1)}, reply
    assert len(audit(c)) == audit_count + 1 and audit(c)[-1]["type"] == "events-archived"
    world.unchanged()
    assert flags(c, "case.1") == (True, True)
    for s in ("case.2", "case.3", "other.1"):
        assert flags(c, s) == (False, False)
        [e] = c.ok("ADD", {"stream": s, "events": [{"type": "noted" if s.startswith("case") else "t"}]})
        assert e["version"] == len(world.written[s]) + 1
        assert c.ok("GET", {"stream": s, "version": len(world.written[s])}) == [e]
    expect_error(c("ADD", {"stream": "case.1", "events": [{"type": "noted"}]}), "LOCKED stream 'case.1' is archived")
    verify_all(c)


def test_archive_commands_through_redis_py_redis_cli_and_resp3(world):
    server = world.server
    r = server.client()
    assert json.loads(r.execute_command("AGGREGATE:ARCHIVE", j({"stream": "case.1"})))["archived"] is True
    out, code = server.cli("AGGREGATE:RESTORE", j({"stream": "case.1"}), resp3=True)
    assert code == 0 and json.loads(out) == {"stream": "case.1", "version": 30, "archived": False, "moved": 30}, out
    out, code = server.cli("EVENT:ARCHIVE", j({"stream": "case.3"}))
    assert code == 0 and json.loads(out) == {"moved": 5, "streams": 1}, out
    out, code = server.cli("--no-raw", "AGGREGATE:RESTORE", j({"stream": "case.1"}))
    assert out.strip() == "(error) ERR stream 'case.1' is not archived", out
    with pytest.raises(redis.ResponseError, match="^no such stream$"):  # redis-py strips "ERR "
        r.execute_command("AGGREGATE:ARCHIVE", j({"stream": "nope.1"}))
    rc = RawClient(server)
    assert isinstance(rc.call("HELLO", "3"), dict)
    for words in (("AGGREGATE:ARCHIVE", j({"stream": "case.2"})), ("AGGREGATE:RESTORE", j({"stream": "case.2"})),
                  ("EVENT:ARCHIVE", j({"all": True})), ("AGGREGATE:GET", j({"stream": "case.2"}))):
        reply = rc.call(*words)
        assert isinstance(reply, bytes) and isinstance(json.loads(reply), dict), (words, reply)
    reply = rc.call("AGGREGATE:ARCHIVE", j({"stream": "nope.1"}))
    assert isinstance(reply, RespError) and reply == "ERR no such stream", reply
    rc.close()
    world.unchanged()


# --- errors and permissions --------------------------------------------------------------------------

ARCHIVE_ERRORS = [
    ("AGGREGATE:ARCHIVE", [j({"stream": "nope.1"})], "ERR no such stream"),
    ("AGGREGATE:RESTORE", [j({"stream": "nope.1"})], "ERR no such stream"),
    ("EVENT:ARCHIVE", [j({"stream": "nope.1"})], "ERR no such stream"),
    ("AGGREGATE:RESTORE", [j({"stream": "case.3"})], "ERR stream 'case.3' is not archived"),
    ("AGGREGATE:ARCHIVE", [], "ERR"),
    ("AGGREGATE:ARCHIVE", ["{"], "ERR"),
    ("AGGREGATE:ARCHIVE", ["[]"], "ERR argument must be a JSON object"),
    ("AGGREGATE:ARCHIVE", [j({})], "ERR"),
    ("AGGREGATE:ARCHIVE", [j({"stream": 5})], "ERR"),
    ("AGGREGATE:ARCHIVE", [j({"stream": "case.3", "comment": 5})], "ERR"),
    ("AGGREGATE:ARCHIVE", [j({"stream": "case.3", "commnt": "x"})], "ERR unknown key 'commnt'"),
    ("AGGREGATE:ARCHIVE", [j({"stream": "a..b"})], "INVALID"),
    ("AGGREGATE:ARCHIVE", [j({"stream": "case.3"}), "{}"], "ERR"),
    ("AGGREGATE:RESTORE", [j({})], "ERR"),
    ("AGGREGATE:RESTORE", [j({"stream": "case.3", "all": True})], "ERR unknown key 'all'"),
    ("AGGREGATE:RESTORE", [j({"stream": "a..b"})], "INVALID"),
    ("EVENT:ARCHIVE", [j({})], "ERR"),
    ("EVENT:ARCHIVE", [], "ERR"),
    ("EVENT:ARCHIVE", [j({"all": "yes"})], "ERR"),
    ("EVENT:ARCHIVE", [j({"stream": "case.3", "comment": "x"})], "ERR unknown key 'comment'"),
    ("EVENT:ARCHIVE", [j({"stream": "a..b"})], "INVALID"),
]


def test_archive_command_errors_change_nothing(world):
    c = world.c
    c.ok("AGGREGATE:ARCHIVE", {"stream": "case.2"})
    before = fingerprint(c)
    for name, words, expected in ARCHIVE_ERRORS:
        expect_error(c(name, *words), expected, f"{name} {words}")
    expect_error(c("AGGREGATE:ARCHIVE", {"stream": "case.2"}), "ERR stream 'case.2' is already archived")
    assert fingerprint(c) == before, "a refused archive command wrote something"
    assert flags(c, "case.2") == (True, True) and flags(c, "case.3") == (False, False)
    world.unchanged()


def test_archive_commands_need_admin_rights_but_archived_events_stay_readable(world):
    c, server = world.c, world.server
    c.ok("AGGREGATE:ARCHIVE", {"stream": "case.2"})
    token = c.ok("TOKEN:GENERATE", {"expiration": 3600, "limit": 1000, "identifier_type": "npi", "identifier_id": "7",
                                    "permissions": {"read": [">"], "write": [">"], "admin": False}})["token"]
    key = c.ok("TOKEN:GENERATE", {"auth_key": True, "name": "app",
                                  "permissions": {"read": [">"], "write": [">"], "admin": False}})["auth_key"]
    admin = c.ok("TOKEN:GENERATE", {"expiration": 3600, "limit": 1000, "identifier_type": "npi", "identifier_id": "root",
                                    "permissions": {"read": [">"], "write": [">"], "admin": True}})["token"]
    before = fingerprint(c)
    for secret in (token, key, None):
        u = Conn(server, secret)
        code = "NOAUTH" if secret is None else "NOPERM"
        for name, arg in (("AGGREGATE:ARCHIVE", {"stream": "case.1"}), ("AGGREGATE:RESTORE", {"stream": "case.2"}),
                          ("EVENT:ARCHIVE", {"stream": "case.1"}), ("EVENT:ARCHIVE", {"all": True})):
            expect_error(u(name, arg), code, f"{name} {arg} as {secret}")
        if secret is not None:
            assert u.ok("GET", {"stream": "case.2", "limit": 100}) == world.written["case.2"]
            assert u.ok("AGGREGATE:GET", {"stream": "case.2"})["archived"] is True
            assert u.ok("VERIFY", {"stream": "case.2"})["ok"] is True
        u.close()
    assert fingerprint(c) == before
    assert flags(c, "case.1") == (False, False) and flags(c, "case.2") == (True, True)
    # A write refused because the stream is archived uses none of the token's budget.
    u = Conn(server, token)
    expect_error(u("ADD", {"stream": "case.2", "events": [{"type": "noted"}]}), "LOCKED stream 'case.2' is archived")
    assert u.ok("TOKEN:INFO")["writes_used"] == 0
    u.close()
    # An admin token may, and is the actor of the audit event.
    a = Conn(server, admin)
    assert a.ok("AGGREGATE:RESTORE", {"stream": "case.2"})["moved"] == 12
    last = audit(c)[-1]
    assert (last["type"], last["actor"]) == ("aggregate-restored", "npi:root"), last
    a.close()
    world.unchanged()


# --- ordering with concurrent writers, and the system stream ------------------------------------------

def test_moves_are_ordered_with_concurrent_adds(world):
    """Four connections append (pipelined) to their own stream and to case.hot while EVENT:ARCHIVE
    {"all":true} runs and then case.hot is archived: every acknowledged event is readable at once
    (GET, EVENT:GET) and after a restart; every stored event of case.hot precedes the archive's audit
    event, the reply's version is the number stored and RESTORE moves exactly those back; once a
    connection was refused it is never accepted again."""
    c, server = world.c, world.server
    c.ok("ADD", {"stream": "case.hot", "events": [{"type": "opened", "data": {"n": "0"}}]})
    cond, acked, stop = threading.Condition(), [0], threading.Event()
    outcomes, errors = {}, []

    def writer(i):
        try:
            r = redis.Redis(host="127.0.0.1", port=server.port, password=MASTER_KEY, decode_responses=True,
                            socket_timeout=60, single_connection_client=True)
            seen = outcomes.setdefault(i, [])
            while not stop.is_set() or "locked" not in [k for k, _ in seen]:
                p = r.pipeline(transaction=False)
                for k in range(4):
                    stream = "case.hot" if k % 2 else f"case.w{i}"
                    p.execute_command("ADD", j({"stream": stream, "events": [
                        {"type": "noted", "data": {"note": f"{i}/{len(seen)}/{k}"}}]}))
                for k, reply in enumerate(p.execute(raise_on_error=False)):
                    if isinstance(reply, redis.ResponseError):
                        assert k % 2 and str(reply) == "LOCKED stream 'case.hot' is archived", str(reply)
                        seen.append(("locked", None))
                    else:
                        seen.append(("stored", json.loads(reply[0])))
                        with cond:
                            acked[0] += 1
                            cond.notify_all()
                assert len(seen) < 40000, "the archive never took effect"
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(f"writer {i}: {e!r}")
            with cond:
                cond.notify_all()

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    try:
        with cond:
            assert cond.wait_for(lambda: acked[0] >= 200 or errors, 60), acked
        all_reply = c.ok("EVENT:ARCHIVE", {"all": True})
        with cond:
            assert cond.wait_for(lambda: acked[0] >= 400 or errors, 60), acked
        reply = c.ok("AGGREGATE:ARCHIVE", {"stream": "case.hot"})
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert all_reply["moved"] >= 200, all_reply

    def check_reads():
        stored = {}
        for i, seen in outcomes.items():
            for k, e in seen:
                if k == "stored":
                    stored.setdefault(e["stream"], []).append(e)
        for stream, events in stored.items():
            got = c.ok("GET", {"stream": stream, "limit": 10000})
            if stream == "case.hot":
                got = got[1:]
                events = sorted(events, key=lambda e: e["version"])
            assert got == events, f"{stream}: acknowledged events differ from GET"
        for e in [e for evs in stored.values() for e in evs][::25]:
            assert c.ok("EVENT:GET", {"id": e["id"]}) == e
        verify_all(c)
        return c.ok("GET", {"stream": "case.hot", "limit": 10000})

    hot = check_reads()
    [archived_event] = [e for e in audit(c) if e["type"] == "aggregate-archived"]
    assert reply == {"stream": "case.hot", "version": len(hot), "archived": True, "moved": reply["moved"]}, reply
    assert 1 <= reply["moved"] <= len(hot)  # those EVENT:ARCHIVE moved already are not counted
    assert all(e["position"] < archived_event["position"] for e in hot)
    for i, seen in outcomes.items():
        hot_kinds = [k for k, e in seen if k == "locked" or e["stream"] == "case.hot"]
        assert "stored" not in hot_kinds[hot_kinds.index("locked"):], f"writer {i}: case.hot stored after LOCKED"
    world.c.close()
    assert server.stop() == 0
    server.start()
    world.c, world.r = Conn(server), server.client()
    c = world.c
    assert check_reads() == hot
    assert c.ok("AGGREGATE:RESTORE", {"stream": "case.hot"})["moved"] == len(hot)
    verify_all(c)


def test_system_streams_cannot_be_archived_or_restored_and_control_actions_go_on(world):
    """AGGREGATE:ARCHIVE / RESTORE of a `$` stream is NOPERM (even for the master key); EVENT:ARCHIVE
    may move its events, and control actions keep being recorded in it afterwards."""
    c = world.c
    before = fingerprint(c)
    expect_error(c("AGGREGATE:ARCHIVE", {"stream": "$audit"}), "NOPERM")
    expect_error(c("AGGREGATE:RESTORE", {"stream": "$audit"}), "NOPERM")
    assert fingerprint(c) == before
    audit_before = audit(c)
    c.ok("EVENT:ARCHIVE", {"all": True})
    c.ok("TOKEN:GENERATE", {"expiration": 60, "limit": 1, "identifier_type": "npi", "identifier_id": "after"})
    c.ok("AGGREGATE:ARCHIVE", {"stream": "case.3"})
    c.ok("AGGREGATE:RESTORE", {"stream": "case.3"})
    c.ok("SCHEMA:ALTER", {"aggregate": "case", "snapshot_threshold": 3})
    c.ok("SCHEMA:MIGRATE", {"apply": True})
    after = audit(c)
    assert after[:len(audit_before)] == audit_before
    assert [e["type"] for e in after[len(audit_before):]] == [
        "events-archived", "token-generated", "aggregate-archived", "aggregate-restored", "schema-migrated"]
    assert flags(c, "$audit") == (False, False)
    world.unchanged()


def test_a_background_snapshot_folds_archived_events_too(world):
    """A threshold set on a long stream whose events were moved by EVENT:ARCHIVE: the first crossing
    folds them all on a background thread (more than 1,000 events); the snapshot holds the state."""
    c, r = world.c, world.r
    p = r.pipeline(transaction=False)
    for first in range(0, 2500, 500):
        p.execute_command("ADD", j({"stream": "long.1", "events": [
            {"type": "set", "data": {"n": str(first + i), "k": f"k{(first + i) % 7}"}} for i in range(500)]}))
    p.execute()
    assert c.ok("EVENT:ARCHIVE", {"stream": "long.1"})["moved"] == 2500
    c.ok("SCHEMA:CREATE", {"aggregate": "long", "events": {"set": {"fields": ["k", "n", "x"]}}, "snapshot_threshold": 100})
    c.ok("SCHEMA:MIGRATE", {"apply": True})
    c.ok("ADD", {"stream": "long.1", "events": [{"type": "set", "data": {"x": str(i), "k": None}} for i in range(100)]})
    # The one wait in this module: for the background snapshot, by asking (no sleeping).
    deadline = time.monotonic() + 30
    while not c.ok("AGGREGATE:SNAPSHOTS", {"stream": "long.1"}):
        assert time.monotonic() < deadline, "the background snapshot at 2600 never appeared"
    assert [x["version"] for x in c.ok("AGGREGATE:SNAPSHOTS", {"stream": "long.1"})] == [2600]
    stored = c.ok("GET", {"stream": "long.1", "limit": 10000})
    st = c.ok("AGGREGATE:GET", {"stream": "long.1"})
    assert st["snapshot_version"] == 2600 and st["state"] == fold(stored), st
    c.ok("AGGREGATE:ARCHIVE", {"stream": "long.1"})
    assert c.ok("AGGREGATE:GET", {"stream": "long.1"}) == st | {"archived": True, "locked": True}
    verify_all(c)
