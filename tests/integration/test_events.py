"""Events end to end (PROTOCOL.md §3–§6, §8; INTEGRITY.md): ADD in both forms, the exact event
object, hashes and Merkle roots recomputed independently in Python, every settled error code,
expected versions, idempotency, atomicity, GET/GETALL/EVENT:GET/AGGREGATE:LIST, CHECKSUM, VERIFY
and the counters. Driven through redis-py, redis-cli and a raw RESP socket (for exact error codes,
which redis-py strips).
"""
import datetime
import hashlib
import json
import re

import pytest
import redis

from harness import RawClient, RespError
from conftest import add
from integrity_model import EMPTY_ROOT, canonical, leaf_hash, merkle_root

EVENT_KEYS = ["id", "stream", "version", "position", "type", "data", "metadata",
              "causation_id", "correlation_id", "added_at", "actor", "hash"]
ADDED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


# --- the independent integrity model (integrity_model.py) checks itself ---------------------------

def check_merkle_model():
    """Guards the Python model itself, so that it cannot share a bug with the server: RFC 6962
    splits at the largest power of two below n and never duplicates an odd node."""
    a, b, c, d, e = (hashlib.sha256(bytes([i])).hexdigest() for i in range(5))
    node = lambda l, r: hashlib.sha256(b"\x01" + bytes.fromhex(l) + bytes.fromhex(r)).hexdigest()
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == node(a, b)
    assert merkle_root([a, b, c]) == node(node(a, b), c)
    assert merkle_root([a, b, c, d, e]) == node(node(node(a, b), node(c, d)), e)
    assert merkle_root([]) == EMPTY_ROOT


# --- helpers -------------------------------------------------------------------------------------


def raw_add(c, arg):
    """ADD through a RawClient; returns a list of events or a RespError."""
    reply = c.call("ADD", arg if isinstance(arg, (str, bytes)) else json.dumps(arg))
    if isinstance(reply, RespError):
        return reply
    return [json.loads(e) for e in reply]


def events_of(reply):
    return [json.loads(e) for e in reply]


def get(r, **arg):
    return events_of(r.execute_command("GET", json.dumps(arg)))


def getall(r, **arg):
    return events_of(r.execute_command("GETALL", json.dumps(arg)))


def store_state(c):
    return c.call("EVENTCOUNT"), c.call("STREAMCOUNT"), c.call("CHECKSUM")


def all_events(r):
    out, offset = [], 0
    while True:
        page = getall(r, offset=offset, limit=10000)
        if not page:
            return out
        out += page
        offset = page[-1]["position"]


@pytest.fixture(scope="module")
def r(shared_server):
    return shared_server.client()


@pytest.fixture(scope="module")
def raw(shared_server):
    with RawClient(shared_server) as c:
        yield c


# --- the event object ----------------------------------------------------------------------------


