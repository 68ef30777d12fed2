"""Merkle proofs checked by independent code (INTEGRITY.md "Proofs" and "Signed tree heads";
PROTOCOL.md §6 PROOF/CONSISTENCY/TREEHEAD, §8 "Integrity commands" and "Errors").

Every proof the server hands out is verified by rfc9162.py (hashlib only, RFC 9162 §2.1.3.2 and
§2.1.4.2, itself checked against reference PATH/SUBPROOF builders), and every root it names is
compared with the RFC 6962 Merkle Tree Hash of leaf hashes recomputed from the events' content by
integrity_model.py — never with a hash or root the server computed. Tree-head signatures are
checked with an Ed25519 implementation that is not the server's (python3-cryptography).

- A small log: streams of 1…70 events written interleaved. Every version, every past tree size,
  every consistency pair of every stream; every position and the first 70 sizes of the global log
  exhaustively, the rest by a seeded sample.
- A 100,000-event log over a few hundred streams: a seeded sample of inclusion and consistency
  proofs, stream and global, current and past sizes.
- Tree heads, errors (exact codes through a raw socket: redis-py strips them), and proofs for old
  sizes after a stream grows and after a restart.

Thousands of requests go out per round trip (redis-py pipelines), so the exhaustive parts stay fast.
"""
import datetime
import hashlib
import json
import random
import re

import pytest
import redis
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import rfc9162
from harness import RawClient, RespError, Server
from integrity_model import EMPTY_ROOT, leaf_hash, merkle_root
from rfc9162 import Tree, verify_consistency, verify_inclusion

HEX64 = re.compile(r"[0-9a-f]{64}")
HEX128 = re.compile(r"[0-9a-f]{128}")
ADDED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
STREAM_PROOF_KEYS = {"stream", "leaf_index", "tree_size", "leaf_hash", "root", "path"}
LOG_PROOF_KEYS = STREAM_PROOF_KEYS - {"stream"}
STREAM_CONSISTENCY_KEYS = {"stream", "from", "to", "from_root", "to_root", "path"}
LOG_CONSISTENCY_KEYS = STREAM_CONSISTENCY_KEYS - {"stream"}
TREEHEAD_KEYS = {"tree_size", "root", "timestamp", "key_id", "public_key", "signature"}
PIPELINE = 2000  # commands per round trip


# --- the verifier checks itself first ----------------------------------------------------------


def test_the_rfc9162_verifier_accepts_reference_proofs_and_rejects_tampered_ones():
    assert rfc9162.self_test()
    # and agrees with the integrity model's MTH
    leaves = [hashlib.sha256(b"\x00%d" % i).hexdigest() for i in range(70)]
    tree = Tree(leaves)
    for n in range(71):
        assert tree.root(n).hex() == merkle_root(leaves[:n])


# --- helpers -------------------------------------------------------------------------------------


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def pipelined(r, commands):
    """Sends (name, argument dict) commands through redis-py pipelines; returns the replies, JSON
    bulk strings decoded, errors as redis.ResponseError objects, in order."""
    out = []
    for i in range(0, len(commands), PIPELINE):
        p = r.pipeline(transaction=False)
        for name, arg in commands[i:i + PIPELINE]:
            p.execute_command(name, json.dumps(arg))
        out += p.execute(raise_on_error=False)
    return [json.loads(x) if isinstance(x, str) else x for x in out]


def check_inclusion(request, reply, tree, index, tree_size, stream=None):
    """One PROOF reply: the contract keys, the leaf and root of the independent tree, and a path
    that rfc9162.verify_inclusion accepts."""
    where = f"PROOF {json.dumps(request)} -> {reply!r}"
    assert isinstance(reply, dict), where
    assert set(reply) == (STREAM_PROOF_KEYS if stream else LOG_PROOF_KEYS), where
    if stream:
        assert reply["stream"] == stream, where
    assert is_int(reply["leaf_index"]) and reply["leaf_index"] == index, where
    assert is_int(reply["tree_size"]) and reply["tree_size"] == tree_size, where
    want_leaf, want_root = tree.levels[0][index].hex(), tree.root(tree_size).hex()
    assert reply["leaf_hash"] == want_leaf, where + f"\nexpected leaf_hash {want_leaf}"
    assert reply["root"] == want_root, where + f"\nexpected root {want_root}"
    assert isinstance(reply["path"], list) and all(isinstance(h, str) and HEX64.fullmatch(h)
                                                   for h in reply["path"]), where
    assert verify_inclusion(index, tree_size, want_leaf, reply["path"], want_root), \
        where + "\nrejected by rfc9162.verify_inclusion"


