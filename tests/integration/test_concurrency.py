"""Many clients at once (PROTOCOL.md §6 ADD, §8 ADD): optimistic concurrency on one stream,
gap-free versions and positions under load, batches never interleaved, concurrent idempotent
retries stored once, VERIFY afterwards, and everything intact across a restart.

Threads start together at a barrier after their connections are open and authenticated, so the
commands really are in flight at the same time; results are collected with joins, never sleeps.
"""
import json
import random
import shutil
import tempfile
import threading

from harness import RawClient, RespError, Server
from integrity_model import leaf_hash, merkle_root


def run_together(server, n, work):
    """Runs work(i, client) in n threads, each with its own authenticated raw connection, all
    released at once by a barrier. Returns the n results; re-raises the first thread error."""
    results, errors = [None] * n, []
    barrier = threading.Barrier(n)
    clients = [RawClient(server) for _ in range(n)]

    def body(i):
        try:
            barrier.wait(timeout=60)
            results[i] = work(i, clients[i])
        except BaseException as e:  # noqa: BLE001 - reported to the main thread below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
        assert not t.is_alive(), "a client thread hung"
    for c in clients:
        c.close()
    if errors:
        raise errors[0]
    return results


def add_reply(reply):
    return reply if isinstance(reply, RespError) else [json.loads(e) for e in reply]


def all_events(c):
    out, offset = [], 0
    while True:
        page = [json.loads(e) for e in c.call("GETALL", json.dumps({"offset": offset, "limit": 10000}))]
        if not page:
            return out
        out += page
        offset = page[-1]["position"]


def stream_events(c, stream):
    out, version = [], 0
    while True:
        page = [json.loads(e) for e in c.call("GET", json.dumps({"stream": stream, "version": version, "limit": 10000}))]
        if not page:
            return out
        out += page
        version = page[-1]["version"]


# --- optimistic concurrency ----------------------------------------------------------------------


def test_same_expected_version_from_20_clients_exactly_one_wins(shared_server):
    stream = "race.patient.1"
    with RawClient(shared_server) as c:
        seeded = add_reply(c.call("ADD", json.dumps({"stream": stream, "events": [{"type": "seed"}] * 3})))
        assert [e["version"] for e in seeded] == [1, 2, 3]
    version = 3
    for round_ in range(5):
        arg = lambda i: json.dumps({"stream": stream, "version": version,
                                    "events": [{"type": "claim", "data": {"client": str(i), "round": str(round_)}}]})
        replies = run_together(shared_server, 20, lambda i, c: add_reply(c.call("ADD", arg(i))))
        winners = [r for r in replies if not isinstance(r, RespError)]
        losers = [r for r in replies if isinstance(r, RespError)]
        assert len(winners) == 1, replies
        assert [e["version"] for e in winners[0]] == [version + 1]
        expected = f"CONFLICT expected version {version} but stream '{stream}' is at version {version + 1}"
        assert losers == [expected] * 19, losers
        version += 1
        with RawClient(shared_server) as c:
            events = stream_events(c, stream)
            assert [e["version"] for e in events] == list(range(1, version + 1))
            assert events[-1] == winners[0][0]


def test_multi_event_batches_with_the_same_expected_version(shared_server):
    stream = "race.batch"
    replies = run_together(shared_server, 12, lambda i, c: add_reply(c.call("ADD", json.dumps(
        {"stream": stream, "version": 0, "events": [{"type": f"c{i}"}] * 5}))))
    winners = [r for r in replies if not isinstance(r, RespError)]
    assert len(winners) == 1, replies
    assert all(r == f"CONFLICT expected version 0 but stream '{stream}' is at version 5"
               for r in replies if isinstance(r, RespError)), replies
    with RawClient(shared_server) as c:
        assert stream_events(c, stream) == winners[0]


# --- gap-free versions and positions under load --------------------------------------------------