def test_add_returns_the_contract_event_object(r):
    before = datetime.datetime.now(datetime.timezone.utc)
    stored = add(r, "shape.1", [
        {"type": "patient-admitted",
         "data": {"n": 42, "neg": -7, "f": 1.5, "exp": 1e3, "t": True, "fa": False, "z": None, "s": "x"},
         "metadata": {"m": 1, "src": "ward-3"}},
        {"type": "patient-noted", "data": "{\"opaque\": [1, 2]}"},
        {"type": "patient-discharged"},
    ])
    assert len(stored) == 3
    for e in stored:
        assert list(e) == EVENT_KEYS  # exactly these keys, in this order
        assert ADDED_AT.fullmatch(e["added_at"]), e["added_at"]
        assert e["actor"] == "master"
        assert e["stream"] == "shape.1"
        assert ULID.fullmatch(e["id"]), e["id"]
        assert e["causation_id"] == e["id"] and e["correlation_id"] == e["id"]
        assert re.fullmatch(r"[0-9a-f]{64}", e["hash"])
        assert e["hash"] == leaf_hash(e)
    first, second, third = stored
    # Numbers and booleans become their JSON text, null stays null, strings stay.
    # (json.dumps sends 1e3 as 1000.0.)
    assert first["data"] == {"n": "42", "neg": "-7", "f": "1.5", "exp": "1000.0", "t": "true",
                             "fa": "false", "z": None, "s": "x"}
    assert first["metadata"] == {"m": "1", "src": "ward-3"}
    assert second["data"] == "{\"opaque\": [1, 2]}"  # an opaque string payload is kept as is
    assert second["metadata"] == {} and third["data"] == {} and third["metadata"] == {}
    assert [e["version"] for e in stored] == [1, 2, 3]
    assert [e["position"] for e in stored] == list(range(first["position"], first["position"] + 3))
    assert len({e["added_at"] for e in stored}) == 1  # same for a whole batch
    assert len({e["id"] for e in stored}) == 3 and [e["id"] for e in stored] == sorted(e["id"] for e in stored)
    added = datetime.datetime.strptime(first["added_at"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs((added - before).total_seconds()) < 300  # UTC, not local time
    # GET returns byte-for-byte the same objects.
    assert get(r, stream="shape.1") == stored


def test_number_text_is_kept_as_written(raw):
    # Sent as raw JSON text so that Python's json module cannot normalise the numbers first.
    arg = '{"stream":"shape.numbers","events":[{"type":"t","data":{"a":1e3,"b":0.10,"c":-0,"d":12345678901234567890}}]}'
    stored = raw_add(raw, arg)
    assert not isinstance(stored, RespError), stored
    assert stored[0]["data"] == {"a": "1e3", "b": "0.10", "c": "-0", "d": "12345678901234567890"}
    assert stored[0]["hash"] == leaf_hash(stored[0])


def test_causation_and_correlation_defaults(r):
    stored = add(r, "shape.causation", [
        {"id": "cause-own", "type": "t"},
        {"type": "t", "causation_id": "c1"},
        {"type": "t", "causation_id": "c2", "correlation_id": "k2"},
        {"type": "t", "correlation_id": "k3"},
    ])
    assert (stored[0]["causation_id"], stored[0]["correlation_id"]) == ("cause-own", "cause-own")
    assert (stored[1]["causation_id"], stored[1]["correlation_id"]) == ("c1", "c1")
    assert (stored[2]["causation_id"], stored[2]["correlation_id"]) == ("c2", "k2")
    assert (stored[3]["causation_id"], stored[3]["correlation_id"]) == (stored[3]["id"], "k3")
    for e in stored:
        assert e["hash"] == leaf_hash(e)


def test_add_and_get_through_redis_cli(shared_server, r):
    arg = json.dumps({"stream": "cli.1", "version": 0,
                      "events": [{"type": "a", "data": {"k": "v"}}, {"type": "b"}]})
    out, rc = shared_server.cli("ADD", arg)
    assert rc == 0, out
    stored = [json.loads(line) for line in out.splitlines()]
    assert [e["version"] for e in stored] == [1, 2]
    assert all(list(e) == EVENT_KEYS and e["hash"] == leaf_hash(e) for e in stored)
    out, rc = shared_server.cli("GET", '{"stream":"cli.1"}')
    assert rc == 0 and [json.loads(line) for line in out.splitlines()] == stored
    assert get(r, stream="cli.1") == stored
    # A conflict through redis-cli shows the exact error.
    out, rc = shared_server.cli("ADD", arg)
    assert out.strip() == "CONFLICT expected version 0 but stream 'cli.1' is at version 2", out


def test_multi_stream_add_is_one_batch_in_request_order(r):
    stored = events_of(r.execute_command("ADD", json.dumps({"streams": [
        {"stream": "multi.a", "version": 0, "events": [{"type": "a1"}, {"type": "a2"}]},
        {"stream": "multi.b", "events": [{"type": "b1"}]},
        {"stream": "multi.c", "version": "any", "events": [{"type": "c1", "data": {"x": "1"}}]},
    ]})))
    assert [(e["stream"], e["type"], e["version"]) for e in stored] == [
        ("multi.a", "a1", 1), ("multi.a", "a2", 2), ("multi.b", "b1", 1), ("multi.c", "c1", 1)]
    first = stored[0]["position"]
    assert [e["position"] for e in stored] == list(range(first, first + 4))
    assert len({e["added_at"] for e in stored}) == 1
    for e in stored:
        assert list(e) == EVENT_KEYS and e["hash"] == leaf_hash(e)
    assert get(r, stream="multi.a") == stored[:2]
    assert get(r, stream="multi.b") == stored[2:3]


CONTROL = "".join(chr(i) for i in range(32)) + "\x7f"
TRICKY_STRINGS = [
    "plain", "", "é", "naïve café", "中文字符", "日本語テキスト", "😀 emoji outside the BMP 𝄞",
    "quote \" backslash \\ slash /", CONTROL, "line\nbreak\r\ttab\b\f", "\u2028\u2029 separators",
    "\ufeff bom", "\u00a0nbsp", "{\"json\":\"inside\"}", "a\\u0041 literal escape", "🏳️‍🌈 zwj",
]


def test_hashes_recomputed_in_python_for_many_events(r):
    events = []
    for i in range(240):
        s = TRICKY_STRINGS[i % len(TRICKY_STRINGS)]
        ev = {"id": f"hash-{i:04d}", "type": f"type {s}"[:200] or "t"}
        if i % 4 == 0:
            ev["data"] = {"text": s, "n": i, "flag": i % 3 == 0, "gone": None, f"k.{i % 7}:x-y_z": s + s}
        elif i % 4 == 1:
            ev["data"] = s  # opaque string payload
            ev["metadata"] = {"note": s, "seq": str(i)}
        elif i % 4 == 2:
            ev["data"] = {f"f{j}": TRICKY_STRINGS[j] for j in range(len(TRICKY_STRINGS))}
            ev["causation_id"] = f"cause-{i}"
        else:
            ev["correlation_id"] = f"corr-{i}"
            ev["metadata"] = {"tricky": s, "also": TRICKY_STRINGS[(i + 5) % len(TRICKY_STRINGS)]}
        events.append(ev)
    stored = []
    for chunk in range(0, len(events), 60):
        stored += add(r, "hash.many", events[chunk:chunk + 60])
    assert [e["version"] for e in stored] == list(range(1, 241))
    for e in stored:
        assert e["hash"] == leaf_hash(e), e["id"]
    # What the server stored is what we sent (strings round-trip byte for byte).
    assert stored[0]["data"]["text"] == TRICKY_STRINGS[0]
    assert stored[1 + 4 * 2]["data"] == TRICKY_STRINGS[9 % len(TRICKY_STRINGS)]
    assert stored[2]["data"] == {f"f{j}": TRICKY_STRINGS[j] for j in range(len(TRICKY_STRINGS))}
    assert stored[8]["data"]["text"] == CONTROL
    got = get(r, stream="hash.many", limit=1000)
    assert got == stored
    for e in got:
        assert e["hash"] == leaf_hash(e)
    by_hash = json.loads(r.execute_command("EVENT:GET", json.dumps({"hash": stored[8]["hash"]})))
    assert by_hash == stored[8]


# --- errors: every settled code, and nothing stored ----------------------------------------------

BIG = "x" * 256
ERRORS = [
    # ERR: not JSON, not an object, missing key, wrong JSON type.
    ("ERR", "not json"),
    ("ERR", '{"stream":"err.a","events":[{"type":"t"}]'),
    ("ERR", "[]"),
    ("ERR", '[{"stream":"err.a","events":[{"type":"t"}]}]'),
    ("ERR", "true"),
    ("ERR", '"a string"'),
    ("ERR", "42"),
    ("ERR", '{"stream":"err.a","events":[{"type":"t"}]} trailing'),
    ("ERR", b'{"stream":"err.a","events":[{"type":"t","data":{"a":"\xff\xfe"}}]}'),  # not UTF-8
    ("ERR", b'{"stream":"err.a","events":[{"type":"\xc3\x28"}]}'),
    ("ERR", "{}"),
    ("ERR", {"events": [{"type": "t"}]}),
    ("ERR", {"stream": "err.a"}),
    ("ERR", {"stream": "err.a", "events": [{}]}),
    ("ERR", {"stream": "err.a", "events": [{"data": {"a": "b"}}]}),
    ("ERR", {"stream": "err.a", "events": [{"type": 5}]}),
    ("ERR", {"stream": "err.a", "events": [{"type": None}]}),
    ("ERR", {"stream": "err.a", "events": {}}),
    ("ERR", {"stream": "err.a", "events": "t"}),
    ("ERR", {"stream": "err.a", "events": [5]}),
    ("ERR", {"stream": "err.a", "events": [{"type": "t", "data": 7}]}),
    ("ERR", {"stream": "err.a", "events": [{"type": "t", "data": [1, 2]}]}),
    ("ERR", {"stream": "err.a", "events": [{"type": "t", "data": True}]}),
    ("ERR", {"stream": "err.a", "events": [{"type": "t", "metadata": 7}]}),
    ("ERR", {"stream": "err.a", "events": [{"type": "t", "metadata": ["m"]}]}),
    ("ERR", {"stream": "err.a", "events": [{"type": "t", "id": 5}]}),
    ("ERR", {"stream": 5, "events": [{"type": "t"}]}),
    ("ERR", {"stream": ["err.a"], "events": [{"type": "t"}]}),
    ("ERR", {"stream": "err.a", "version": "bogus", "events": [{"type": "t"}]}),
    ("ERR", {"stream": "err.a", "version": -1, "events": [{"type": "t"}]}),
    ("ERR", {"stream": "err.a", "version": [0], "events": [{"type": "t"}]}),
    ("ERR", {"streams": {}}),
    ("ERR", {"streams": [{"stream": "err.a", "events": {}}]}),
    # INVALID: well-formed but breaking a content rule.
    ("INVALID", {"stream": "", "events": [{"type": "t"}]}),
    ("INVALID", {"stream": "err..a", "events": [{"type": "t"}]}),
    ("INVALID", {"stream": ".err", "events": [{"type": "t"}]}),
    ("INVALID", {"stream": "err.", "events": [{"type": "t"}]}),
    ("INVALID", {"stream": "err a", "events": [{"type": "t"}]}),
    ("INVALID", {"stream": "err/a", "events": [{"type": "t"}]}),
    ("INVALID", {"stream": "err.*", "events": [{"type": "t"}]}),
    ("INVALID", {"stream": "err.>", "events": [{"type": "t"}]}),
    ("INVALID", {"stream": "é.a", "events": [{"type": "t"}]}),
    ("INVALID", {"stream": "e" * 256, "events": [{"type": "t"}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "id": ""}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "id": "has space"}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "id": "dot.ted"}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "id": "i" * 65}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "id": "é"}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "data": {"a b": "1"}}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "data": {"": "1"}}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "data": {"a/b": "1"}}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "data": {"é": "1"}}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "data": {"f" * 129: "1"}}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "metadata": {"a b": "1"}}]}),
    ("INVALID", {"stream": "err.a", "events": []}),
    ("INVALID", {"streams": [{"stream": "err.a", "events": [{"type": "t"}]},
                             {"stream": "err.b", "events": []}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": ""}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": BIG}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "é" * 128}]}),  # 256 bytes, 128 characters
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "data": {"a": {"b": "c"}}}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "data": {"a": ["b"]}}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "data": {"a": {}}}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t", "metadata": {"a": {"b": "c"}}}]}),
    ("INVALID", {"stream": "err.a", "events": [{"type": "t"}, {"type": "t", "data": {"a": [1]}}]}),
    # NOPERM: system streams are written by the server only.
    ("NOPERM", {"stream": "$audit", "events": [{"type": "t"}]}),
    ("NOPERM", {"stream": "$audit", "version": 0, "events": [{"type": "t"}]}),
    ("NOPERM", {"streams": [{"stream": "err.a", "events": [{"type": "t"}]},
                            {"stream": "$audit", "events": [{"type": "t"}]}]}),
]


