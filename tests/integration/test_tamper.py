"""Tamper detection (INTEGRITY.md; PROTOCOL.md §6 VERIFY, PROOF, CONSISTENCY, TREEHEAD and §8).

Each test writes events to several streams, interleaved so that the global log's tree differs
from every stream's tree, with one stream of 45 events so that stored interior nodes (level >= 4)
exist in both kinds of tree. A client remembers the signed tree heads and CHECKSUM; the server is
stopped; tests/tools/eventful_tamper edits the RocksDB store directly, as someone with disk access
could; the server is started again and the edit must be caught by the check meant for it:

| edit                                 | caught by                                                   |
|--------------------------------------|-------------------------------------------------------------|
| flip one byte of an event's data     | VERIFY (stream and store): content does not match `hash`    |
| edit an event and rewrite its `hash` | VERIFY: recomputed root differs from the recorded root      |
| ... and rewrite every root and node  | NOT by VERIFY (it must say ok: the store is consistent);    |
|                                      | by a remembered tree head + CONSISTENCY (and PROOF)         |
| delete a stream's last event         | VERIFY; GET and PROOF of it answer ERR                      |
| swap two events of a stream          | VERIFY; PROOF of a swapped version fails verification       |
| overwrite a stored interior node     | VERIFY (interior nodes are checked); PROOF through it fails |
| flip bytes inside an SST file        | RocksDB block checksums: ERR naming corruption, no crash    |

Proofs are checked by rfc9162.py (hashlib only, with its own self-test), never by the server's code.
"""
import hashlib
import json
import random
import re
import subprocess

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from harness import BIN_DIR, RawClient, RespError, Server
from integrity_model import leaf_hash, merkle_root
from rfc9162 import verify_consistency, verify_inclusion

TAMPER = BIN_DIR / "eventful_tamper"
BIG = "big.1"             # 45 events: stored nodes at level 4 (leaves 0-15, 16-31) and 5 (0-31)
SMALL = ["acct.1", "acct.2"]
STREAMS = [BIG, *SMALL]
HEX64 = re.compile(r"[0-9a-f]{64}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
VERIFY_OK_STREAM = {"ok", "stream", "version", "root"}
VERIFY_BAD_STREAM = {"ok", "stream", "first_bad_version", "reason"}
VERIFY_STORE = {"ok", "events", "streams", "root", "bad"}
PROOF_KEYS = {"stream", "leaf_index", "tree_size", "leaf_hash", "root", "path"}
CONSISTENCY_KEYS = {"stream", "from", "to", "from_root", "to_root", "path"}
TREEHEAD_KEYS = {"stream", "tree_size", "root", "timestamp", "key_id", "public_key", "signature"}


# --- talking to the server ----------------------------------------------------------------------

def call(rc, *args):
    """One command; a bulk reply is decoded as JSON, an error is returned as RespError."""
    reply = rc.call(*args)
    if isinstance(reply, bytes):
        return json.loads(reply)
    return reply


def add(rc, stream, n, first):
    """ADD n events to `stream`; returns their stored JSON exactly as the server sent it."""
    events = [{"type": "noted", "data": {"n": str(first + i), "who": "alice", "note": f"entry {first + i}"}}
              for i in range(n)]
    reply = rc.call("ADD", json.dumps({"stream": stream, "events": events}))
    assert isinstance(reply, list) and len(reply) == n, reply
    return [e.decode() for e in reply]


def populate(rc):
    """The interleaved data set: 45 events in BIG, 12 in acct.1, 8 in acct.2, 65 in the log."""
    written = {s: [] for s in STREAMS}
    for i in range(45):
        written[BIG] += add(rc, BIG, 1, i)
        if i % 4 == 0:
            written["acct.1"] += add(rc, "acct.1", 1, i)
        if i % 6 == 0:
            written["acct.2"] += add(rc, "acct.2", 1, i)
    return written


def check_tree_head(head, stream):
    """Shape of a TREEHEAD reply (PROTOCOL.md §8) and its Ed25519 signature."""
    assert set(head) == (TREEHEAD_KEYS if stream else TREEHEAD_KEYS - {"stream"}), head
    if stream:
        assert head["stream"] == stream
    assert HEX64.fullmatch(head["root"]) and HEX64.fullmatch(head["public_key"]), head
    assert re.fullmatch(r"[0-9a-f]{128}", head["signature"]) and TIMESTAMP.fullmatch(head["timestamp"]), head
    assert head["key_id"] == hashlib.sha256(bytes.fromhex(head["public_key"])).hexdigest()[:16]
    signed = {"root": head["root"], "timestamp": head["timestamp"], "tree_size": head["tree_size"]}
    if stream:
        signed["stream"] = stream
    message = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(head["public_key"])).verify(
            bytes.fromhex(head["signature"]), message)
    except InvalidSignature:
        pytest.fail(f"tree head signature does not verify: {head}")


