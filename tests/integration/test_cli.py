"""The `eventful` command line and `eventfuld`, driven as a user would: real binaries, a real
server process, real data directories.

Binaries come from $EVENTFUL_BIN_DIR (a directory holding `eventful` and `eventfuld`), else from
$EVENTFUL_BUILD_DIR/bin (what CTest sets), else <repo>/build/bin. Helpers are local to this file on
purpose.
"""

import json
import os
import re
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
import redis

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("EVENTFUL_BIN_DIR")
               or Path(os.environ.get("EVENTFUL_BUILD_DIR", REPO / "build")) / "bin")
TIMEOUT = 60

STARTED = re.compile(r"^eventful started \(pid (\d+)\) on (\S+):(\d+)$", re.M)
MASTER_KEY = re.compile(r"(?<![A-Za-z0-9_-])evm_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
DEK = re.compile(r"(?<![A-Za-z0-9_-])evd_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def binary(name):
    candidate = BIN_DIR / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    raise AssertionError(f"{name} not found under {BIN_DIR} (set EVENTFUL_BIN_DIR)")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTFUL_")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(*args, env=None, input=None, prog="eventful"):
    return subprocess.run(
        [binary(prog), *map(str, args)],
        env=env if env is not None else clean_env(),
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def alive(pid):
    """True while pid is a live, non-zombie process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return False


def wait_gone(pid, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configure(data_dir):
    """`eventful config --generate`; returns (master key, DEK)."""
    r = run("config", "--generate", "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    master, dek = MASTER_KEY.findall(r.stdout), DEK.findall(r.stdout)
    assert len(master) == 1 and len(dek) == 1, r.stdout
    return master[0], dek[0]


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    yield d
    # Never leave a server behind, whatever the test did.
    pid_file = d / "eventful.pid"
    if pid_file.exists():
        try:
            pid = int(pid_file.read_text().strip())
        except ValueError:
            return
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 10)


class Server:
    def __init__(self, data_dir, master, dek, pid, host, port):
        self.data_dir, self.master, self.dek = data_dir, master, dek
        self.pid, self.host, self.port = pid, host, port

    def cli(self, *args, token=None, input=None):
        return run(*args, "--port", self.port, "--token", token or self.master, input=input)

    def ok(self, *args):
        r = self.cli(*args)
        assert r.returncode == 0, f"{args}: rc={r.returncode} stderr={r.stderr}"
        return r.stdout

    def json_lines(self, *args):
        return [json.loads(line) for line in self.ok(*args, "--json").splitlines()]


@pytest.fixture
def daemon(data_dir):
    master, dek = configure(data_dir)
    r = run("start", "--data-dir", data_dir, "--port", 0, env=clean_env(EVENTFUL_DEK=dek))
    assert r.returncode == 0, f"start failed: {r.stdout} {r.stderr}"
    m = STARTED.search(r.stdout)
    assert m, r.stdout
    pid, host, port = int(m.group(1)), m.group(2), int(m.group(3))
    assert port > 0
    srv = Server(data_dir, master, dek, pid, host, port)
    yield srv
    if alive(pid):
        run("stop", "--data-dir", data_dir)


# ---- version ----


def test_version_is_the_same_for_both_binaries():
    a, b = run("--version"), run("--version", prog="eventfuld")
    assert a.returncode == 0 and b.returncode == 0
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", a.stdout.strip()), a.stdout
    assert a.stdout == b.stdout


# ---- config ----


def test_config_generate_prints_secrets_once_and_stores_neither(data_dir):
    r = run("config", "--generate", "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    master, dek = MASTER_KEY.findall(r.stdout), DEK.findall(r.stdout)
    assert len(master) == 1 and len(dek) == 1, r.stdout
    assert "not stored" in r.stdout.lower()

    config = data_dir / "config.toml"
    text = config.read_text()
    for secret in (master[0], dek[0]):
        assert secret not in text
        assert secret[4:] not in text  # not even without its prefix
    assert "master_key_check" in text and "dek_check" in text
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700

    # Updating a setting keeps the secrets and prints none.
    checks = [line for line in text.splitlines() if "_check" in line]
    r = run("config", "--data-dir", data_dir, "--port", 7777, "--memory-threshold", 42)
    assert r.returncode == 0, r.stderr
    assert not MASTER_KEY.search(r.stdout) and not DEK.search(r.stdout)
    text = config.read_text()
    assert "port = 7777" in text and "memory_threshold = 42" in text
    assert [line for line in text.splitlines() if "_check" in line] == checks


def test_config_without_secrets_or_generate_fails(data_dir):
    r = run("config", "--data-dir", data_dir)
    assert r.returncode != 0
    assert "master key" in r.stderr
    assert not (data_dir / "config.toml").exists()


def test_config_with_given_secrets_stores_check_values_only(data_dir):
    r = run("config", "--data-dir", data_dir, "--master-key", "my-master-key-1", "--dek", "my-dek-1")
    assert r.returncode == 0, r.stderr
    text = (data_dir / "config.toml").read_text()
    assert "my-master-key-1" not in text and "my-dek-1" not in text
    r = run("start", "--data-dir", data_dir, "--dek", "not-my-dek")
    assert r.returncode != 0
    assert "wrong data encryption key" in r.stderr


def test_unknown_config_key_is_named(data_dir):
    configure(data_dir)
    config = data_dir / "config.toml"
    config.write_text(config.read_text().replace("[storage]\n", "[storage]\nbogus_knob = 1\n"))
    r = run("start", "--data-dir", data_dir, "--dek", "whatever")
    assert r.returncode != 0
    assert "bogus_knob" in r.stderr


def test_wrongly_typed_config_value_is_an_error(data_dir):
    configure(data_dir)
    config = data_dir / "config.toml"
    config.write_text(re.sub(r"(?m)^port = .*$", 'port = "high"', config.read_text()))
    r = run("start", "--data-dir", data_dir, "--dek", "whatever")
    assert r.returncode != 0
    assert "port" in r.stderr


# ---- DEK checks at start ----


@pytest.mark.parametrize("prog", ["eventful", "eventfuld"])
def test_start_without_dek_fails(data_dir, prog):
    configure(data_dir)
    args = ["start", "--data-dir", data_dir] if prog == "eventful" else ["--data-dir", data_dir]
    r = run(*args, prog=prog)
    assert r.returncode != 0
    assert "data encryption key required" in r.stderr
    assert not (data_dir / "eventful.pid").exists()


@pytest.mark.parametrize("how", ["flag", "env", "file"])
def test_start_with_wrong_dek_fails(data_dir, tmp_path, how):
    configure(data_dir)
    wrong = "evd_" + "A" * 43
    env = clean_env()
    args = ["start", "--data-dir", data_dir, "--port", 0]
    if how == "flag":
        args += ["--dek", wrong]
    elif how == "env":
        env["EVENTFUL_DEK"] = wrong
    else:
        (tmp_path / "dek").write_text(wrong + "\n")
        args += ["--dek-file", tmp_path / "dek"]
    r = run(*args, env=env)
    assert r.returncode != 0
    assert "wrong data encryption key" in r.stderr


def test_eventfuld_with_wrong_dek_fails(data_dir):
    configure(data_dir)
    r = run("--data-dir", data_dir, "--dek", "nope", prog="eventfuld")
    assert r.returncode != 0
    assert "wrong data encryption key" in r.stderr


def test_start_without_config_says_to_run_config(data_dir):
    r = run("start", "--data-dir", data_dir, "--dek", "x")
    assert r.returncode != 0
    assert "eventful config" in r.stderr


# ---- the daemon and the client subcommands ----


def test_daemon_round_trip(daemon):
    server = daemon
    data_dir = server.data_dir
    assert int((data_dir / "eventful.pid").read_text()) == server.pid
    assert alive(server.pid)
    assert (data_dir / "eventful.log").exists()

    # A second start is refused while the first runs.
    r = run("start", "--data-dir", data_dir, "--port", 0, env=clean_env(EVENTFUL_DEK=server.dek))
    assert r.returncode != 0 and "already running" in r.stderr

    # event:add, --json: the stored event, with its fields as string data.
    [first] = server.json_lines("event:add", "patient-created", "--stream=patient.42",
                                "--name=Ann \"Nan\" Lee", "--ward", "B-7", "--expected-version=0")
    assert first["stream"] == "patient.42" and first["version"] == 1
    assert first["type"] == "patient-created"
    assert first["data"] == {"name": 'Ann "Nan" Lee', "ward": "B-7"}
    assert first["actor"] == "master"
    assert re.fullmatch(r"[0-9a-f]{64}", first["hash"])

    # event:add, human output, with a client-chosen id.
    out = server.ok("event:add", "patient-updated", "--stream=patient.42", "--status=admitted",
                    "--id=evt-0002", "--expected-version=1")
    assert "patient.42" in out and "patient-updated" in out

    # Expected-version mismatch: an error reply, printed with its code, exit non-zero.
    r = server.cli("event:add", "patient-updated", "--stream=patient.42", "--expected-version=0")
    assert r.returncode != 0
    assert r.stderr.startswith("error: CONFLICT")

    # aggregate:replay
    events = server.json_lines("aggregate:replay", "patient.42")
    assert [e["version"] for e in events] == [1, 2]
    assert events[0] == first
    assert events[1]["id"] == "evt-0002" and events[1]["data"] == {"status": "admitted"}
    lines = server.ok("aggregate:replay", "patient.42").splitlines()
    assert len(lines) == 2
    assert lines[1] == f'v2 patient-updated {{"status":"admitted"}} ({events[1]["added_at"]}, master)'
    assert [e["version"] for e in server.json_lines("aggregate:replay", "patient.42", "--skip=1", "--take=1")] == [2]
    assert server.ok("aggregate:replay", "nobody.1") == ""

    # event:get by hash and by id; an unknown hash is "not found", exit 1.
    assert server.json_lines("event:get", first["hash"]) == [first]
    assert server.json_lines("event:get", "--id=evt-0002") == [events[1]]
    human = server.ok("event:get", first["hash"])
    assert first["hash"] in human and "patient-created" in human
    r = server.cli("event:get", "0" * 64)
    assert r.returncode == 1 and "not found" in (r.stdout + r.stderr)

    # checksum: [last id, root, count], the same as the server's own reply.
    [checksum] = server.json_lines("checksum")
    assert checksum[0] == "evt-0002" and checksum[2] >= 2
    assert re.fullmatch(r"[0-9a-f]{64}", checksum[1])
    direct = redis.Redis(host="127.0.0.1", port=server.port, password=server.master, socket_timeout=30)
    raw = direct.execute_command("CHECKSUM")
    assert [raw[0].decode(), raw[1].decode(), raw[2]] == checksum
    assert checksum[1] in server.ok("checksum")

    # aggregate:verify
    [report] = server.json_lines("aggregate:verify", "patient.42")
    assert report["ok"] is True and report["version"] == 2
    assert server.ok("aggregate:verify", "patient.42").strip() == f"OK patient.42 version 2 root {report['root']}"

    # aggregate:list
    listed = server.json_lines("aggregate:list", "--pattern=patient.*")
    [entry] = [a for a in listed if a["stream"] == "patient.42"]
    assert entry["version"] == 2 and entry["root"] == report["root"]
    assert "patient.42 version 2" in server.ok("aggregate:list")

    # A secret that matches nothing.
    r = server.cli("checksum", token="evm_" + "x" * 43)
    assert r.returncode != 0 and r.stderr.startswith("error: WRONGPASS")

    # destroy refuses while the server runs.
    r = run("destroy", "--data-dir", data_dir, "--yes")
    assert r.returncode != 0 and data_dir.exists()

    # stop: the process goes away and so does the pid file.
    r = run("stop", "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    assert wait_gone(server.pid, 5)
    assert not (data_dir / "eventful.pid").exists()

    # The data survives a restart with the DEK from a file; then destroy removes everything.
    dek_file = data_dir.parent / "dek.txt"
    dek_file.write_text(server.dek + "\n")
    r = run("start", "--data-dir", data_dir, "--port", 0, "--dek-file", dek_file)
    assert r.returncode == 0, r.stderr
    m = STARTED.search(r.stdout)
    pid, port = int(m.group(1)), int(m.group(3))
    r = run("aggregate:replay", "patient.42", "--json", "--port", port, env=clean_env(EVENTFUL_TOKEN=server.master))
    assert r.returncode == 0, r.stderr
    assert [json.loads(line) for line in r.stdout.splitlines()] == events
    assert run("stop", "--data-dir", data_dir).returncode == 0
    assert wait_gone(pid, 5)

    r = run("destroy", "--data-dir", data_dir, "--yes")
    assert r.returncode == 0, r.stderr
    assert not data_dir.exists()


def test_client_without_a_server_fails():
    r = run("checksum", "--port", free_port())
    assert r.returncode != 0
    assert r.stderr.startswith("error:")


def test_start_fails_cleanly_when_the_port_is_taken(data_dir):
    _, dek = configure(data_dir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = run("start", "--data-dir", data_dir, "--port", s.getsockname()[1], "--dek", dek)
    assert r.returncode != 0
    assert "failed to start" in r.stderr
    assert not (data_dir / "eventful.pid").exists()


def test_foreground_eventfuld_serves_and_stops_on_sigterm(data_dir):
    master, dek = configure(data_dir)
    proc = subprocess.Popen([binary("eventfuld"), "--data-dir", str(data_dir), "--port", "0"],
                            env=clean_env(EVENTFUL_DEK=dek), stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on (\S+):(\d+)", line)
        assert m, line
        client = redis.Redis(host="127.0.0.1", port=int(m.group(2)), password=master, socket_timeout=30)
        assert client.ping()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stop_when_not_running_is_fine(data_dir):
    configure(data_dir)
    r = run("stop", "--data-dir", data_dir)
    assert r.returncode == 0
    assert "not running" in r.stdout


def test_destroy_asks_first(data_dir):
    configure(data_dir)
    r = run("destroy", "--data-dir", data_dir, input="no\n")
    assert r.returncode != 0
    assert f"Type 'yes' to delete {data_dir}" in r.stdout
    assert data_dir.exists()
    r = run("destroy", "--data-dir", data_dir, input="yes\n")
    assert r.returncode == 0, r.stderr
    assert not data_dir.exists()


def test_destroy_refuses_a_directory_that_is_not_a_data_dir(tmp_path):
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    r = run("destroy", "--data-dir", other, "--yes")
    assert r.returncode != 0
    assert (other / "notes.txt").exists()
