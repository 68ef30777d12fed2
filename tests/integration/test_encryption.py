"""Encryption at rest (issue 5): no file under the data directory holds event data, stream names or
secrets in the clear — not the WAL while the server runs, not the SST files after a flush — and the
store opens only with the right DEK.
"""
import hashlib
import json
import os
import pathlib
import subprocess

from harness import BIN_DIR, DEK, EVENTFULD, Server

TAMPER = BIN_DIR / "eventful_tamper"
STREAM = "patient.zebrafinch7781"
SECRET_VALUE = "diagnosis-quokka-4471-pneumonoultramicroscopic"


def files_under(directory):
    return [p for p in pathlib.Path(directory).rglob("*") if p.is_file()]


def leaks(directory, needles):
    """(file, needle) for every needle found in any file under directory (raw bytes)."""
    found = []
    for path in files_under(directory):
        data = path.read_bytes()
        for n in needles:
            if n.encode() in data:
                found.append((str(path), n))
    return found


def unencrypted_files(store_dir):
    """Files of the store that do not start with the encryption prefix (LOCK is empty by design)."""
    return [str(p) for p in files_under(store_dir)
            if p.name != "LOCK" and not p.read_bytes().startswith(b"EVTFENC1")]


def checksums(directory):
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files_under(directory)}


def write_distinctive(client):
    for i in range(50):
        client.execute_command("ADD", json.dumps({"stream": STREAM, "events": [
            {"type": "diagnosis-recorded", "data": {"note": f"{SECRET_VALUE}-{i}"}}]}))
    key = json.loads(client.execute_command("TOKEN:GENERATE", json.dumps(
        {"auth_key": True, "name": "crypto-app", "permissions": {"read": [">"], "write": [">"]}})))["auth_key"]
    return key


def test_no_plaintext_in_any_file_and_only_the_right_dek_opens_the_store():
    s = Server().start()
    try:
        c = s.client()
        auth_key = write_distinctive(c)
        needles = [STREAM, SECRET_VALUE, "diagnosis-recorded", auth_key, "crypto-app"]
        # While running: the data is in the WAL (and memtables), not yet in SST files.
        assert any(p.name.endswith(".log") for p in files_under(s.data_dir / "db")), "expected a WAL file"
        assert leaks(s.data_dir, needles) == []
        root = c.execute_command("CHECKSUM")[1]
        assert s.stop() == 0

        # Flush and compact everything into SST files, then look again.
        r = subprocess.run([str(TAMPER), "compact", str(s.data_dir / "db")], capture_output=True, text=True,
                           env=s.env, timeout=300)
        assert r.returncode == 0, r.stderr
        assert any(p.suffix == ".sst" for p in files_under(s.data_dir / "db")), "expected SST files"
        assert leaks(s.data_dir, needles) == []
        # Not only the needles: every file RocksDB wrote (SST, WAL, MANIFEST, OPTIONS, CURRENT,
        # IDENTITY, its info log) is encrypted.
        assert unencrypted_files(s.data_dir / "db") == []

        # A wrong DEK: refused before touching anything; every file unchanged.
        before = checksums(s.data_dir)
        wrong = subprocess.run([str(EVENTFULD), "--data-dir", str(s.data_dir), "--port", "0"],
                               capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, EVENTFUL_DEK="evd_wrong-key-0123456789abcdefghijkl"))
        assert wrong.returncode != 0
        assert "wrong data encryption key" in wrong.stdout + wrong.stderr
        missing_env = {k: v for k, v in os.environ.items() if k != "EVENTFUL_DEK"}
        missing = subprocess.run([str(EVENTFULD), "--data-dir", str(s.data_dir), "--port", "0"],
                                 capture_output=True, text=True, timeout=60, env=missing_env)
        assert missing.returncode != 0
        assert "data encryption key required" in missing.stdout + missing.stderr
        assert checksums(s.data_dir) == before

        # The right DEK: everything back, VERIFY ok.
        s.start()
        c = s.client()
        assert c.execute_command("CHECKSUM")[1] == root
        events = [json.loads(e) for e in c.execute_command("GET", json.dumps({"stream": STREAM}))]
        assert [e["data"]["note"] for e in events] == [f"{SECRET_VALUE}-{i}" for i in range(50)]
        assert json.loads(c.execute_command("VERIFY", "{}"))["ok"] is True
        assert s.stop() == 0
    finally:
        s.cleanup()


def test_the_tamper_tool_cannot_read_the_store_without_the_dek():
    s = Server().start()
    try:
        write_distinctive(s.client())
        assert s.stop() == 0
        env = dict(os.environ, EVENTFUL_DEK="evd_wrong-key-0123456789abcdefghijkl")
        r = subprocess.run([str(TAMPER), "compact", str(s.data_dir / "db")], capture_output=True, text=True,
                           env=env, timeout=300)
        assert r.returncode != 0
        assert "wrong data encryption key" in r.stderr
    finally:
        s.cleanup()
