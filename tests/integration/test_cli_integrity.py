"""`eventful proof | consistency | treehead | verify`: the CLI's own integrity checks, driven as a
user would against a real server.

Failure paths need a server that lies. `TamperingProxy` sits between the CLI and a real server,
forwards every command and lets a test rewrite chosen replies (an event's content, a proof path,
a tree head's root), as a compromised server or a man in the middle could. Exit codes: 0 verified,
2 verification failed, 1 error.
"""
import json
import re
import socket
import subprocess
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from harness import DEK, EVENTFUL, MASTER_KEY, RespReader, Server, encode_command

HEX64 = re.compile(r"[0-9a-f]{64}")
TIMEOUT = 60


def eventful(port, *args, token=MASTER_KEY):
    cmd = [str(EVENTFUL), *map(str, args), "--port", str(port)]
    if token:
        cmd += ["--token", token]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env={})


def offline(*args, dek=DEK):
    """The CLI without a server: the store is encrypted, so it needs the DEK (EVENTFUL_DEK)."""
    env = {"EVENTFUL_DEK": dek} if dek else {}
    return subprocess.run([str(EVENTFUL), *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT, env=env)


def add(client, stream, n):
    for i in range(n):
        client.execute_command("ADD", json.dumps({"stream": stream, "events": [{"type": "t", "data": {"i": str(i)}}]}))


@pytest.fixture(scope="module")
def store():
    """patient.42 with 5 events and order.1 with 3, interleaved: log positions 1..8."""
    s = Server().start()
    try:
        c = s.client()
        for i in range(5):
            add(c, "patient.42", 1)
            if i < 3:
                add(c, "order.1", 1)
        yield s
        assert s.stop() == 0
    finally:
        s.cleanup()


# --- a proxy that rewrites replies -----------------------------------------------------------------


def bulk(data):
    if isinstance(data, str):
        data = data.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


class TamperingProxy:
    """Forwards RESP commands to `server`. `rewrite[NAME](args, reply)` (NAME upper case, args and
    reply as decoded by harness.RespReader) may return replacement bytes for the reply, or None to
    forward it unchanged."""

    def __init__(self, server, **rewrite):
        self.server = server
        self.rewrite = rewrite
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        upstream = socket.create_connection(("127.0.0.1", self.server.port), timeout=TIMEOUT)
        from_client, from_server = RespReader(conn), RespReader(upstream)
        try:
            while True:
                args = [a.decode() for a in from_client.read()]
                upstream.sendall(encode_command(*args))
                reply = from_server.read()
                fn = self.rewrite.get(args[0].upper())
                replaced = fn(args[1:], reply) if fn else None
                conn.sendall(replaced if replaced is not None else from_server.last_raw)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()
            upstream.close()

    def close(self):
        self.listener.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def edit_json(reply, change):
    obj = json.loads(reply)
    change(obj)
    return bulk(json.dumps(obj, separators=(",", ":")))


def flip_hex(h):
    return ("1" if h[0] == "0" else "0") + h[1:]


# --- proof ---------------------------------------------------------------------------------------


def test_proof_of_a_stream_event_verifies_against_the_signed_tree_head(store):
    r = eventful(store.port, "proof", "patient.42", 3)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("verified: patient.42 v3 is in stream patient.42's tree of size 5 (root ")
    assert "signed at" in r.stdout


def test_proof_by_global_position_verifies(store):
    r = eventful(store.port, "proof", "--position", 2)  # order.1 v1
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("verified: order.1 v1 (position 2) is in the log's tree of size 8 (root ")


def test_proof_against_an_older_tree_size_points_to_consistency(store):
    r = eventful(store.port, "proof", "patient.42", 2, "--tree-size", 3)
    assert r.returncode == 0, r.stderr
    assert "tree of size 3" in r.stdout
    assert "eventful consistency --from=3 --stream=patient.42" in r.stdout


def test_proof_json_is_one_object_with_the_replies_it_rests_on(store):
    r = eventful(store.port, "proof", "patient.42", 4, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verified"] is True
    assert out["event"]["stream"] == "patient.42" and out["event"]["version"] == 4
    assert out["proof"]["leaf_index"] == 3 and out["proof"]["tree_size"] == 5
    assert out["proof"]["leaf_hash"] == out["event"]["hash"]
    assert out["treehead"]["root"] == out["proof"]["root"]


def test_proof_of_an_unknown_stream_or_version_is_an_error(store):
    for args in (("nosuch.1", 1), ("patient.42", 6)):
        r = eventful(store.port, "proof", *args)
        assert r.returncode == 1
        assert f"stream {args[0]} has no version {args[1]}" in r.stderr
    r = eventful(store.port, "proof", "--position", 99)
    assert r.returncode == 1 and "no event at position 99" in r.stderr


@pytest.mark.parametrize("args, message", [
    ((), "give either STREAM VERSION or --position=P"),
    (("patient.42", 1, "--position", 1), "give either STREAM VERSION or --position=P"),
    (("patient.42",), "give the event's version"),
    (("patient.42", 3, "--tree-size", 2), "--tree-size=2 is smaller"),
])
def test_proof_with_bad_arguments_is_an_error(store, args, message):
    r = eventful(store.port, "proof", *args)
    assert r.returncode == 1
    assert message in r.stderr


def test_proof_catches_event_content_that_does_not_match_its_hash(store):
    def edit_event(args, reply):
        event = json.loads(reply[0])
        event["data"]["i"] = "forged"
        return b"*1\r\n" + bulk(json.dumps(event))
    with TamperingProxy(store, GET=edit_event) as proxy:
        r = eventful(proxy.port, "proof", "patient.42", 3)
    assert r.returncode == 2, r.stderr
    assert "verification FAILED: the content of patient.42 v3 does not match its hash" in r.stdout


def test_proof_catches_an_altered_audit_path(store):
    def edit_path(args, reply):
        return edit_json(reply, lambda p: p["path"].__setitem__(0, flip_hex(p["path"][0])))
    with TamperingProxy(store, PROOF=edit_path) as proxy:
        r = eventful(proxy.port, "proof", "patient.42", 3, "--json")
    assert r.returncode == 2, r.stderr
    out = json.loads(r.stdout)
    assert out["verified"] is False
    assert "does not lead to the root" in out["reason"]


def test_proof_catches_a_proof_for_another_leaf(store):
    # A consistent proof, but of version 2 instead of version 3.
    def other_leaf(args, reply):
        request = json.loads(args[0])
        request["version"] = 2
        with socket.create_connection(("127.0.0.1", store.port)) as s:
            r = RespReader(s)
            s.sendall(encode_command("AUTH", MASTER_KEY))
            r.read()
            s.sendall(encode_command("PROOF", json.dumps(request)))
            r.read()
            return r.last_raw
    with TamperingProxy(store, PROOF=other_leaf) as proxy:
        r = eventful(proxy.port, "proof", "patient.42", 3)
    assert r.returncode == 2
    assert "verification FAILED: the server sent a proof for another leaf" in r.stdout


def test_proof_catches_a_forged_tree_head(store):
    def forge(args, reply):
        return edit_json(reply, lambda h: h.__setitem__("root", flip_hex(h["root"])))
    with TamperingProxy(store, TREEHEAD=forge) as proxy:
        r = eventful(proxy.port, "proof", "patient.42", 3)
    assert r.returncode == 2
    assert "signature does not verify" in r.stdout


# --- consistency -----------------------------------------------------------------------------------


def test_consistency_with_a_remembered_tree_head_after_more_events():
    with Server() as s:
        add(s.client(), "acct.7", 3)
        head = json.loads(eventful(s.port, "treehead", "--stream", "acct.7", "--json").stdout)
        log_head = json.loads(eventful(s.port, "treehead", "--json").stdout)
        add(s.client(), "acct.7", 4)

        r = eventful(s.port, "consistency", "--stream", "acct.7", "--from", head["tree_size"],
                     "--from-root", head["root"])
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"verified: stream acct.7's tree of size 3 (root {head['root']}, as remembered)"
                                   " is a prefix of its tree of size 7")
        r = eventful(s.port, "consistency", "--from", log_head["tree_size"], "--from-root", log_head["root"].upper())
        assert r.returncode == 0, r.stderr
        assert "the log's tree of size 3" in r.stdout

        r = eventful(s.port, "consistency", "--stream", "acct.7", "--from", 3, "--from-root", flip_hex(head["root"]))
        assert r.returncode == 2
        assert "verification FAILED" in r.stdout and "not the remembered" in r.stdout
        s.stop()


def test_consistency_between_explicit_sizes_and_json(store):
    r = eventful(store.port, "consistency", "--from", 2, "--to", 6, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verified"] is True and "treehead" not in out
    assert (out["proof"]["from"], out["proof"]["to"]) == (2, 6)
    r = eventful(store.port, "consistency", "--stream", "patient.42", "--from", 5, "--to", 5)
    assert r.returncode == 0, r.stderr


def test_consistency_errors(store):
    r = eventful(store.port, "consistency", "--stream", "nosuch.1", "--from", 1)
    assert r.returncode == 1 and "no such stream" in r.stderr
    r = eventful(store.port, "consistency", "--stream", "patient.42", "--from", 6)
    assert r.returncode == 1 and "has only 5 leaves" in r.stderr
    r = eventful(store.port, "consistency", "--from", 1, "--from-root", "xyz")
    assert r.returncode == 1 and "--from-root must be 64 hex characters" in r.stderr
    r = eventful(store.port, "consistency")  # --from is required: a usage error, not a failed check
    assert r.returncode == 1


def test_consistency_catches_an_altered_new_root(store):
    def edit(args, reply):
        return edit_json(reply, lambda p: p.__setitem__("to_root", flip_hex(p["to_root"])))
    with TamperingProxy(store, CONSISTENCY=edit) as proxy:
        r = eventful(proxy.port, "consistency", "--from", 3, "--to", 8)
    assert r.returncode == 2
    assert "verification FAILED: the consistency proof from size 3 to 8 does not verify" in r.stdout


# --- treehead --------------------------------------------------------------------------------------


def test_treehead_prints_a_head_whose_signature_python_also_accepts(store):
    r = eventful(store.port, "treehead", "--stream", "patient.42")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^tree_size:  5$", r.stdout, re.M)
    assert "verified:   Ed25519 signature by key" in r.stdout

    r = eventful(store.port, "treehead", "--json")
    assert r.returncode == 0, r.stderr
    head = json.loads(r.stdout)
    assert head["tree_size"] == 8 and HEX64.fullmatch(head["root"]) and "stream" not in head
    message = json.dumps({k: head[k] for k in ("root", "timestamp", "tree_size")}, sort_keys=True, separators=(",", ":"))
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(head["public_key"])).verify(
        bytes.fromhex(head["signature"]), message.encode())


def test_treehead_of_an_unknown_stream_is_an_error(store):
    r = eventful(store.port, "treehead", "--stream", "nosuch.1")
    assert r.returncode == 1
    assert "no such stream" in r.stderr


def test_treehead_with_a_forged_field_fails(store):
    def forge(args, reply):
        return edit_json(reply, lambda h: h.__setitem__("tree_size", h["tree_size"] + 1))
    with TamperingProxy(store, TREEHEAD=forge) as proxy:
        r = eventful(proxy.port, "treehead")
    assert r.returncode == 2
    assert "verification FAILED: the tree head's signature does not verify" in r.stderr


# --- verify ----------------------------------------------------------------------------------------


def test_verify_through_the_server(store):
    r = eventful(store.port, "verify")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("verified: 8 events in 2 streams, log root ")
    r = eventful(store.port, "verify", "--json")
    assert r.returncode == 0
    report = json.loads(r.stdout)
    assert report["ok"] is True and report["events"] == 8 and report["bad"] == []


def test_verify_prints_the_bad_entries_of_a_failed_report(store):
    bad = [{"stream": "patient.42", "first_bad_version": 2, "reason": "content does not match hash"}]

    def failing(args, reply):
        return edit_json(reply, lambda r: r.update(ok=False, bad=bad))
    with TamperingProxy(store, VERIFY=failing) as proxy:
        r = eventful(proxy.port, "verify")
    assert r.returncode == 2
    assert r.stdout.startswith("verification FAILED: 1 problem(s) in 8 events, 2 streams")
    assert '{"stream":"patient.42","first_bad_version":2,"reason":"content does not match hash"}' in r.stdout


def test_verify_offline_on_a_stopped_server_and_not_while_it_runs():
    s = Server().start()
    try:
        add(s.client(), "patient.42", 4)
        root = s.client().execute_command("CHECKSUM")[1]

        r = offline("verify", "--data-dir", s.data_dir)
        assert r.returncode == 1
        assert "is in use: the server is running" in r.stderr
        assert "eventful stop" in r.stderr and "without --data-dir" in r.stderr

        assert s.stop() == 0
        r = offline("verify", "--data-dir", s.data_dir)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"verified: 4 events in 1 streams, log root {root} (offline, ")
        r = offline("verify", "--data-dir", s.data_dir, "--json")
        assert r.returncode == 0
        assert json.loads(r.stdout) == {"ok": True, "events": 4, "streams": 1, "root": root, "bad": []}

        # The store still opens for the server afterwards.
        s.start()
        assert s.client().execute_command("CHECKSUM")[1] == root
        assert s.stop() == 0
    finally:
        s.cleanup()


