"""`eventful config --rotate-dek`: the store is re-encrypted under a new DEK, crash-safely — killed at
any point, it opens with one of the two keys and loses nothing (issue 5).

The kill points are the rotation's own test hook (EVENTFUL_TEST_CRASH_AT): SIGKILL in the middle
of the copy, and right after config.toml switched to the new store.
"""
import json
import os
import re
import subprocess

import pytest

from harness import DEK, EVENTFUL, EVENTFULD, Server

NEW_DEK = "evd_rotated-key-0123456789abcdefghijkl"


def rotate(data_dir, old=DEK, new=NEW_DEK, crash_at=None):
    env = {k: v for k, v in os.environ.items() if k not in ("EVENTFUL_DEK", "EVENTFUL_TEST_CRASH_AT")}
    if crash_at:
        env["EVENTFUL_TEST_CRASH_AT"] = crash_at
    return subprocess.run([str(EVENTFUL), "config", "--data-dir", str(data_dir), "--rotate-dek", "--dek", old,
                           "--new-dek", new], capture_output=True, text=True, timeout=300, env=env)


def populate(server):
    c = server.client()
    for i in range(30):
        c.execute_command("ADD", json.dumps({"streams": [
            {"stream": f"acct.{i % 4}", "events": [{"type": "t", "data": {"n": str(i), "pad": "x" * 200}}]}]}))
    key = json.loads(c.execute_command("TOKEN:GENERATE", json.dumps({"auth_key": True, "name": "app"})))["auth_key"]
    head = json.loads(c.execute_command("TREEHEAD", "{}"))
    return {"checksum": c.execute_command("CHECKSUM"), "auth_key": key, "public_key": head["public_key"],
            "events": [c.execute_command("GET", json.dumps({"stream": f"acct.{i}"})) for i in range(4)]}


def refuses(data_dir, dek):
    """The server does not start with this DEK, saying why."""
    env = dict(os.environ, EVENTFUL_DEK=dek)
    r = subprocess.run([str(EVENTFULD), "--data-dir", str(data_dir), "--port", "0"], capture_output=True, text=True,
                       timeout=60, env=env)
    return r.returncode != 0 and "wrong data encryption key" in r.stdout + r.stderr


def assert_intact(data_dir, dek, before):
    """Started with `dek`: the same events, checksum, signing key and auth key; VERIFY ok."""
    s = Server(data_dir=data_dir, env={"EVENTFUL_DEK": dek}).start()
    try:
        c = s.client()
        assert c.execute_command("CHECKSUM") == before["checksum"]
        assert [c.execute_command("GET", json.dumps({"stream": f"acct.{i}"})) for i in range(4)] == before["events"]
        assert json.loads(c.execute_command("VERIFY", "{}"))["ok"] is True
        assert json.loads(c.execute_command("TREEHEAD", "{}"))["public_key"] == before["public_key"]
        k = s.client(auth=False)
        assert k.execute_command("AUTH", before["auth_key"]) in (b"OK", "OK", True)
        assert s.stop() == 0
    finally:
        s.kill()


@pytest.fixture
def stopped_store(tmp_path):
    s = Server(data_dir=tmp_path / "data").start()
    before = populate(s)
    assert s.stop() == 0
    return s.data_dir, before


def test_rotation_re_encrypts_and_only_the_new_key_opens(stopped_store):
    data_dir, before = stopped_store
    (data_dir / "dbackup").mkdir()  # not a store directory: rotation must leave it alone
    (data_dir / "dbackup" / "keep.txt").write_text("mine")
    r = rotate(data_dir)
    assert r.returncode == 0, r.stderr
    assert refuses(data_dir, DEK)
    assert_intact(data_dir, NEW_DEK, before)
    assert (data_dir / "dbackup" / "keep.txt").read_text() == "mine"
    stores = [p for p in data_dir.iterdir() if p.is_dir() and re.fullmatch(r"db(-\d+)?", p.name)]
    assert len(stores) == 1 and stores[0].name != "db"  # the old store, readable with the old key, is gone
    plain = [p for p in stores[0].rglob("*") if p.is_file() and p.name != "LOCK"
             and not p.read_bytes().startswith(b"EVTFENC1")]
    assert plain == []  # every file of the new store is encrypted


@pytest.mark.parametrize("crash_at,opens_with", [("copy", DEK), ("switch", NEW_DEK)])
def test_a_rotation_killed_midway_opens_with_one_key_and_loses_nothing(stopped_store, crash_at, opens_with):
    data_dir, before = stopped_store
    r = rotate(data_dir, crash_at=crash_at)
    assert r.returncode == -9, (r.returncode, r.stderr)
    other = NEW_DEK if opens_with == DEK else DEK
    assert refuses(data_dir, other)
    assert_intact(data_dir, opens_with, before)
    # Finishing (or repeating) the rotation afterwards works and cleans up what the kill left.
    if opens_with == DEK:
        assert rotate(data_dir).returncode == 0
        now = NEW_DEK
    else:
        assert rotate(data_dir, old=NEW_DEK, new=DEK).returncode == 0
        now = DEK
    assert_intact(data_dir, now, before)
    assert len([p for p in data_dir.iterdir() if p.is_dir() and re.fullmatch(r"db(-\d+)?", p.name)]) == 1


def test_rotation_refuses_a_wrong_key_and_a_running_server(tmp_path):
    s = Server(data_dir=tmp_path / "data").start()
    try:
        populate(s)
        r = rotate(s.data_dir)
        assert r.returncode == 1 and "stop the server first" in r.stderr
        assert s.client().execute_command("PING") in (True, "PONG", b"PONG")  # untouched
        assert s.stop() == 0
        r = rotate(s.data_dir, old="evd_not-the-key-0123456789abcdefghij")
        assert r.returncode == 1 and "wrong data encryption key" in r.stderr
        r = rotate(s.data_dir, new=DEK)
        assert r.returncode == 1 and "same" in r.stderr
    finally:
        s.cleanup()