def load(server, threads=8, per_thread=200, seed=7):
    """threads × per_thread ADDs with "any": single-stream to a shared stream, to a private one,
    and multi-stream ADDs touching both. Returns every ADD's reply, per thread, in order."""
    def work(t, c):
        rng = random.Random(seed * 1000 + t)
        replies = []
        for i in range(per_thread):
            kind = i % 3
            n = rng.randint(1, 4)
            if kind == 0:
                arg = {"stream": "load.shared", "version": "any",
                       "events": [{"type": "shared", "data": {"t": str(t), "i": str(i), "k": str(k)}} for k in range(n)]}
            elif kind == 1:
                arg = {"stream": f"load.private.{t}",
                       "events": [{"type": "private", "data": {"t": str(t), "i": str(i), "k": str(k)}} for k in range(n)]}
            else:
                arg = {"streams": [
                    {"stream": "load.shared", "version": "any", "events": [{"type": "both", "data": {"t": str(t), "i": str(i)}}]},
                    {"stream": f"load.private.{t}", "events": [{"type": "both", "data": {"t": str(t), "i": str(i), "k": str(k)}}
                                                               for k in range(n)]}]}
            reply = add_reply(c.call("ADD", json.dumps(arg)))
            assert not isinstance(reply, RespError), reply
            replies.append(reply)
        return replies

    return run_together(server, threads, work)


def check_log(c, per_thread_replies):
    batches = [b for replies in per_thread_replies for b in replies]
    total = sum(len(b) for b in batches)
    log = all_events(c)
    # Global positions 1..total, no gaps, no duplicates; every acknowledged event is in the log.
    assert [e["position"] for e in log] == list(range(1, total + 1))
    by_position = {e["position"]: e for e in log}
    for batch in batches:
        positions = [e["position"] for e in batch]
        assert positions == list(range(positions[0], positions[0] + len(batch))), positions
        assert [by_position[p] for p in positions] == batch  # the log holds exactly this batch there
        assert len({e["added_at"] for e in batch}) == 1
    # Per-stream versions 1..N without gaps; each thread's own stream in its own order.
    streams = {}
    for e in log:
        streams.setdefault(e["stream"], []).append(e)
    for name, events in streams.items():
        assert [e["version"] for e in events] == list(range(1, len(events) + 1)), name
        assert stream_events(c, name) == events
    for t, replies in enumerate(per_thread_replies):
        mine = [e for b in replies for e in b if e["stream"] == f"load.private.{t}"]
        assert [e["version"] for e in mine] == list(range(1, len(mine) + 1))
    for e in log:
        assert e["hash"] == leaf_hash(e)
    return log, streams


def test_concurrent_adds_leave_versions_and_positions_gap_free(server):
    per_thread = load(server)
    with RawClient(server) as c:
        log, streams = check_log(c, per_thread)
        assert c.call("EVENTCOUNT") == len(log)
        assert c.call("STREAMCOUNT") == len(streams) == 9
        root = merkle_root([e["hash"] for e in log])
        assert c.call("CHECKSUM") == [log[-1]["id"].encode(), root.encode(), len(log)]
        report = json.loads(c.call("VERIFY", "{}"))
        assert report == {"ok": True, "events": len(log), "streams": 9, "root": root, "bad": []}
        for name, events in streams.items():
            report = json.loads(c.call("VERIFY", json.dumps({"stream": name})))
            assert report == {"ok": True, "stream": name, "version": len(events),
                              "root": merkle_root([e["hash"] for e in events])}


# --- concurrent idempotent retries ---------------------------------------------------------------


def test_concurrent_identical_retries_store_once(shared_server):
    with RawClient(shared_server) as c:
        for round_ in range(10):
            before = c.call("EVENTCOUNT")
            request = json.dumps({"streams": [
                {"stream": "retry.order", "events": [{"id": f"retry-{round_}-a", "type": "placed"},
                                                     {"id": f"retry-{round_}-b", "type": "paid"}]},
                {"stream": "retry.invoice", "events": [{"id": f"retry-{round_}-c", "type": "issued"}]}]})
            replies = run_together(shared_server, 8, lambda i, cl: add_reply(cl.call("ADD", request)))
            assert all(not isinstance(r, RespError) for r in replies), replies
            assert all(r == replies[0] for r in replies), replies
            assert [e["id"] for e in replies[0]] == [f"retry-{round_}-a", f"retry-{round_}-b", f"retry-{round_}-c"]
            assert c.call("EVENTCOUNT") == before + 3
            for e in replies[0]:
                assert json.loads(c.call("EVENT:GET", json.dumps({"id": e["id"]}))) == e
        order = stream_events(c, "retry.order")
        assert [e["version"] for e in order] == list(range(1, 21))
        report = json.loads(c.call("VERIFY", "{}"))
        assert report["ok"] is True and report["bad"] == []