def error_id(case):
    code, arg = case
    text = arg if isinstance(arg, str) else repr(arg) if isinstance(arg, bytes) else json.dumps(arg)
    return f"{code}:{text[:60]}"


@pytest.mark.parametrize("case", ERRORS, ids=[error_id(c) for c in ERRORS])
def test_rejected_add_has_the_settled_code_and_stores_nothing(raw, case):
    code, arg = case
    before = store_state(raw)
    reply = raw_add(raw, arg)
    assert isinstance(reply, RespError), reply
    assert reply.code == code, reply
    assert len(reply) > len(code) + 1, "an error needs a message after its code"
    assert store_state(raw) == before
    for stream in ("err.a", "err.b"):
        assert raw.call("GET", json.dumps({"stream": stream})) == []


MALFORMED_AFTER_CONTENT_ERROR = {
    "bad-id-then-missing-value": '{"stream":"err.a","events":[{"type":"t","id":"bad id"}], "x": }',
    "nested-data-then-trailing-comma": '{"stream":"err.a","events":[{"type":"t","data":{"a":[]}}],}',
    "empty-type-then-extra-brackets": '{"stream":"err.a","events":[{"type":""}]]]]}',
    "bad-stream-then-trailing-comma": '{"stream":"err..a","events":[{"type":"t"}],}',
    "system-stream-then-trailing-comma": '{"stream":"$audit","events":[{"type":"t"}],}',
    "too-many-events-then-trailing-comma":
        '{"stream":"err.a","events":[' + ",".join(['{"type":"t"}'] * 10_001) + "],}",
}