def tree_head(rc, stream=None):
    head = call(rc, "TREEHEAD", json.dumps({"stream": stream} if stream else {}))
    assert not isinstance(head, RespError), head
    check_tree_head(head, stream)
    return head


def proof(rc, arg):
    """PROOF reply, shape-checked; a RespError is returned as is."""
    reply = call(rc, "PROOF", json.dumps(arg))
    if isinstance(reply, RespError):
        return reply
    assert set(reply) == (PROOF_KEYS if "stream" in arg else PROOF_KEYS - {"stream"}), reply
    assert all(HEX64.fullmatch(h) for h in [reply["leaf_hash"], reply["root"], *reply["path"]]), reply
    return reply


def consistency(rc, arg):
    reply = call(rc, "CONSISTENCY", json.dumps(arg))
    if isinstance(reply, RespError):
        return reply
    assert set(reply) == (CONSISTENCY_KEYS if "stream" in arg else CONSISTENCY_KEYS - {"stream"}), reply
    assert reply["from"] == arg["from"]
    assert all(HEX64.fullmatch(h) for h in [reply["from_root"], reply["to_root"], *reply["path"]]), reply
    return reply


def verify_stream(rc, stream):
    report = call(rc, "VERIFY", json.dumps({"stream": stream}))
    assert not isinstance(report, RespError), report
    assert set(report) == (VERIFY_OK_STREAM if report["ok"] is True else VERIFY_BAD_STREAM), report
    assert report["stream"] == stream
    return report


def verify_store(rc):
    report = call(rc, "VERIFY", "{}")
    assert not isinstance(report, RespError), report
    assert set(report) == VERIFY_STORE and isinstance(report["ok"], bool), report
    return report


def tamper(server, command, *args):
    """Runs eventful_tamper on the stopped server's store."""
    assert server.proc is None, "tamper only with a stopped server"
    # The store is encrypted: the tool gets the DEK the server runs with (EVENTFUL_DEK).
    r = subprocess.run([str(TAMPER), command, str(server.data_dir / "db"), *map(str, args)],
                       capture_output=True, text=True, timeout=300, env=server.env)
    assert r.returncode == 0, f"eventful_tamper {command} {args} failed: {r.stderr}"
    return r.stdout


def inclusion_holds(p, remembered):
    return verify_inclusion(p["leaf_index"], p["tree_size"], p["leaf_hash"], p["path"], remembered["root"])


# --- the common setup ---------------------------------------------------------------------------

class Remembered:
    """A store with the data set written, and what a careful client remembered about it."""

    def __init__(self, server):
        self.server = server
        with RawClient(server) as rc:
            self.written = populate(rc)
            self.checksum = rc.call("CHECKSUM")
            self.log_head = tree_head(rc)
            self.stream_heads = {s: tree_head(rc, s) for s in STREAMS}
            # The untouched store: everything verifies, and so do the proofs (controls for the
            # failures asserted after the edits).
            assert verify_store(rc)["ok"] is True
            assert all(verify_stream(rc, s)["ok"] is True for s in STREAMS)
            p = proof(rc, {"stream": BIG, "version": 20})
            assert inclusion_holds(p, self.stream_heads[BIG]), p
            p = proof(rc, {"position": 20})
            assert inclusion_holds(p, self.log_head), p
            c = consistency(rc, {"from": 20, "to": self.log_head["tree_size"]})
        log = [json.loads(e) for s in STREAMS for e in self.written[s]]
        log.sort(key=lambda e: e["position"])
        assert c["from_root"] == merkle_root([leaf_hash(e) for e in log[:20]]), c
        assert verify_consistency(20, 65, c["from_root"], self.log_head["root"], c["path"]), c
        assert self.checksum == [log[-1]["id"].encode(), merkle_root([leaf_hash(e) for e in log]).encode(), 65]
        assert self.log_head["tree_size"] == 65 and self.log_head["root"] == self.checksum[1].decode()
        big = [json.loads(e) for e in self.written[BIG]]
        assert self.stream_heads[BIG]["root"] == merkle_root([leaf_hash(e) for e in big])
        assert self.server.stop() == 0

    def restart(self):
        self.server.start()
        return RawClient(self.server)


@pytest.fixture
def store():
    server = Server().start()
    try:
        yield Remembered(server)
        if server.proc is not None:
            assert server.proc.poll() is None, "server died:\n" + "".join(server.output)
            assert server.stop() == 0, "server did not shut down cleanly:\n" + "".join(server.output)
    finally:
        server.cleanup()


def bad_streams(report):
    return {b.get("stream") for b in report["bad"]}


# --- the edits ----------------------------------------------------------------------------------