def test_concurrent_retries_with_different_content_store_one_and_conflict_the_rest(shared_server):
    replies = run_together(shared_server, 8, lambda i, c: add_reply(c.call("ADD", json.dumps(
        {"stream": "retry.clash", "events": [{"id": "clash-1", "type": "t", "data": {"writer": str(i)}}]}))))
    winners = [r for r in replies if not isinstance(r, RespError)]
    assert len(winners) == 1, replies
    assert all(r.code == "CONFLICT" for r in replies if isinstance(r, RespError)), replies
    with RawClient(shared_server) as c:
        assert stream_events(c, "retry.clash") == winners[0]


# --- restart -------------------------------------------------------------------------------------


def snapshot(c):
    return {
        "eventcount": c.call("EVENTCOUNT"),
        "streamcount": c.call("STREAMCOUNT"),
        "checksum": c.call("CHECKSUM"),
        "verify": json.loads(c.call("VERIFY", "{}")),
        "aggregates": [json.loads(x) for x in c.call("AGGREGATE:LIST", '{"limit":10000}')],
        "log": all_events(c),
    }


def test_restart_keeps_everything():
    data_dir = tempfile.mkdtemp(prefix="eventful-restart-")
    first = second = None
    try:
        first = Server(data_dir=data_dir).start()
        per_thread = load(first, threads=4, per_thread=60, seed=11)
        with RawClient(first) as c:
            check_log(c, per_thread)
            before = snapshot(c)
        assert before["verify"]["ok"] is True
        assert first.stop() == 0, "".join(first.output)
        second = Server(data_dir=data_dir).start()
        with RawClient(second) as c:
            after = snapshot(c)
            assert after == before
            # The log continues where it stopped: next position, next versions.
            added = add_reply(c.call("ADD", json.dumps({"stream": "load.shared", "events": [{"type": "after-restart"}]})))
            shared = [a for a in before["aggregates"] if a["stream"] == "load.shared"][0]
            assert added[0]["position"] == before["eventcount"] + 1
            assert added[0]["version"] == shared["version"] + 1
            for old in (before["log"][0], before["log"][-1]):
                assert json.loads(c.call("EVENT:GET", json.dumps({"hash": old["hash"]}))) == old
            assert json.loads(c.call("VERIFY", "{}"))["ok"] is True
        assert second.stop() == 0, "".join(second.output)
    finally:
        for s in (first, second):
            if s is not None:
                s.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_idempotent_replay_survives_a_restart():
    data_dir = tempfile.mkdtemp(prefix="eventful-restart-")
    servers = []
    try:
        s = Server(data_dir=data_dir).start()
        servers.append(s)
        request = json.dumps({"stream": "restart.idem", "version": 0,
                              "events": [{"id": "restart-idem-1", "type": "t"}, {"id": "restart-idem-2", "type": "t"}]})
        with RawClient(s) as c:
            stored = add_reply(c.call("ADD", request))
            c.call("ADD", json.dumps({"stream": "restart.idem", "events": [{"type": "moved-on"}]}))
        assert s.stop() == 0
        s = Server(data_dir=data_dir).start()
        servers.append(s)
        with RawClient(s) as c:
            count = c.call("EVENTCOUNT")
            assert add_reply(c.call("ADD", request)) == stored
            assert c.call("EVENTCOUNT") == count == 3
        assert s.stop() == 0
    finally:
        for s in servers:
            s.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)
