"""The hand-checking code of docs/integrity.md works against a real server.

The ```python blocks of the page are extracted and executed as they are, then used to check real
PROOF and CONSISTENCY replies — and to reject altered ones — so the documentation cannot drift
from what the server sends.
"""
import json
import pathlib
import re

import pytest

from conftest import add

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "integrity.md"


@pytest.fixture(scope="module")
def doc():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 2, "docs/integrity.md should hold the inclusion and the consistency example"
    namespace = {}
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 — our own documentation
    return namespace


def call(client, command, arg):
    return json.loads(client.execute_command(command, json.dumps(arg)))


def test_the_documented_event_hash_and_inclusion_check_accept_real_proofs(server, doc):
    c = server.client()
    events = []
    for i in range(40):  # interleaved streams: the log tree differs from each stream tree
        events += add(c, f"doc.{i % 3}", [{"type": "t", "data": {"i": str(i)}}])
    for ev in events:
        leaf = doc["leaf_hash"](ev)
        assert leaf.hex() == ev["hash"]
        for arg in ({"stream": ev["stream"], "version": ev["version"]}, {"position": ev["position"]}):
            p = call(c, "PROOF", arg)
            root = doc["root_from_inclusion"](p["leaf_index"], p["tree_size"], leaf, p["path"])
            assert root is not None and root.hex() == p["root"], arg
            # An altered path, or the proof of another leaf, must not check.
            if p["path"]:
                bad = [("0" if p["path"][0][0] != "0" else "1") + p["path"][0][1:]] + p["path"][1:]
                assert doc["root_from_inclusion"](p["leaf_index"], p["tree_size"], leaf, bad) != bytes.fromhex(p["root"])
                other = (p["leaf_index"] + 1) % p["tree_size"]
                assert doc["root_from_inclusion"](other, p["tree_size"], leaf, p["path"]) != bytes.fromhex(p["root"])
    assert call(c, "PROOF", {"position": 40})["root"] == c.execute_command("CHECKSUM")[1]


def test_the_documented_consistency_check_accepts_extension_and_rejects_a_wrong_memory(server, doc):
    c = server.client()
    for i in range(13):
        add(c, "doc.c", [{"type": "t", "data": {"i": str(i)}}])
    remembered = [call(c, "TREEHEAD", {})]
    for i in range(13, 50):
        add(c, "doc.c", [{"type": "t", "data": {"i": str(i)}}])
        remembered.append(call(c, "TREEHEAD", {}))
    for old in remembered:
        for to in (old["tree_size"], 32, 49, None):
            if to is not None and to < old["tree_size"]:
                continue
            arg = {"from": old["tree_size"]} if to is None else {"from": old["tree_size"], "to": to}
            p = call(c, "CONSISTENCY", arg)
            old_root = bytes.fromhex(old["root"])
            assert doc["consistent"](p["from"], p["to"], old_root, bytes.fromhex(p["to_root"]), p["path"]), arg
            wrong = bytes(32) if old_root != bytes(32) else b"\1" * 32
            assert not doc["consistent"](p["from"], p["to"], wrong, bytes.fromhex(p["to_root"]), p["path"]), arg
            if p["path"]:
                assert not doc["consistent"](p["from"], p["to"], old_root, bytes.fromhex(p["to_root"]), p["path"][:-1])
