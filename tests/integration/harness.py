"""Shared test harness: start real EventfulDB server processes and talk to them.

A server is configured in a fresh temporary data directory with `eventful config`, started with
`eventfuld --port 0`, and its port is read from the "listening on" line it prints once the port
accepts connections (no sleeps, no port races). Binaries come from $EVENTFUL_BUILD_DIR/bin
(default: <repo>/build/bin).
"""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading

import redis

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD_DIR = pathlib.Path(os.environ.get("EVENTFUL_BUILD_DIR", REPO / "build"))
BIN_DIR = BUILD_DIR / "bin"
EVENTFULD = BIN_DIR / "eventfuld"
EVENTFUL = BIN_DIR / "eventful"

MASTER_KEY = "evm_test-master-key-0123456789abcdefghij"
DEK = "evd_test-data-key-0123456789abcdefghijkl"


class Server:
    """One eventfuld process on a free loopback port, with its own data directory."""

    def __init__(self, data_dir=None, extra_args=(), config_args=(), env=None):
        self._own_dir = data_dir is None
        self.data_dir = pathlib.Path(data_dir or tempfile.mkdtemp(prefix="eventful-test-"))
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, EVENTFUL_DEK=DEK, **(env or {}))
        self.env.pop("EVENTFUL_PORT", None)
        self.proc = None
        self.port = None
        self.output = []
        if not (self.data_dir / "config.toml").exists():
            subprocess.run([str(EVENTFUL), "config", "--data-dir", str(self.data_dir),
                            "--master-key", MASTER_KEY, "--dek", DEK, *config_args],
                           check=True, capture_output=True, text=True)

    def start(self):
        self.output = []
        self.proc = subprocess.Popen(
            [str(EVENTFULD), "--data-dir", str(self.data_dir), "--port", "0", *self.extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env)
        for line in self.proc.stdout:
            self.output.append(line)
            if "listening on" in line:
                self.port = int(line.strip().rsplit(":", 1)[1])
                break
        else:
            self.proc.wait()
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        # Keep draining its output so that the pipe never fills up.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self.proc = None
        return code

    def kill(self):
        """SIGKILL: the crash case."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def cleanup(self):
        if self.proc is not None:
            self.kill()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # --- clients -------------------------------------------------------------------------------

    def client(self, auth=True, **kwargs):
        """A redis-py client (RESP2), authenticated with the master key unless auth=False."""
        return redis.Redis(host="127.0.0.1", port=self.port, password=MASTER_KEY if auth else None,
                           decode_responses=True, socket_timeout=60, **kwargs)

    def cli(self, *args, auth=True, resp3=False, input=None):
        """Runs redis-cli with the given command words; returns (stdout, returncode)."""
        cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)]
        if auth:
            cmd += ["-a", MASTER_KEY, "--no-auth-warning"]
        if resp3:
            cmd.append("-3")
        cmd += list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=120)
        return r.stdout, r.returncode

    def raw(self):
        """A raw TCP socket to the server, for asserting on exact bytes."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        return s

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


def recv_until(sock, predicate, limit=1 << 26):
    """Reads from a raw socket until predicate(buffer) is true or the peer closes."""
    buf = b""
    while not predicate(buf):
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > limit:
            raise AssertionError("reply too large")
    return buf