def test_verify_offline_needs_the_right_dek():
    s = Server().start()
    try:
        add(s.client(), "dek.1", 3)
        assert s.stop() == 0
        r = offline("verify", "--data-dir", s.data_dir, dek=None)
        assert r.returncode == 1 and "data encryption key required" in r.stderr
        r = offline("verify", "--data-dir", s.data_dir, dek="evd_not-the-right-key-0123456789abcdef")
        assert r.returncode == 1 and "wrong data encryption key" in r.stderr
        assert offline("verify", "--data-dir", s.data_dir).returncode == 0
    finally:
        s.cleanup()


def test_verify_offline_without_a_store_is_an_error(tmp_path):
    r = offline("verify", "--data-dir", tmp_path)
    assert r.returncode == 1
    assert "no store in" in r.stderr
    assert not (tmp_path / "db").exists()


def test_verify_offline_after_a_crash():
    s = Server().start()
    try:
        add(s.client(), "patient.42", 3)
        s.kill()  # SIGKILL: RocksDB's lock dies with the process
        r = offline("verify", "--data-dir", s.data_dir)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("verified: 3 events in 1 streams")
    finally:
        s.cleanup()


def test_every_proof_of_a_larger_stream_verifies_in_the_client():
    # 37 events: the server answers from stored interior nodes (levels up to 5); every version and
    # every consistency pair from a sample of sizes must check out in the client.
    with Server() as s:
        c = s.client()
        c.execute_command("ADD", json.dumps({"stream": "big.1", "events": [{"type": "t", "data": {"i": str(i)}}
                                                                          for i in range(37)]}))
        for v in range(1, 38):
            r = eventful(s.port, "proof", "big.1", v)
            assert r.returncode == 0, (v, r.stdout, r.stderr)
        for m in (1, 2, 3, 8, 15, 16, 17, 31, 32, 33, 37):
            for n in sorted({m, 16, 32, 36, 37} - set(range(m))):
                r = eventful(s.port, "consistency", "--stream", "big.1", "--from", m, "--to", n)
                assert r.returncode == 0, (m, n, r.stdout, r.stderr)
        s.stop()