def check_consistency(request, reply, tree, first, second, stream=None):
    """One CONSISTENCY reply: the contract keys, both roots from the independent tree, and a path
    that rfc9162.verify_consistency accepts."""
    where = f"CONSISTENCY {json.dumps(request)} -> {reply!r}"
    assert isinstance(reply, dict), where
    assert set(reply) == (STREAM_CONSISTENCY_KEYS if stream else LOG_CONSISTENCY_KEYS), where
    if stream:
        assert reply["stream"] == stream, where
    assert is_int(reply["from"]) and reply["from"] == first, where
    assert is_int(reply["to"]) and reply["to"] == second, where
    from_root, to_root = tree.root(first).hex(), tree.root(second).hex()
    assert reply["from_root"] == from_root, where + f"\nexpected from_root {from_root}"
    assert reply["to_root"] == to_root, where + f"\nexpected to_root {to_root}"
    assert isinstance(reply["path"], list) and all(isinstance(h, str) and HEX64.fullmatch(h)
                                                   for h in reply["path"]), where
    assert verify_consistency(first, second, from_root, to_root, reply["path"]), \
        where + "\nrejected by rfc9162.verify_consistency"


def read_log(r):
    """The whole global log in position order, by GETALL pages of 10,000."""
    out = []
    while True:
        page = [json.loads(e) for e in
                r.execute_command("GETALL", json.dumps({"offset": len(out), "limit": 10000}))]
        if not page:
            break
        out += page
    assert [e["position"] for e in out] == list(range(1, len(out) + 1))
    return out


class Trees:
    """The independent trees of a store: the global log and every stream, built from leaf hashes
    recomputed from the events' content (after checking the stored `hash` is that same value)."""

    def __init__(self, log):
        hashes = []
        streams = {}
        for e in log:
            h = leaf_hash(e)
            assert e["hash"] == h, f"event {e['id']}: stored hash {e['hash']}, recomputed {h}"
            hashes.append(h)
            streams.setdefault(e["stream"], []).append((e["version"], h))
        self.log = Tree(hashes)
        self.streams = {}
        for name, leaves in streams.items():
            assert [v for v, _ in leaves] == list(range(1, len(leaves) + 1)), name
            self.streams[name] = Tree([h for _, h in leaves])


def info_public_key(server):
    with RawClient(server) as c:
        info = c.call("INFO").decode()
    keys = [line.split(":", 1)[1].strip() for line in info.splitlines()
            if line.startswith("treehead_public_key:")]
    assert len(keys) == 1, info
    return keys[0]