@pytest.mark.parametrize("name", list(MALFORMED_AFTER_CONTENT_ERROR))
def test_malformed_json_is_err_wherever_the_syntax_error_sits(raw, name):
    """§8: INVALID / NOPERM / LIMIT are for well-formed arguments; an argument that is not JSON is
    ERR even when a part before the syntax error already breaks a content rule."""
    before = store_state(raw)
    reply = raw_add(raw, MALFORMED_AFTER_CONTENT_ERROR[name])
    assert isinstance(reply, RespError) and reply.code == "ERR", reply
    assert store_state(raw) == before


def test_malformed_getall_filter_is_err_even_after_a_bad_pattern(raw):
    reply = raw.call("GETALL", '{"filter":{"streams":["a..b"]}, "x": }')
    assert isinstance(reply, RespError) and reply.code == "ERR", reply


def test_type_of_255_bytes_and_names_at_their_limits_are_accepted(r):
    stream = "s" * 120 + "." + "t" * 134  # 255 bytes
    stored = add(r, stream, [{"id": "i" * 64, "type": "y" * 255,
                              "data": {"f" * 128: "v", "A-Z_a.z:0-9": "w"}}])
    assert stored[0]["stream"] == stream and stored[0]["type"] == "y" * 255
    assert stored[0]["hash"] == leaf_hash(stored[0])
    ok = add(r, "tok.A-Z_a-z_0-9:@+=~!", [{"type": "t"}])
    assert ok[0]["version"] == 1


def test_more_than_10000_events_is_limit_and_stores_nothing(raw):
    before = store_state(raw)
    reply = raw_add(raw, {"stream": "limit.many", "events": [{"type": "t"}] * 10_001})
    assert isinstance(reply, RespError) and reply.code == "LIMIT", reply
    reply = raw_add(raw, {"streams": [{"stream": "limit.many", "events": [{"type": "t"}] * 5_000},
                                      {"stream": "limit.many2", "events": [{"type": "t"}] * 5_001}]})
    assert isinstance(reply, RespError) and reply.code == "LIMIT", reply
    assert store_state(raw) == before
    assert raw.call("GET", '{"stream":"limit.many"}') == []
    stored = raw_add(raw, {"stream": "limit.many", "events": [{"type": "t"}] * 10_000})
    assert not isinstance(stored, RespError), stored
    assert len(stored) == 10_000 and stored[-1]["version"] == 10_000
    assert stored[-1]["position"] - stored[0]["position"] == 9_999


def canonical_size(stream, event_id, payload):
    """Size of the canonical JSON of a first event in a new stream written by the master key."""
    model = {"id": event_id, "stream": stream, "version": 1, "type": "t", "data": payload,
             "metadata": {}, "causation_id": event_id, "correlation_id": event_id,
             "added_at": "2026-01-01T00:00:00.000Z", "actor": "master"}
    return len(canonical(model))


