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
        self.env = dict(os.environ, EVENTFUL_DEK=DEK)
        self.env.update(env or {})
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


# --- raw RESP --------------------------------------------------------------------------------------
# A minimal RESP2/RESP3 reader for tests that must see exactly what the server sent: client
# libraries strip error codes (redis-py drops "ERR "), merge types and hide framing mistakes.


class RespError(str):
    """An error reply: the whole line after '-' (or a '!' blob), e.g. 'CONFLICT expected ...'."""

    @property
    def code(self):
        return self.split(" ", 1)[0]


class SimpleString(str):
    """A '+' status reply, kept apart from a bulk string (which is returned as bytes)."""


def encode_command(*args):
    """One command as a RESP multibulk of bulk strings; str arguments are UTF-8 encoded."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


class RespReader:
    """Reads whole replies from a socket. Types: '+' SimpleString, '-'/'!' RespError, ':'/'(' int,
    '$'/'=' bytes, null ('$-1', '*-1', '_') None, '*'/'~'/'>' list, '%' dict (keys decoded when
    they are bulk strings), '#' bool, ',' float. `last_raw` holds the exact bytes of the last reply.
    Raises EOFError when the peer closes before a whole reply arrived."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.pos = 0
        self.last_raw = b""

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed by the server")
        self.buf += chunk

    def _line(self):
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = self.buf[self.pos:end]
                self.pos = end + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = self.buf[self.pos:self.pos + n]
        assert self.buf[self.pos + n:self.pos + n + 2] == b"\r\n", "bulk not terminated by CRLF"
        self.pos += n + 2
        return data

    def _value(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return SimpleString(rest.decode())
        if kind == b"-":
            return RespError(rest.decode())
        if kind in (b":", b"("):
            return int(rest)
        if kind == b",":
            return float(rest)
        if kind == b"#":
            return rest == b"t"
        if kind == b"_":
            return None
        if kind in (b"$", b"=", b"!"):
            n = int(rest)
            if n < 0:
                return None
            data = self._exact(n)
            return RespError(data.decode()) if kind == b"!" else data
        if kind in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self._value() for _ in range(n)]
        if kind == b"%":
            out = {}
            for _ in range(int(rest)):
                k = self._value()
                out[k.decode() if isinstance(k, bytes) else k] = self._value()
            return out
        raise AssertionError(f"unknown RESP type byte in {line!r}")

    def read(self):
        """The next whole reply."""
        if self.pos > (1 << 20):  # compact between replies only, so last_raw stays a slice
            self.buf, self.pos = self.buf[self.pos:], 0
        start = self.pos
        value = self._value()
        self.last_raw = self.buf[start:self.pos]
        return value

    def at_eof(self):
        """True when the server has closed the connection and no unread bytes remain."""
        if self.pos < len(self.buf):
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


class RawClient:
    """A raw-socket client: sends multibulk commands and returns replies exactly as sent (errors
    as RespError with their code). Authenticates with the master key unless auth=False."""

    def __init__(self, server, auth=True, timeout=60):
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
        self.reader = RespReader(self.sock)
        if auth:
            reply = self.call("AUTH", MASTER_KEY)
            assert reply == "OK", reply

    def send(self, data):
        self.sock.sendall(data)

    def call(self, *args):
        self.sock.sendall(encode_command(*args))
        return self.reader.read()

    def read(self):
        return self.reader.read()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