def jcs(obj):
    """RFC 8785 for objects of ASCII keys with string and integer values."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def ed25519_verifies(public_key_hex, signature_hex, message):
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(
            bytes.fromhex(signature_hex), message)
        return True
    except InvalidSignature:
        return False


def check_treehead(th, public_key, tree_size, root, stream=None):
    """A TREEHEAD reply: exactly the contract keys, the expected size and root, key_id derived from
    the public key, and an Ed25519 signature over JCS({"root","stream"?,"timestamp","tree_size"})."""
    where = f"TREEHEAD -> {th!r}"
    assert set(th) == (TREEHEAD_KEYS | {"stream"} if stream else TREEHEAD_KEYS), where
    if stream:
        assert th["stream"] == stream, where
    assert is_int(th["tree_size"]) and th["tree_size"] == tree_size, where
    assert th["root"] == root, where + f"\nexpected root {root}"
    assert isinstance(th["timestamp"], str) and ADDED_AT.fullmatch(th["timestamp"]), where
    signed_at = datetime.datetime.strptime(th["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs((signed_at - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 300, where
    assert HEX64.fullmatch(th["public_key"]) and th["public_key"] == public_key, where
    assert th["key_id"] == hashlib.sha256(bytes.fromhex(public_key)).hexdigest()[:16], where
    assert isinstance(th["signature"], str) and HEX128.fullmatch(th["signature"]), where
    signed = {"root": th["root"], "timestamp": th["timestamp"], "tree_size": th["tree_size"]}
    if stream:
        signed["stream"] = stream
    assert ed25519_verifies(public_key, th["signature"], jcs(signed)), \
        where + f"\nsignature does not verify over {jcs(signed)!r}"
    # The check can fail: the same signature does not cover another size or root.
    assert not ed25519_verifies(public_key, th["signature"], jcs(dict(signed, tree_size=tree_size + 1)))
    other_root = hashlib.sha256(bytes.fromhex(root)).hexdigest()
    assert not ed25519_verifies(public_key, th["signature"], jcs(dict(signed, root=other_root)))


# --- the small log: streams of 1…70 events, interleaved -----------------------------------------

SIZES = range(1, 71)
TEXTS = ["plain", "é ü ß", "quote \" and \\ backslash", "line\nbreak\ttab", "\u2028\u2029", "😀 emoji", "\x01\x1f"]


def small_stream(n):
    return f"proof.s{n:02d}"


@pytest.fixture(scope="module")
def small():
    """Streams proof.s01 … proof.s70 of 1 … 70 events, written in ten rounds of one multi-stream ADD
    each (streams shuffled per round), so no stream's events are contiguous in the global log."""
    rng = random.Random(70)
    s = Server().start()
    try:
        r = s.client()
        rounds = 10
        for j in range(rounds):
            parts = []
            for n in SIZES:
                lo, hi = j * n // rounds, (j + 1) * n // rounds
                if hi > lo:
                    parts.append({"stream": small_stream(n), "events": [
                        {"type": "noted", "data": {"i": str(i), "text": TEXTS[(n + i) % len(TEXTS)]},
                         "metadata": {"round": str(j)}} for i in range(lo, hi)]})
            rng.shuffle(parts)
            r.execute_command("ADD", json.dumps({"streams": parts}))
        log = read_log(r)
        trees = Trees(log)
        assert set(trees.streams) >= {small_stream(n) for n in SIZES}
        for n in SIZES:
            assert len(trees.streams[small_stream(n)]) == n
        positions = [e["position"] for e in log if e["stream"] == small_stream(70)]
        assert positions[-1] - positions[0] > 70  # interleaved with other streams
        yield s, r, log, trees
        assert s.stop() == 0, "server did not shut down cleanly:\n" + "".join(s.output)
    finally:
        s.cleanup()


def test_stream_inclusion_for_every_version_of_every_stream(small):
    s, r, log, trees = small
    requests = [{"stream": small_stream(n), "version": v} for n in SIZES for v in range(1, n + 1)]
    replies = pipelined(r, [("PROOF", q) for q in requests])
    events = {(e["stream"], e["version"]): e for e in log}
    for q, reply in zip(requests, replies):
        tree = trees.streams[q["stream"]]
        check_inclusion(q, reply, tree, q["version"] - 1, len(tree), stream=q["stream"])
        assert reply["leaf_hash"] == events[q["stream"], q["version"]]["hash"]
    # The root is the independently computed MTH and the root VERIFY reports.
    verify = pipelined(r, [("VERIFY", {"stream": small_stream(n)}) for n in SIZES])
    for n, report in zip(SIZES, verify):
        name = small_stream(n)
        leaves = [e["hash"] for e in log if e["stream"] == name]
        assert report == {"ok": True, "stream": name, "version": n, "root": merkle_root(leaves)}, report
        assert report["root"] == trees.streams[name].root().hex()


def test_stream_inclusion_at_every_past_tree_size(small):
    s, r, _, trees = small
    # Every (version, tree_size) of every stream, explicit tree_size == size included: ~60k proofs.
    requests = [{"stream": small_stream(n), "version": v, "tree_size": t}
                for n in SIZES for t in range(1, n + 1) for v in range(1, t + 1)]
    replies = pipelined(r, [("PROOF", q) for q in requests])
    for q, reply in zip(requests, replies):
        check_inclusion(q, reply, trees.streams[q["stream"]], q["version"] - 1, q["tree_size"],
                        stream=q["stream"])


def test_stream_consistency_for_every_pair_of_sizes(small):
    s, r, _, trees = small
    requests = []
    for n in SIZES:
        for second in range(1, n + 1):
            for first in range(1, second + 1):
                q = {"stream": small_stream(n), "from": first}
                if second < n or first % 2:  # `to` defaults to the current size
                    q["to"] = second
                requests.append(q)
    replies = pipelined(r, [("CONSISTENCY", q) for q in requests])
    for q, reply in zip(requests, replies):
        tree = trees.streams[q["stream"]]
        check_consistency(q, reply, tree, q["from"], q.get("to", len(tree)), stream=q["stream"])