def test_event_over_1MiB_canonical_is_limit_and_exactly_1MiB_is_stored(raw):
    mib = 1 << 20
    base = canonical_size("limit.big", "big-1", "")
    before = store_state(raw)
    over = raw_add(raw, {"stream": "limit.big", "events": [{"id": "big-1", "type": "t", "data": "x" * (mib - base + 1)}]})
    assert isinstance(over, RespError) and over.code == "LIMIT", over[:200] if isinstance(over, str) else over
    # The limit counts the canonical (escaped) form, not the characters: 0x01 takes 6 bytes.
    escaped = raw_add(raw, {"stream": "limit.big", "events": [{"id": "big-1", "type": "t", "data": "\x01" * (mib // 6 + 1)}]})
    assert isinstance(escaped, RespError) and escaped.code == "LIMIT", escaped
    assert store_state(raw) == before
    exact = raw_add(raw, {"stream": "limit.big", "events": [{"id": "big-1", "type": "t", "data": "x" * (mib - base)}]})
    assert not isinstance(exact, RespError), exact
    assert len(canonical(exact[0])) == mib
    assert exact[0]["hash"] == leaf_hash(exact[0])


# --- expected versions ---------------------------------------------------------------------------


def test_expected_version_integer_any_and_exists(raw):
    s = "ver.patient.42"
    assert isinstance(raw_add(raw, {"stream": s, "version": "exists", "events": [{"type": "t"}]}), RespError)
    e = raw_add(raw, {"stream": s, "version": "exists", "events": [{"type": "t"}]})
    assert e.code == "CONFLICT", e
    assert [x["version"] for x in raw_add(raw, {"stream": s, "version": 0, "events": [{"type": "t"}] * 2})] == [1, 2]
    assert [x["version"] for x in raw_add(raw, {"stream": s, "version": 2, "events": [{"type": "t"}]})] == [3]
    assert [x["version"] for x in raw_add(raw, {"stream": s, "version": "any", "events": [{"type": "t"}]})] == [4]
    assert [x["version"] for x in raw_add(raw, {"stream": s, "events": [{"type": "t"}]})] == [5]
    assert [x["version"] for x in raw_add(raw, {"stream": s, "version": "exists", "events": [{"type": "t"}]})] == [6]
    before = store_state(raw)
    e = raw_add(raw, {"stream": s, "version": 2, "events": [{"type": "t"}]})
    assert e == "CONFLICT expected version 2 but stream 'ver.patient.42' is at version 6"
    e = raw_add(raw, {"stream": s, "version": 9, "events": [{"type": "t"}]})
    assert e == "CONFLICT expected version 9 but stream 'ver.patient.42' is at version 6"
    e = raw_add(raw, {"stream": s, "version": 0, "events": [{"type": "t"}]})
    assert e == "CONFLICT expected version 0 but stream 'ver.patient.42' is at version 6"
    e = raw_add(raw, {"stream": "ver.new", "version": 1, "events": [{"type": "t"}]})
    assert e == "CONFLICT expected version 1 but stream 'ver.new' is at version 0"
    assert store_state(raw) == before
    assert [x["version"] for x in events_of(raw.call("GET", json.dumps({"stream": s})))] == [1, 2, 3, 4, 5, 6]


def test_conflict_through_redis_py_names_the_real_numbers(r):
    add(r, "ver.py", [{"type": "t"}] * 5)
    with pytest.raises(redis.ResponseError) as err:
        add(r, "ver.py", [{"type": "t"}], version=2)
    assert str(err.value) == "CONFLICT expected version 2 but stream 'ver.py' is at version 5"


# --- idempotency ---------------------------------------------------------------------------------


def test_exact_replay_returns_the_stored_events_even_after_the_stream_moved_on(raw):
    req = {"stream": "idem.1", "version": 0, "events": [
        {"id": "idem-1-a", "type": "t", "data": {"k": "v"}},
        {"id": "idem-1-b", "type": "u", "metadata": {"m": "1"}, "causation_id": "idem-1-a"}]}
    stored = raw_add(raw, req)
    assert [e["version"] for e in stored] == [1, 2]
    state = store_state(raw)
    assert raw_add(raw, req) == stored  # same ids, versions, positions, added_at, hash
    assert store_state(raw) == state
    moved = raw_add(raw, {"stream": "idem.1", "events": [{"type": "later"}]})
    assert moved[0]["version"] == 3
    state = store_state(raw)
    # version 0 no longer holds, but idempotency is checked first.
    assert raw_add(raw, req) == stored
    assert store_state(raw) == state
    # The multi-stream form replays the same way.
    multi = {"streams": [{"stream": "idem.2", "version": 0, "events": [{"id": "idem-2-a", "type": "t"}]},
                         {"stream": "idem.3", "version": 0, "events": [{"id": "idem-3-a", "type": "t"},
                                                                       {"id": "idem-3-b", "type": "t"}]}]}
    stored_multi = raw_add(raw, multi)
    state = store_state(raw)
    assert raw_add(raw, multi) == stored_multi
    assert store_state(raw) == state


def test_idempotent_replay_through_redis_py(r):
    events = [{"id": "idem-py-1", "type": "t"}, {"id": "idem-py-2", "type": "t"}]
    first = add(r, "idem.py", events)
    count = r.execute_command("EVENTCOUNT")
    assert add(r, "idem.py", events) == first
    assert r.execute_command("EVENTCOUNT") == count


IDEM_BASE = {"stream": "idem.conflict", "events": [
    {"id": "ic-1", "type": "t", "data": {"a": "1"}},
    {"id": "ic-2", "type": "t"}]}
IDEM_CONFLICTS = {
    "partial-overlap": {"stream": "idem.conflict", "events": [
        {"id": "ic-1", "type": "t", "data": {"a": "1"}}, {"id": "ic-2", "type": "t"}, {"id": "ic-3", "type": "t"}]},
    "new-then-existing": {"stream": "idem.conflict", "events": [
        {"id": "ic-0", "type": "t"}, {"id": "ic-1", "type": "t", "data": {"a": "1"}}, {"id": "ic-2", "type": "t"}]},
    "other-data": {"stream": "idem.conflict", "events": [
        {"id": "ic-1", "type": "t", "data": {"a": "2"}}, {"id": "ic-2", "type": "t"}]},
    "other-type": {"stream": "idem.conflict", "events": [
        {"id": "ic-1", "type": "t", "data": {"a": "1"}}, {"id": "ic-2", "type": "other"}]},
    "other-metadata": {"stream": "idem.conflict", "events": [
        {"id": "ic-1", "type": "t", "data": {"a": "1"}, "metadata": {"x": "y"}}, {"id": "ic-2", "type": "t"}]},
    "other-stream": {"stream": "idem.elsewhere", "events": [
        {"id": "ic-1", "type": "t", "data": {"a": "1"}}, {"id": "ic-2", "type": "t"}]},
    "other-order": {"stream": "idem.conflict", "events": [
        {"id": "ic-2", "type": "t"}, {"id": "ic-1", "type": "t", "data": {"a": "1"}}]},
    "existing-id-plus-id-less-event": {"stream": "idem.conflict", "events": [
        {"id": "ic-1", "type": "t", "data": {"a": "1"}}, {"id": "ic-2", "type": "t"}, {"type": "t"}]},
    "existing-id-in-multi-stream": {"streams": [
        {"stream": "idem.fresh", "events": [{"id": "ic-fresh", "type": "t"}]},
        {"stream": "idem.elsewhere", "events": [{"id": "ic-2", "type": "t"}]}]},
}


@pytest.mark.parametrize("name", list(IDEM_CONFLICTS))
def test_ids_that_exist_with_other_content_or_place_are_conflict(raw, name):
    first = raw_add(raw, IDEM_BASE)
    assert not isinstance(first, RespError) and [e["id"] for e in first] == ["ic-1", "ic-2"]
    before = store_state(raw)
    reply = raw_add(raw, IDEM_CONFLICTS[name])
    assert isinstance(reply, RespError) and reply.code == "CONFLICT", reply
    assert store_state(raw) == before
    for event_id in ("ic-0", "ic-3", "ic-fresh"):
        assert raw.call("EVENT:GET", json.dumps({"id": event_id})) is None
    assert raw.call("GET", '{"stream":"idem.elsewhere"}') == []


def test_ids_that_exist_but_not_consecutively_are_conflict(raw):
    raw_add(raw, {"stream": "idem.gap", "events": [{"id": "gap-1", "type": "t"}]})
    raw_add(raw, {"stream": "idem.gap", "events": [{"type": "between"}]})
    raw_add(raw, {"stream": "idem.gap", "events": [{"id": "gap-2", "type": "t"}]})
    before = store_state(raw)
    reply = raw_add(raw, {"stream": "idem.gap", "events": [{"id": "gap-1", "type": "t"}, {"id": "gap-2", "type": "t"}]})
    assert isinstance(reply, RespError) and reply.code == "CONFLICT", reply
    assert store_state(raw) == before


def test_duplicate_id_inside_one_request_is_rejected_and_stores_nothing(raw):
    before = store_state(raw)
    reply = raw_add(raw, {"stream": "idem.dup", "events": [{"id": "dup-1", "type": "t"}, {"id": "dup-1", "type": "t"}]})
    assert isinstance(reply, RespError), reply
    assert store_state(raw) == before


def test_ids_of_a_rejected_add_stay_free(raw):
    reply = raw_add(raw, {"stream": "idem.free", "version": 7, "events": [{"id": "free-1", "type": "t"}]})
    assert reply == "CONFLICT expected version 7 but stream 'idem.free' is at version 0"
    stored = raw_add(raw, {"stream": "idem.free", "version": 0, "events": [{"id": "free-1", "type": "t"}]})
    assert [e["id"] for e in stored] == ["free-1"]


# --- atomicity -----------------------------------------------------------------------------------


def test_one_failing_expected_version_stores_nothing_in_any_stream(raw):
    raw_add(raw, {"stream": "atom.b", "events": [{"type": "t"}]})
    before = store_state(raw)
    reply = raw_add(raw, {"streams": [
        {"stream": "atom.a", "version": 0, "events": [{"type": "t"}] * 3},
        {"stream": "atom.b", "version": 3, "events": [{"type": "t"}]},
        {"stream": "atom.c", "events": [{"type": "t"}]}]})
    assert reply == "CONFLICT expected version 3 but stream 'atom.b' is at version 1"
    assert store_state(raw) == before
    assert raw.call("GET", '{"stream":"atom.a"}') == []
    assert raw.call("GET", '{"stream":"atom.c"}') == []
    assert len(raw.call("GET", '{"stream":"atom.b"}')) == 1


def test_consecutive_positions_for_every_add(r):
    previous_end = None
    for n in (1, 5, 17, 3):
        stored = add(r, f"consec.{n}", [{"type": "t"}] * n)
        positions = [e["position"] for e in stored]
        assert positions == list(range(positions[0], positions[0] + n))
        if previous_end is not None:
            assert positions[0] == previous_end + 1  # no other writer on this module's server here
        previous_end = positions[-1]


# --- GET -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ten(r):
    return add(r, "read.ten", [{"type": f"t{i}", "data": {"i": str(i)}} for i in range(1, 11)])


def versions(events):
    return [e["version"] for e in events]


def test_get_forward_and_backward(r, ten):
    assert get(r, stream="read.ten") == ten
    assert versions(get(r, stream="read.ten", version=3)) == [4, 5, 6, 7, 8, 9, 10]
    assert versions(get(r, stream="read.ten", limit=2)) == [1, 2]
    assert versions(get(r, stream="read.ten", version=3, limit=2)) == [4, 5]
    assert versions(get(r, stream="read.ten", version=0, direction="forward")) == list(range(1, 11))
    assert get(r, stream="read.ten", version=10) == []
    assert get(r, stream="read.ten", version=99) == []
    assert versions(get(r, stream="read.ten", direction="backward")) == list(range(10, 0, -1))
    assert get(r, stream="read.ten", direction="backward", limit=1) == [ten[-1]]
    assert versions(get(r, stream="read.ten", direction="backward", version=5)) == [4, 3, 2, 1]
    assert versions(get(r, stream="read.ten", direction="backward", version=5, limit=2)) == [4, 3]
    assert get(r, stream="read.ten", direction="backward", version=1) == []


def test_get_limits(r, raw):
    stored = add(r, "read.big", [{"type": "t"}] * 1005)
    assert len(get(r, stream="read.big")) == 1000  # default page
    assert len(get(r, stream="read.big", limit=0)) == 1000  # 0 = default
    assert get(r, stream="read.big", limit=10_000) == stored
    assert versions(get(r, stream="read.big", version=1000)) == [1001, 1002, 1003, 1004, 1005]
    for bad in (-1, 10_001, "ten", 1.5):
        reply = raw.call("GET", json.dumps({"stream": "read.big", "limit": bad}))
        assert isinstance(reply, RespError) and reply.code == "ERR", (bad, reply)
    reply = raw.call("GET", json.dumps({"stream": "read.big", "direction": "sideways"}))
    assert isinstance(reply, RespError) and reply.code == "ERR", reply
    reply = raw.call("GET", json.dumps({"limit": 1}))
    assert isinstance(reply, RespError) and reply.code == "ERR", reply
    reply = raw.call("GET", "not json")
    assert isinstance(reply, RespError) and reply.code == "ERR", reply


def test_get_unknown_stream_is_an_empty_array(raw):
    assert raw.call("GET", '{"stream":"read.never.written"}') == []
    assert raw.reader.last_raw == b"*0\r\n"


# --- GETALL (own server: exact positions) -----------------------------------------------------------


def past_millisecond(added_at):
    """Returns once the machine's clock (which the server stamps added_at from) is past the given
    added_at, so that the next commit gets a later one. Waits on the clock, not on the server."""
    t = datetime.datetime.strptime(added_at, "%Y-%m-%dT%H:%M:%S.%f%z")
    deadline = t + datetime.timedelta(milliseconds=1)
    give_up = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)
    while datetime.datetime.now(datetime.timezone.utc) <= min(deadline, give_up):
        pass


@pytest.fixture(scope="module")
def log_server():
    from harness import Server
    s = Server().start()
    try:
        r = s.client()
        batches = []
        plan = [("patient.1", "admitted", 30), ("patient.2", "admitted", 30), ("patient.2.x", "noted", 20),
                ("order.1", "placed", 40), ("patient.1", "discharged", 10), ("order.2", "placed", 20),
                ("patient.3", "discharged", 5)]
        for stream, type_, n in plan:
            if batches:
                past_millisecond(batches[-1][0]["added_at"])  # distinct added_at per batch
            batches.append(add(r, stream, [{"type": type_, "data": {"n": str(i)}} for i in range(n)]))
        yield s, [e for b in batches for e in b], batches
        assert s.stop() == 0
    finally:
        s.cleanup()


def test_getall_pages_by_position_and_by_id(log_server):
    s, log, _ = log_server
    r = s.client()
    assert [e["position"] for e in log] == list(range(1, len(log) + 1))
    assert getall(r) == log[:100]  # default offset 0, limit 100
    assert getall(r, limit=0) == log[:100]
    assert getall(r, limit=10_000) == log
    assert getall(r, offset=0, limit=3) == log[:3]
    assert getall(r, offset=100, limit=5) == log[100:105]
    assert getall(r, offset=len(log)) == []
    assert getall(r, offset=log[41]["id"], limit=4) == log[42:46]
    assert getall(r, offset=log[-1]["id"]) == []
    out, rc = s.cli("GETALL", json.dumps({"offset": 150, "limit": 2}))
    assert rc == 0 and [json.loads(line) for line in out.splitlines()] == log[150:152]


def test_getall_errors(log_server):
    s, _, _ = log_server
    with RawClient(s) as c:
        for arg in ({"offset": "no-such-id"}, {"limit": -1}, {"limit": 10_001}, {"offset": -1},
                    {"offset": [1]}, {"filter": []}, {"filter": {"streams": "patient.*"}}):
            reply = c.call("GETALL", json.dumps(arg))
            assert isinstance(reply, RespError) and reply.code == "ERR", (arg, reply)


def test_getall_filters_by_stream_pattern_and_type(log_server):
    s, log, _ = log_server
    r = s.client()

    def only(pred):
        return [e for e in log if pred(e)]

    one_token = only(lambda e: re.fullmatch(r"patient\.[^.]+", e["stream"]))
    assert getall(r, limit=10_000, filter={"streams": ["patient.*"]}) == one_token
    assert {e["stream"] for e in one_token} == {"patient.1", "patient.2", "patient.3"}
    assert getall(r, limit=10_000, filter={"streams": ["patient.>"]}) == only(lambda e: e["stream"].startswith("patient."))
    assert getall(r, limit=10_000, filter={"streams": ["patient.*.x"]}) == only(lambda e: e["stream"] == "patient.2.x")
    assert getall(r, limit=10_000, filter={"streams": ["order.1"]}) == only(lambda e: e["stream"] == "order.1")
    assert getall(r, limit=10_000, filter={"streams": ["order.1", "patient.3"]}) == only(
        lambda e: e["stream"] in ("order.1", "patient.3"))
    assert getall(r, limit=10_000, filter={"streams": ["*"]}) == []  # one token; every stream here has two or more
    assert getall(r, limit=10_000, filter={"streams": [">"]}) == log
    assert getall(r, limit=10_000, filter={"types": ["placed"]}) == only(lambda e: e["type"] == "placed")
    assert getall(r, limit=10_000, filter={"types": ["noted", "discharged"]}) == only(
        lambda e: e["type"] in ("noted", "discharged"))
    both = only(lambda e: e["type"] == "discharged" and re.fullmatch(r"patient\.[^.]+", e["stream"]))
    assert getall(r, limit=10_000, filter={"streams": ["patient.*"], "types": ["discharged"]}) == both
    # The limit counts matching events, and offset still works inside a filter.
    placed = only(lambda e: e["type"] == "placed")
    assert getall(r, limit=7, filter={"types": ["placed"]}) == placed[:7]
    assert getall(r, offset=placed[6]["position"], limit=3, filter={"types": ["placed"]}) == placed[7:10]
    assert getall(r, limit=10_000, filter={"types": ["nothing-like-this"]}) == []


def rfc3339_with_offset(added_at, hours):
    t = datetime.datetime.strptime(added_at, "%Y-%m-%dT%H:%M:%S.%f%z")
    tz = datetime.timezone(datetime.timedelta(hours=hours))
    return t.astimezone(tz).isoformat(timespec="milliseconds")


def test_getall_filters_by_time_since_inclusive_until_exclusive(log_server):
    s, log, batches = log_server
    r = s.client()
    since, until = batches[2][0]["added_at"], batches[5][0]["added_at"]
    assert since < until, "batches were committed in distinct milliseconds"
    expected = [e for e in log if since <= e["added_at"] < until]
    assert expected and expected[0]["added_at"] == since  # inclusive lower bound is exercised
    assert all(e["added_at"] != until for e in expected)
    assert getall(r, limit=10_000, filter={"since": since, "until": until}) == expected
    assert getall(r, limit=10_000, filter={"since": since}) == [e for e in log if e["added_at"] >= since]
    assert getall(r, limit=10_000, filter={"until": until}) == [e for e in log if e["added_at"] < until]
    # Any RFC 3339 form is accepted, e.g. with an offset instead of Z.
    assert getall(r, limit=10_000, filter={"since": rfc3339_with_offset(since, 2),
                                            "until": rfc3339_with_offset(until, -5)}) == expected
    assert getall(r, limit=10_000, filter={"since": since, "until": since}) == []
    with RawClient(s) as c:
        reply = c.call("GETALL", json.dumps({"filter": {"since": "yesterday"}}))
        assert isinstance(reply, RespError) and reply.code == "ERR", reply


def test_checksum_and_verify_match_python_over_the_whole_log(log_server):
    s, log, _ = log_server
    r = s.client()
    everything = all_events(r)
    assert everything == log
    root = merkle_root([e["hash"] for e in everything])
    last_id, server_root, count = r.execute_command("CHECKSUM")
    assert (last_id, server_root, count) == (log[-1]["id"], root, len(log))
    report = json.loads(r.execute_command("VERIFY", "{}"))
    streams = {e["stream"] for e in log}
    assert report == {"ok": True, "events": len(log), "streams": len(streams), "root": root, "bad": []}
    assert r.execute_command("EVENTCOUNT") == len(log)
    assert r.execute_command("STREAMCOUNT") == len(streams)
    for cmd in ("EVENTCOUNTEST", "STREAMCOUNTEST"):
        n = r.execute_command(cmd)
        assert isinstance(n, int) and n >= 0


def test_aggregate_list_versions_roots_pattern_and_paging(log_server):
    s, log, _ = log_server
    r = s.client()
    by_stream = {}
    for e in log:
        by_stream.setdefault(e["stream"], []).append(e)
    listed = [json.loads(x) for x in r.execute_command("AGGREGATE:LIST")]
    assert sorted(x["stream"] for x in listed) == sorted(by_stream)
    for x in listed:
        assert list(x) == ["stream", "version", "root", "type", "created_at", "updated_at", "snapshot_version",
                           "archived", "locked"]
        events = by_stream[x["stream"]]
        assert x["version"] == len(events)
        assert x["type"] == x["stream"].split(".")[0]
        assert (x["created_at"], x["updated_at"]) == (events[0]["added_at"], events[-1]["added_at"])
        assert (x["snapshot_version"], x["archived"], x["locked"]) == (None, False, False)
        assert x["root"] == merkle_root([e["hash"] for e in events]), x["stream"]
        report = json.loads(r.execute_command("VERIFY", json.dumps({"stream": x["stream"]})))
        assert report == {"ok": True, "stream": x["stream"], "version": len(events), "root": x["root"]}
    names = [x["stream"] for x in listed]
    patient = [json.loads(x)["stream"] for x in r.execute_command("AGGREGATE:LIST", '{"pattern":"patient.*"}')]
    assert sorted(patient) == ["patient.1", "patient.2", "patient.3"]
    deep = [json.loads(x)["stream"] for x in r.execute_command("AGGREGATE:LIST", '{"pattern":"patient.>"}')]
    assert sorted(deep) == ["patient.1", "patient.2", "patient.2.x", "patient.3"]
    # Paging with after/limit walks the same list without gaps or repeats.
    walked, after = [], None
    while True:
        arg = {"limit": 2} if after is None else {"limit": 2, "after": after}
        page = [json.loads(x)["stream"] for x in r.execute_command("AGGREGATE:LIST", json.dumps(arg))]
        assert len(page) <= 2
        if not page:
            break
        walked += page
        after = page[-1]
    assert walked == names
    assert [json.loads(x)["stream"] for x in r.execute_command(
        "AGGREGATE:LIST", json.dumps({"pattern": "patient.*", "after": "patient.1", "limit": 1}))] == ["patient.2"]


def test_event_get_by_hash_and_id(log_server):
    s, log, _ = log_server
    r = s.client()
    for e in (log[0], log[77], log[-1]):
        assert json.loads(r.execute_command("EVENT:GET", json.dumps({"id": e["id"]}))) == e
        assert json.loads(r.execute_command("EVENT:GET", json.dumps({"hash": e["hash"]}))) == e
    assert r.execute_command("EVENT:GET", '{"id":"absent-id"}') is None
    assert r.execute_command("EVENT:GET", json.dumps({"hash": "0" * 64})) is None
    with RawClient(s) as c:
        assert c.call("EVENT:GET", '{"id":"absent-id"}') is None and c.reader.last_raw == b"$-1\r\n"
        for arg in ("{}", "not json", '{"id":5}'):
            reply = c.call("EVENT:GET", arg)
            assert isinstance(reply, RespError) and reply.code == "ERR", (arg, reply)


# --- fresh server: counts, CHECKSUM and VERIFY from empty ----------------------------------------


def test_empty_store_checksum_verify_and_counts(server):
    check_merkle_model()
    r = server.client()
    assert r.execute_command("CHECKSUM") == ["", EMPTY_ROOT, 0]
    assert json.loads(r.execute_command("VERIFY", "{}")) == {
        "ok": True, "events": 0, "streams": 0, "root": EMPTY_ROOT, "bad": []}
    assert json.loads(r.execute_command("VERIFY")) == json.loads(r.execute_command("VERIFY", "{}"))
    assert r.execute_command("EVENTCOUNT") == 0 and r.execute_command("STREAMCOUNT") == 0
    assert r.execute_command("AGGREGATE:LIST") == []
    assert r.execute_command("GETALL") == []
    a = add(r, "count.a", [{"type": "t"}] * 3)
    b = add(r, "count.b", [{"type": "t"}])
    a += add(r, "count.a", [{"type": "t"}] * 2)
    assert r.execute_command("EVENTCOUNT") == 6
    assert r.execute_command("STREAMCOUNT") == 2
    log = sorted(a + b, key=lambda e: e["position"])
    assert r.execute_command("CHECKSUM") == [log[-1]["id"], merkle_root([e["hash"] for e in log]), 6]
    report = json.loads(r.execute_command("VERIFY", '{"stream":"count.a"}'))
    assert report == {"ok": True, "stream": "count.a", "version": 5, "root": merkle_root([e["hash"] for e in a])}


def test_verify_of_an_unknown_stream(r):
    report = json.loads(r.execute_command("VERIFY", '{"stream":"verify.never.written"}'))
    assert report["ok"] is True and report["version"] == 0 and report["root"] == EMPTY_ROOT
    assert report.get("stream", "verify.never.written") == "verify.never.written"