def test_a_flipped_data_byte_fails_verify(store):
    tamper(store.server, "flip-data", BIG, 10)
    with store.restart() as rc:
        report = verify_stream(rc, BIG)
        assert report["ok"] is False and report["first_bad_version"] == 10, report
        assert verify_stream(rc, "acct.1")["ok"] is True
        report = verify_store(rc)
        assert report["ok"] is False and BIG in bad_streams(report), report
        # A client reading the event sees content that no longer matches its hash.
        [raw] = rc.call("GET", json.dumps({"stream": BIG, "version": 9, "limit": 1}))
        event = json.loads(raw)
        assert raw.decode() != store.written[BIG][9] and leaf_hash(event) != event["hash"]


def test_an_edited_event_with_a_recomputed_hash_fails_verify(store):
    tamper(store.server, "edit-event", BIG, 10, "who", "mallory", "--rehash-event")
    with store.restart() as rc:
        report = verify_stream(rc, BIG)
        # Caught where the recomputed tree first disagrees with a stored record: the interior node
        # over leaves 0-15 (first_bad_version 16), or else the stream root.
        assert report["ok"] is False and 10 <= report["first_bad_version"] <= 45, report
        assert "node" in report["reason"] or "root" in report["reason"], report
        report = verify_store(rc)
        assert report["ok"] is False and BIG in bad_streams(report), report
        # The event is self-consistent now, but it is not the leaf the remembered root commits to.
        [raw] = rc.call("GET", json.dumps({"stream": BIG, "version": 9, "limit": 1}))
        event = json.loads(raw)
        assert event["data"]["who"] == "mallory" and leaf_hash(event) == event["hash"]
        p = proof(rc, {"stream": BIG, "version": 10})
        assert isinstance(p, RespError) or not inclusion_holds(p, store.stream_heads[BIG]), p


def test_a_consistent_rewrite_passes_verify_but_not_a_remembered_tree_head(store):
    tamper(store.server, "edit-event", BIG, 10, "who", "mallory", "--rehash-event", "--rehash-all")
    with store.restart() as rc:
        # Expected: every hash, root and node on disk agrees with the content, so VERIFY, which
        # trusts nothing stored but has nothing older to compare with, finds the store consistent.
        report = verify_store(rc)
        assert report["ok"] is True and report["bad"] == [] and report["events"] == 65, report
        assert verify_stream(rc, BIG)["ok"] is True
        assert rc.call("CHECKSUM")[1] != store.checksum[1]

        # The log: the history the client saw at tree_size 65 was rewritten.
        size = store.log_head["tree_size"]
        c = consistency(rc, {"from": size})
        assert c["to"] == size and c["from_root"] != store.log_head["root"], c
        assert not verify_consistency(size, c["to"], store.log_head["root"], c["to_root"], c["path"]), c
        # ... and stays detectable after the log has grown.
        more = add(rc, "acct.1", 3, 100) + add(rc, BIG, 2, 100)
        assert [json.loads(e)["position"] for e in more] == list(range(66, 71))
        c = consistency(rc, {"from": size})
        assert c["to"] == 70, c
        assert not verify_consistency(size, 70, store.log_head["root"], c["to_root"], c["path"]), c
        # An earlier, untouched prefix still checks out: the proof machinery itself is sound.
        c = consistency(rc, {"from": 8, "to": 70})
        assert verify_consistency(8, 70, c["from_root"], c["to_root"], c["path"]), c
        head = tree_head(rc)
        assert head["tree_size"] == 70 and head["root"] == c["to_root"]

        # The stream: the same, against the remembered stream tree head.
        remembered = store.stream_heads[BIG]
        c = consistency(rc, {"stream": BIG, "from": remembered["tree_size"]})
        assert c["stream"] == BIG and c["to"] == 47 and c["from_root"] != remembered["root"], c
        assert not verify_consistency(45, 47, remembered["root"], c["to_root"], c["path"]), c
        p = proof(rc, {"stream": BIG, "version": 10, "tree_size": 45})
        assert not isinstance(p, RespError) and not inclusion_holds(p, remembered), p
        # A stream the rewrite did not touch still proves consistent with its remembered head.
        small = store.stream_heads["acct.2"]
        c = consistency(rc, {"stream": "acct.2", "from": small["tree_size"]})
        assert verify_consistency(small["tree_size"], c["to"], small["root"], c["to_root"], c["path"]), c