def test_log_inclusion_for_every_position_and_a_sample_of_past_sizes(small):
    s, r, log, trees = small
    size = len(log)
    rng = random.Random(1017)
    requests = [{"position": p} for p in range(1, size + 1)]
    requests += [{"position": p, "tree_size": p} for p in range(1, 71)]
    requests += [{"position": p, "tree_size": size} for p in (1, size // 2, size)]
    for _ in range(3000):
        t = rng.randint(1, size)
        requests.append({"position": rng.randint(1, t), "tree_size": t})
    replies = pipelined(r, [("PROOF", q) for q in requests])
    for q, reply in zip(requests, replies):
        check_inclusion(q, reply, trees.log, q["position"] - 1, q.get("tree_size", size))
        if "tree_size" not in q:
            assert reply["leaf_hash"] == log[q["position"] - 1]["hash"]


def test_log_consistency_for_every_small_pair_and_a_sample(small):
    s, r, log, trees = small
    size = len(log)
    rng = random.Random(6962)
    requests = [{"from": m, "to": n} for n in range(1, 71) for m in range(1, n + 1)]
    requests += [{"from": m} for m in (1, 2, 63, 64, 65, size - 1, size)]
    requests += [{"from": m, "to": size} for m in (1, 1024, 1025, 2048, size)]
    for _ in range(3000):
        n = rng.randint(1, size)
        requests.append({"from": rng.randint(1, n), "to": n})
    replies = pipelined(r, [("CONSISTENCY", q) for q in requests])
    for q, reply in zip(requests, replies):
        check_consistency(q, reply, trees.log, q["from"], q.get("to", size))


def test_checksum_verify_and_info_root_are_the_mth_of_the_log(small):
    s, r, log, trees = small
    root = merkle_root([e["hash"] for e in log])
    assert root == trees.log.root().hex()
    assert r.execute_command("CHECKSUM") == [log[-1]["id"], root, len(log)]
    report = json.loads(r.execute_command("VERIFY", "{}"))
    assert report["ok"] is True and report["root"] == root and report["events"] == len(log), report


def test_treeheads_are_signed_and_match_checksum_and_streams(small):
    s, r, log, trees = small
    public_key = info_public_key(s)
    assert HEX64.fullmatch(public_key)
    th = json.loads(r.execute_command("TREEHEAD", "{}"))
    _, root, count = r.execute_command("CHECKSUM")
    check_treehead(th, public_key, count, root)
    assert (th["tree_size"], th["root"]) == (len(log), trees.log.root().hex())
    heads = pipelined(r, [("TREEHEAD", {"stream": small_stream(n)}) for n in SIZES])
    verify = pipelined(r, [("VERIFY", {"stream": small_stream(n)}) for n in SIZES])
    for n, head, report in zip(SIZES, heads, verify):
        tree = trees.streams[small_stream(n)]
        check_treehead(head, public_key, n, tree.root().hex(), stream=small_stream(n))
        assert head["root"] == report["root"]
    # A tree head a client kept is the from_root of a consistency proof to today's log.
    proof = json.loads(r.execute_command("CONSISTENCY", json.dumps({"from": th["tree_size"]})))
    assert proof["from_root"] == th["root"] and proof["to_root"] == root


def tampered(reply):
    """Copies of a proof reply with one thing wrong each."""
    flip = lambda h: ("0" if h[0] != "0" else "1") + h[1:]
    for key, value in reply.items():
        if key == "path":
            for i in range(len(value)):
                yield dict(reply, path=value[:i] + [flip(value[i])] + value[i + 1:])
                yield dict(reply, path=value[:i] + value[i + 1:])
            yield dict(reply, path=value + [value[0] if value else reply["root"]])
        elif is_int(value):
            yield dict(reply, **{key: value + 1})
        elif key != "stream":
            yield dict(reply, **{key: flip(value)})
        yield {k: v for k, v in reply.items() if k != key}
    yield dict(reply, extra=1)


def test_the_reply_checks_reject_a_wrong_reply(small):
    """check_inclusion / check_consistency are what judges the server: each must fail on a reply
    with any one field or path element wrong."""
    s, r, _, trees = small
    name = small_stream(70)
    cases = [
        ("PROOF", {"stream": name, "version": 37, "tree_size": 45},
         lambda q, x: check_inclusion(q, x, trees.streams[name], 36, 45, name)),
        ("PROOF", {"position": 1000},
         lambda q, x: check_inclusion(q, x, trees.log, 999, len(trees.log))),
        ("CONSISTENCY", {"stream": name, "from": 13, "to": 61},
         lambda q, x: check_consistency(q, x, trees.streams[name], 13, 61, name)),
        ("CONSISTENCY", {"from": 1000, "to": 2000},
         lambda q, x: check_consistency(q, x, trees.log, 1000, 2000)),
    ]
    for cmd, q, check in cases:
        reply = json.loads(r.execute_command(cmd, json.dumps(q)))
        check(q, reply)
        bad = list(tampered(reply))
        assert len(bad) > 10
        for wrong in bad:
            with pytest.raises(AssertionError):
                check(q, wrong)


def test_proofs_are_bulk_strings_in_resp3_too(small):
    s, _, log, trees = small
    with RawClient(s) as c:
        assert isinstance(c.call("HELLO", "3"), dict)
        for cmd, arg in (("PROOF", {"position": 1}), ("PROOF", {"stream": small_stream(3), "version": 2}),
                         ("CONSISTENCY", {"from": 1}), ("TREEHEAD", {})):
            reply = c.call(cmd, json.dumps(arg))
            assert c.reader.last_raw.startswith(b"$"), (cmd, c.reader.last_raw[:80])
            json.loads(reply)


# --- errors ------------------------------------------------------------------------------------

S5 = small_stream(5)
BIG = 1 << 64
NO_SUCH_STREAM = [
    ("PROOF", {"stream": "proof.nope", "version": 1}),
    ("PROOF", {"stream": "proof.nope", "version": 1, "tree_size": 1}),
    ("CONSISTENCY", {"stream": "proof.nope", "from": 1}),
    ("CONSISTENCY", {"stream": "proof.nope", "from": 1, "to": 1}),
    ("TREEHEAD", {"stream": "proof.nope"}),
]
OUT_OF_RANGE = [  # `N` stands for the size of the global log
    ("PROOF", {"stream": S5, "version": 0}),
    ("PROOF", {"stream": S5, "version": -1}),
    ("PROOF", {"stream": S5, "version": 6}),
    ("PROOF", {"stream": S5, "version": BIG}),
    ("PROOF", {"stream": S5, "version": 5, "tree_size": 4}),
    ("PROOF", {"stream": S5, "version": 1, "tree_size": 0}),
    ("PROOF", {"stream": S5, "version": 1, "tree_size": 6}),
    ("PROOF", {"stream": S5, "version": 1, "tree_size": -1}),
    ("PROOF", {"position": 0}),
    ("PROOF", {"position": -1}),
    ("PROOF", {"position": "N+1"}),
    ("PROOF", {"position": BIG}),
    ("PROOF", {"position": 5, "tree_size": 4}),
    ("PROOF", {"position": 1, "tree_size": 0}),
    ("PROOF", {"position": 1, "tree_size": "N+1"}),
    ("CONSISTENCY", {"stream": S5, "from": 0}),
    ("CONSISTENCY", {"stream": S5, "from": 0, "to": 0}),
    ("CONSISTENCY", {"stream": S5, "from": 0, "to": 3}),
    ("CONSISTENCY", {"stream": S5, "from": -1, "to": 3}),
    ("CONSISTENCY", {"stream": S5, "from": 4, "to": 3}),
    ("CONSISTENCY", {"stream": S5, "from": 1, "to": 6}),
    ("CONSISTENCY", {"stream": S5, "from": 6}),
    ("CONSISTENCY", {"stream": S5, "from": BIG}),
    ("CONSISTENCY", {"from": 0}),
    ("CONSISTENCY", {"from": 0, "to": 1}),
    ("CONSISTENCY", {"from": 3, "to": 2}),
    ("CONSISTENCY", {"from": "N+1"}),
    ("CONSISTENCY", {"from": 1, "to": "N+1"}),
]
WRONG_TYPES = [
    ("PROOF", {"stream": S5, "version": "1"}),
    ("PROOF", {"stream": S5, "version": 1.5}),
    ("PROOF", {"stream": S5, "version": True}),
    ("PROOF", {"stream": S5, "version": [1]}),
    ("PROOF", {"stream": S5, "version": 1, "tree_size": "5"}),
    ("PROOF", {"stream": S5, "version": 1, "tree_size": 2.5}),
    ("PROOF", {"stream": 5, "version": 1}),
    ("PROOF", {"stream": [S5], "version": 1}),
    ("PROOF", {"position": "1"}),
    ("PROOF", {"position": 1.5}),
    ("PROOF", {"position": {}}),
    ("PROOF", {"position": 1, "tree_size": "5"}),
    ("CONSISTENCY", {"stream": S5, "from": "1"}),
    ("CONSISTENCY", {"stream": S5, "from": 1, "to": "2"}),
    ("CONSISTENCY", {"stream": 5, "from": 1}),
    ("CONSISTENCY", {"from": 1.5}),
    ("CONSISTENCY", {"from": 1, "to": [2]}),
    ("TREEHEAD", {"stream": 5}),
    ("TREEHEAD", {"stream": [S5]}),
    ("TREEHEAD", {"stream": {}}),
]
MISSING_OR_NOT_AN_OBJECT = [
    ("PROOF", {}),
    ("PROOF", {"stream": S5, "version": 1, "position": 1}),  # which tree? neither
    ("PROOF", {"stream": S5}),
    ("PROOF", {"version": 1}),
    ("PROOF", {"tree_size": 1}),
    ("CONSISTENCY", {}),
    ("CONSISTENCY", {"stream": S5}),
    ("CONSISTENCY", {"to": 1}),
    ("PROOF", "not json"),
    ("PROOF", "[]"),
    ("PROOF", "42"),
    ("PROOF", '{"position":1'),
    ("CONSISTENCY", '"from"'),
    ("CONSISTENCY", "[1, 2]"),
    ("TREEHEAD", "[]"),
    ("TREEHEAD", "not json"),
]


def resolve(arg, log_size):
    """Replaces the placeholders "N+1" by the global log size + 1; encodes the argument."""
    if isinstance(arg, str):
        return arg
    return json.dumps({k: log_size + 1 if v == "N+1" else v for k, v in arg.items()})


@pytest.mark.parametrize("cmd,arg", NO_SUCH_STREAM, ids=lambda x: x if isinstance(x, str) else json.dumps(x))
def test_an_unknown_stream_is_err_no_such_stream(small, cmd, arg):
    s, _, _, _ = small
    with RawClient(s) as c:
        reply = c.call(cmd, json.dumps(arg))
        assert isinstance(reply, RespError) and reply.startswith("ERR no such stream"), (cmd, arg, reply)


@pytest.mark.parametrize("cmd,arg", OUT_OF_RANGE + WRONG_TYPES + MISSING_OR_NOT_AN_OBJECT,
                         ids=lambda x: x if isinstance(x, str) else json.dumps(x))
def test_bad_integrity_requests_are_err(small, cmd, arg):
    s, _, log, _ = small
    with RawClient(s) as c:
        wire = resolve(arg, len(log))
        reply = c.call(cmd, wire)
        assert isinstance(reply, RespError) and reply.code == "ERR", (cmd, wire, reply)
        assert c.call("PING") == "PONG"


def test_wrong_arity_is_err(small):
    s, _, _, _ = small
    with RawClient(s) as c:
        for args in (("PROOF",), ("CONSISTENCY",), ("PROOF", '{"position":1}', "{}"),
                     ("CONSISTENCY", '{"from":1}', "{}"), ("TREEHEAD", "{}", "{}")):
            reply = c.call(*args)
            assert isinstance(reply, RespError) and reply.code == "ERR", (args, reply)


# --- growth and restart ------------------------------------------------------------------------


def test_proofs_for_old_sizes_survive_growth_and_restart(server):
    r = server.client()
    public_key = info_public_key(server)
    # The empty log has a signed tree head too, and nothing to prove.
    _, empty_root, count = r.execute_command("CHECKSUM")
    check_treehead(json.loads(r.execute_command("TREEHEAD", "{}")), public_key, count, empty_root)
    if count == 0:
        assert empty_root == EMPTY_ROOT
        with pytest.raises(redis.ResponseError):
            r.execute_command("PROOF", json.dumps({"position": 1}))
        with pytest.raises(redis.ResponseError):
            r.execute_command("CONSISTENCY", json.dumps({"from": 1}))

    def write(n, *streams):
        r.execute_command("ADD", json.dumps({"streams": [
            {"stream": name, "events": [{"type": "t", "data": {"n": str(i)}} for i in range(n)]}
            for name in streams]}))

    write(3, "grow.1", "grow.2")
    write(2, "grow.2", "grow.1")
    old = {  # request -> reply, at the old sizes
        ("TREEHEAD", json.dumps({"stream": "grow.1"})): None,
        ("TREEHEAD", "{}"): None,
        ("CONSISTENCY", json.dumps({"stream": "grow.1", "from": 2, "to": 5})): None,
        ("CONSISTENCY", json.dumps({"from": 3, "to": 10})): None,
        **{("PROOF", json.dumps({"stream": "grow.1", "version": v, "tree_size": 5})): None for v in range(1, 6)},
        **{("PROOF", json.dumps({"position": p, "tree_size": 10})): None for p in range(1, 11)},
    }
    for key in old:
        old[key] = json.loads(r.execute_command(*key))
    stream_head = old["TREEHEAD", json.dumps({"stream": "grow.1"})]
    log_head = old["TREEHEAD", "{}"]
    assert stream_head["tree_size"] == 5 and log_head["tree_size"] == count + 10

    for rounds in range(3):
        write(7 + rounds * 20, "grow.1", "grow.3")
    trees = Trees(read_log(r))
    grown = trees.streams["grow.1"]
    assert len(grown) == 5 + 7 + 27 + 47

    def check_old_sizes():
        for (cmd, arg), reply in old.items():
            if cmd != "TREEHEAD":  # proofs for a fixed size are the same bytes, whatever came later
                assert json.loads(r.execute_command(cmd, arg)) == reply, (cmd, arg)
        for v in range(1, 6):
            q = {"stream": "grow.1", "version": v, "tree_size": 5}
            check_inclusion(q, json.loads(r.execute_command("PROOF", json.dumps(q))), grown, v - 1, 5, "grow.1")
            assert old["PROOF", json.dumps(q)]["root"] == stream_head["root"]
        for p in range(1, 11):
            q = {"position": p, "tree_size": 10}
            check_inclusion(q, json.loads(r.execute_command("PROOF", json.dumps(q))), trees.log, p - 1, 10)
        # The client that kept the old tree heads gets proofs that today's trees extend them.
        q = {"stream": "grow.1", "from": 5}
        proof = json.loads(r.execute_command("CONSISTENCY", json.dumps(q)))
        check_consistency(q, proof, grown, 5, len(grown), "grow.1")
        assert proof["from_root"] == stream_head["root"]
        q = {"from": log_head["tree_size"]}
        proof = json.loads(r.execute_command("CONSISTENCY", json.dumps(q)))
        check_consistency(q, proof, trees.log, log_head["tree_size"], len(trees.log))
        assert proof["from_root"] == log_head["root"]
        assert proof["to_root"] == r.execute_command("CHECKSUM")[1]
        check_treehead(json.loads(r.execute_command("TREEHEAD", json.dumps({"stream": "grow.1"}))),
                       public_key, len(grown), grown.root().hex(), stream="grow.1")
        # New versions at the current size.
        for v in range(1, len(grown) + 1, 7):
            q = {"stream": "grow.1", "version": v}
            check_inclusion(q, json.loads(r.execute_command("PROOF", json.dumps(q))), grown, v - 1, len(grown), "grow.1")

    check_old_sizes()
    assert server.stop() == 0
    server.start()
    r = server.client()
    assert info_public_key(server) == public_key  # the tree-head key survives a restart
    check_old_sizes()


# --- a 100,000-event log -----------------------------------------------------------------------

BIG_EVENTS = 100_000
BIG_STREAMS = 300
SAMPLE = 2000


@pytest.fixture(scope="module")
def big():
    """100 ADDs of 1,000 events, each spread over 1–8 of 300 streams (seeded)."""
    rng = random.Random(100_000)
    s = Server().start()
    try:
        r = s.client()
        adds = []
        for batch in range(BIG_EVENTS // 1000):
            names = rng.sample(range(BIG_STREAMS), rng.randint(1, 8))
            cuts = sorted(rng.sample(range(1, 1000), len(names) - 1))
            counts = [hi - lo for lo, hi in zip([0] + cuts, cuts + [1000])]
            adds.append(("ADD", {"streams": [
                {"stream": f"big.{name}", "events": [{"type": "tick", "data": {"b": str(batch), "i": str(i)}}
                                                     for i in range(count)]}
                for name, count in zip(names, counts)]}))
        for i in range(0, len(adds), 10):
            for reply in pipelined(r, adds[i:i + 10]):
                assert isinstance(reply, list) and len(reply) == 1000, reply
        trees = Trees(read_log(r))
        assert len(trees.log) >= BIG_EVENTS
        assert len(trees.streams) > 150
        yield s, r, trees
        assert s.stop() == 0, "server did not shut down cleanly:\n" + "".join(s.output)
    finally:
        s.cleanup()


def sizes_to_try(rng, n):
    """A size in 1..n: often the edges and powers of two around them, else uniform."""
    pick = rng.random()
    if pick < 0.1:
        return n
    if pick < 0.25:
        p = 1 << rng.randint(0, max(0, n.bit_length() - 1))
        return min(n, max(1, p + rng.choice((-1, 0, 1))))
    return rng.randint(1, n)


def test_a_100k_log_sample_of_inclusion_proofs(big):
    s, r, trees = big
    rng = random.Random(9162)
    size = len(trees.log)
    names = sorted(trees.streams)
    requests = []
    for i in range(SAMPLE):
        if i % 2:
            t = sizes_to_try(rng, size)
            q = {"position": rng.randint(1, t)}
        else:
            name = rng.choice(names)
            t = sizes_to_try(rng, len(trees.streams[name]))
            q = {"stream": name, "version": rng.randint(1, t)}
        if t != size or rng.random() < 0.5:
            q["tree_size"] = t
        requests.append(q)
    requests += [{"position": p} for p in (1, 65536, 65537, size)]
    replies = pipelined(r, [("PROOF", q) for q in requests])
    for q, reply in zip(requests, replies):
        if "stream" in q:
            tree = trees.streams[q["stream"]]
            check_inclusion(q, reply, tree, q["version"] - 1, q.get("tree_size", len(tree)), q["stream"])
        else:
            check_inclusion(q, reply, trees.log, q["position"] - 1, q.get("tree_size", size))


def test_a_100k_log_sample_of_consistency_proofs(big):
    s, r, trees = big
    rng = random.Random(6962)
    size = len(trees.log)
    names = sorted(trees.streams)
    requests = []
    for i in range(SAMPLE):
        name = None if i % 2 else rng.choice(names)
        n_max = size if name is None else len(trees.streams[name])
        second = sizes_to_try(rng, n_max)
        q = {"from": rng.randint(1, second) if rng.random() < 0.7 else sizes_to_try(rng, second)}
        if name is not None:
            q["stream"] = name
        if second != n_max or rng.random() < 0.5:
            q["to"] = second
        requests.append(q)
    requests += [{"from": m, "to": n} for m, n in ((1, size), (size, size), (65535, 65536), (65536, 65537),
                                                   (65536, size), (32768, 98304), (1, 2), (99_999, 100_000))]
    replies = pipelined(r, [("CONSISTENCY", q) for q in requests])
    for q, reply in zip(requests, replies):
        if "stream" in q:
            tree = trees.streams[q["stream"]]
            check_consistency(q, reply, tree, q["from"], q.get("to", len(tree)), q["stream"])
        else:
            check_consistency(q, reply, trees.log, q["from"], q.get("to", size))


def test_a_100k_log_tree_heads_match_the_independent_roots(big):
    s, r, trees = big
    public_key = info_public_key(s)
    th = json.loads(r.execute_command("TREEHEAD", "{}"))
    check_treehead(th, public_key, len(trees.log), trees.log.root().hex())
    assert r.execute_command("CHECKSUM")[1:] == [th["root"], th["tree_size"]]
    names = sorted(trees.streams)[:20]
    for name, head in zip(names, pipelined(r, [("TREEHEAD", {"stream": n}) for n in names])):
        check_treehead(head, public_key, len(trees.streams[name]), trees.streams[name].root().hex(), stream=name)