def test_a_deleted_last_event_fails_verify_and_reads(store):
    tamper(store.server, "delete-last", BIG)
    with store.restart() as rc:
        report = verify_stream(rc, BIG)
        assert report["ok"] is False and report["first_bad_version"] == 45, report
        assert "missing" in report["reason"], report
        report = verify_store(rc)
        assert report["ok"] is False and report["bad"], report
        reply = rc.call("GET", json.dumps({"stream": BIG, "version": 40}))
        assert isinstance(reply, RespError) and reply.code == "ERR" and "corruption" in reply, reply
        reply = rc.call("GET", json.dumps({"stream": BIG, "direction": "backward", "limit": 1}))
        assert isinstance(reply, RespError) and "corruption" in reply, reply
        reply = proof(rc, {"stream": BIG, "version": 45})
        assert isinstance(reply, RespError) and reply.code == "ERR", reply
        # Events before it are intact.
        assert [e.decode() for e in rc.call("GET", json.dumps({"stream": BIG, "limit": 44}))] == store.written[BIG][:44]


def test_swapped_events_fail_verify_and_proof(store):
    tamper(store.server, "swap", BIG, 3, 7)
    with store.restart() as rc:
        report = verify_stream(rc, BIG)
        assert report["ok"] is False and report["first_bad_version"] == 3, report
        report = verify_store(rc)
        assert report["ok"] is False and BIG in bad_streams(report), report
        for version in (3, 7):
            p = proof(rc, {"stream": BIG, "version": version})
            assert isinstance(p, RespError) or not inclusion_holds(p, store.stream_heads[BIG]), p


@pytest.mark.parametrize("tree", ["stream", "log"])
def test_an_overwritten_interior_node_fails_verify_and_proof(store, tree):
    # Node (level 4, index 0) covers leaves 0-15; it is on the path of leaf 19 (sibling of 16-31).
    tamper(store.server, "set-node", BIG if tree == "stream" else "log", 4, 0)
    with store.restart() as rc:
        if tree == "stream":
            p = proof(rc, {"stream": BIG, "version": 20})
            assert isinstance(p, RespError) or not inclusion_holds(p, store.stream_heads[BIG]), p
            report = verify_stream(rc, BIG)
            assert report["ok"] is False, report
        else:
            p = proof(rc, {"position": 20})
            assert isinstance(p, RespError) or not inclusion_holds(p, store.log_head), p
            assert all(verify_stream(rc, s)["ok"] is True for s in STREAMS)
        report = verify_store(rc)
        assert report["ok"] is False and report["bad"], report


# --- a corrupted file -----------------------------------------------------------------------------

def test_a_corrupted_sst_file_is_reported_not_served():
    server = Server().start()
    try:
        written = {}
        with RawClient(server) as rc:
            for s in range(8):
                stream = f"bulk.{s}"
                written[stream] = []
                for batch in range(3):
                    events = [{"type": "noted", "data": {"n": str(i), "pad": f"{stream} {i} " + "x" * 300}}
                              for i in range(batch * 100, batch * 100 + 100)]
                    reply = rc.call("ADD", json.dumps({"stream": stream, "events": events}))
                    assert isinstance(reply, list) and len(reply) == 100, reply
                    written[stream] += [e.decode() for e in reply]
            checksum = rc.call("CHECKSUM")
        assert server.stop() == 0

        tamper(server, "compact")
        files = tamper(server, "sst-files", "events").split()
        assert files, "no SST file holds the events column family"
        path = max(files, key=lambda f: len(open(f, "rb").read()))
        data = bytearray(open(path, "rb").read())
        assert len(data) > 100_000, len(data)
        rnd = random.Random(9162)
        for offset in sorted(rnd.sample(range(len(data) // 4, len(data) * 3 // 4), 6)):
            data[offset] ^= rnd.randrange(1, 256)
        with open(path, "wb") as f:
            f.write(data)

        server.start()
        with RawClient(server) as rc:
            assert rc.call("PING") == "PONG"
            report = call(rc, "VERIFY", "{}")
            if isinstance(report, RespError):
                assert report.code == "ERR" and "corruption" in report.lower(), report
            else:
                assert set(report) == VERIFY_STORE and report["ok"] is False, report
            errors = 0
            for stream, events in written.items():
                got = []
                while len(got) < len(events):
                    reply = rc.call("GET", json.dumps({"stream": stream, "version": len(got), "limit": 50}))
                    if isinstance(reply, RespError):
                        assert reply.code == "ERR" and "corruption" in reply.lower(), reply
                        errors += 1
                        break
                    assert reply, f"GET {stream} after {len(got)} returned nothing"
                    got += [e.decode() for e in reply]
                assert got == events[:len(got)], f"{stream}: an event came back altered"
                assert rc.call("PING") == "PONG"
            assert errors > 0, "no read met the corrupted blocks"
            assert rc.call("CHECKSUM") == checksum
            assert server.proc.poll() is None, "server died:\n" + "".join(server.output)
        with RawClient(server) as rc:  # a new connection is served too
            assert rc.call("PING") == "PONG"
        assert server.proc.poll() is None
    finally:
        server.cleanup()
