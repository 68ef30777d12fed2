"""TLS on the wire (issue 5, PROTOCOL.md §1 and §8 "TLS"): redis-cli --tls and redis-py round trips
next to the plain port, a plain client on the TLS port rejected cleanly, TLS 1.2+ only, mutual TLS
(missing, expired and other-CA client certificates rejected; `optional` accepts no certificate but
not a bad one), --tls-only, SIGHUP reload without dropping connections, and bad TLS configurations
refused at start.

Every certificate is generated here, per module, with python3-cryptography.
"""
import datetime
import ipaddress
import json
import os
import pathlib
import signal
import socket
import ssl
import subprocess
import time

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness import DEK, EVENTFULD, MASTER_KEY, RespReader, Server, encode_command

TIMEOUT = 10  # seconds for any single network operation: a hang fails the test instead of stalling it


# --- certificates ----------------------------------------------------------------------------------


class Pki:
    """PEM files in one directory: name.pem (certificate) and name.key (private key)."""

    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.certs = {}

    def cert(self, name):
        return str(self.dir / f"{name}.pem")

    def key(self, name):
        return str(self.dir / f"{name}.key")

    def make(self, name, cn, issuer=None, ca=False, server=False, client=False, expired=False):
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        if expired:
            not_before, not_after = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
        else:
            not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        if issuer is None:  # self-signed root
            issuer_name, issuer_key = subject, key
        else:
            issuer_name, issuer_key = self.certs[issuer][0].subject, self.certs[issuer][1]
        builder = (x509.CertificateBuilder()
                   .subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                  critical=False))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
        if server:
            builder = (builder
                       .add_extension(x509.SubjectAlternativeName([
                           x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        if client:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                                            critical=False)
        cert = builder.sign(issuer_key, hashes.SHA256())
        self.certs[name] = (cert, key)
        pathlib.Path(self.cert(name)).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pathlib.Path(self.key(name)).write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = Pki(tmp_path_factory.mktemp("pki"))
    p.make("ca", "EventfulDB Test CA", ca=True)
    p.make("server", "eventful-server-1", issuer="ca", server=True)
    p.make("server2", "eventful-server-2", issuer="ca", server=True)  # for the SIGHUP reload
    p.make("client", "eventful-client", issuer="ca", client=True)
    p.make("expired", "eventful-client-expired", issuer="ca", client=True, expired=True)
    p.make("other_ca", "Unrelated CA", ca=True)
    p.make("other_client", "eventful-client-other-ca", issuer="other_ca", client=True)
    return p


# --- servers and clients ---------------------------------------------------------------------------


def tls_args(pki, cert="server", *extra):
    return ["--tls-port", "0", "--tls-cert", pki.cert(cert), "--tls-key", pki.key(cert), *extra]


def tls_port_of(server):
    """The TLS port from the server's start-up lines (`TLS on HOST:PORT` / `TLS only; listening on`)."""
    for line in server.output:
        if line.startswith("eventful: TLS on ") or line.startswith("eventful: TLS only; listening on "):
            return int(line.strip().rsplit(":", 1)[1])
    raise AssertionError("no TLS line in the server's output:\n" + "".join(server.output))


def listening_ports(pid):
    """The TCP ports process `pid` listens on (from /proc: its socket inodes in LISTEN state)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for row in pathlib.Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.fixture
def make_server():
    """Starts servers with extra args; every one is stopped (and must exit 0) after the test."""
    started = []

    def start(*extra_args):
        s = Server(extra_args=list(extra_args))
        started.append(s)
        s.start()
        s.tls_port = tls_port_of(s)
        return s

    yield start
    try:
        for s in started:
            if s.proc is not None:
                assert s.stop() == 0, "server did not shut down cleanly:\n" + "".join(s.output)
    finally:
        for s in started:
            s.cleanup()


@pytest.fixture(scope="module")
def tls_server(pki):
    """One server with a plain port and a TLS port (no client certificates), for read-mostly tests."""
    s = Server(extra_args=tls_args(pki))
    try:
        s.start()
        s.tls_port = tls_port_of(s)
        yield s
        assert s.stop() == 0, "server did not shut down cleanly:\n" + "".join(s.output)
    finally:
        s.cleanup()


def client_context(pki, cert=None, minimum=None, maximum=None):
    ctx = ssl.create_default_context(cafile=pki.cert("ca"))
    if cert is not None:
        ctx.load_cert_chain(pki.cert(cert), pki.key(cert))
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def tls_session(port, ctx):
    """Handshake, AUTH and PING over python's ssl. Returns None when all of it worked, else the
    exception that ended it (a TLS alert, a reset, EOF). A timeout is a hang: it fails the test."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        tls = ctx.wrap_socket(sock, server_hostname="localhost")
        # TLS 1.3: the server checks a client certificate after the client has finished its side
        # of the handshake, so a rejection may only show on the first read.
        reader = RespReader(tls)
        tls.sendall(encode_command("AUTH", MASTER_KEY))
        assert reader.read() == "OK"
        tls.sendall(encode_command("PING"))
        assert reader.read() == "PONG"
        tls.close()
        return None
    except socket.timeout:
        raise AssertionError("the TLS server hung instead of answering or closing")
    except (ssl.SSLError, ConnectionError, EOFError) as e:
        return e
    finally:
        sock.close()


def assert_rejected(port, ctx, *reasons):
    """The server refuses the session; with reasons, the TLS error names one of them."""
    e = tls_session(port, ctx)
    assert e is not None, "the server accepted a session it should have rejected"
    if reasons:
        assert isinstance(e, ssl.SSLError) and any(r in str(e) for r in reasons), repr(e)


def redis_tls(port, pki, cert=None, **kwargs):
    return redis.Redis(host="127.0.0.1", port=port, password=MASTER_KEY, decode_responses=True,
                       socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, ssl=True,
                       ssl_ca_certs=pki.cert("ca"), ssl_check_hostname=True,
                       ssl_certfile=pki.cert(cert) if cert else None,
                       ssl_keyfile=pki.key(cert) if cert else None, **kwargs)


def redis_cli_tls(port, pki, *args, cert=None):
    cmd = ["redis-cli", "--tls", "--cacert", pki.cert("ca"), "-h", "127.0.0.1", "-p", str(port),
           "-a", MASTER_KEY, "--no-auth-warning"]
    if cert:
        cmd += ["--cert", pki.cert(cert), "--key", pki.key(cert)]
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=TIMEOUT)
    return r.stdout, r.returncode


def peer_certificate(port, pki):
    """The certificate a new TLS connection is served, parsed."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        with client_context(pki).wrap_socket(sock, server_hostname="localhost") as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def common_name(cert):
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def plain_client_is_closed(port):
    """A plain-text client sends a RESP command to `port`: True if the server closed the connection
    without ever answering in RESP. A hang fails the test."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(encode_command("PING"))
        received = b""
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError(f"the server neither answered nor closed (got {received!r})")
    # At most a TLS alert record (content type 21), never a RESP reply.
    assert not received or received[0] == 0x15, received
    return True


def wait_for_line(server, text, deadline=TIMEOUT):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if any(text in line for line in server.output):
            return
        time.sleep(0.01)  # polling the output list, with a deadline
    raise AssertionError(f"no {text!r} line within {deadline} s:\n" + "".join(server.output))


# --- 1. round trips --------------------------------------------------------------------------------


def test_redis_cli_tls_round_trip_next_to_the_plain_port(tls_server, pki):
    port = tls_server.tls_port
    assert port != tls_server.port
    assert listening_ports(tls_server.proc.pid) == {tls_server.port, port}

    out, rc = redis_cli_tls(port, pki, "PING")
    assert (out.strip(), rc) == ("PONG", 0), out
    arg = json.dumps({"stream": "tls.cli", "version": 0, "events": [{"type": "sealed", "data": {"k": "v"}}]})
    out, rc = redis_cli_tls(port, pki, "ADD", arg)
    assert rc == 0, out
    stored = [json.loads(line) for line in out.splitlines()]
    assert [(e["stream"], e["version"], e["type"], e["data"]) for e in stored] == [("tls.cli", 1, "sealed", {"k": "v"})]
    out, rc = redis_cli_tls(port, pki, "GET", '{"stream":"tls.cli"}')
    assert rc == 0 and [json.loads(line) for line in out.splitlines()] == stored, out

    # The plain port serves the same store next to it.
    out, rc = tls_server.cli("GET", '{"stream":"tls.cli"}')
    assert rc == 0 and [json.loads(line) for line in out.splitlines()] == stored, out


def test_redis_py_tls_round_trip(tls_server, pki):
    r = redis_tls(tls_server.tls_port, pki)
    assert r.ping() is True
    stored = [json.loads(e) for e in r.execute_command("ADD", json.dumps(
        {"stream": "tls.py", "events": [{"type": "a", "data": {"n": 1}}, {"type": "b"}]}))]
    assert [e["version"] for e in stored] == [1, 2]
    assert [json.loads(e) for e in r.execute_command("GET", '{"stream":"tls.py"}')] == stored
    # The plain connection sees what the TLS one wrote.
    plain = tls_server.client()
    assert [json.loads(e) for e in plain.execute_command("GET", '{"stream":"tls.py"}')] == stored
    r.close()
    plain.close()


# --- 2. a plain-text client on the TLS port --------------------------------------------------------


def rejected_connections(server):
    return int(server.client().info("stats")["rejected_connections"])


def test_plain_client_on_the_tls_port_is_closed_and_the_server_keeps_serving(tls_server, pki):
    before = rejected_connections(tls_server)
    for _ in range(3):
        assert plain_client_is_closed(tls_server.tls_port)
    assert rejected_connections(tls_server) >= before + 3  # failed handshakes are counted in INFO
    # redis-cli without --tls gives up instead of hanging.
    r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(tls_server.tls_port), "-a", MASTER_KEY,
                        "--no-auth-warning", "PING"], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode != 0 and "PONG" not in r.stdout, r
    # Still alive and serving both ports.
    assert tls_server.proc.poll() is None
    assert tls_session(tls_server.tls_port, client_context(pki)) is None
    assert tls_server.client().ping() is True


def test_a_stalled_handshake_blocks_neither_other_clients_nor_shutdown(make_server, pki):
    s = make_server(*tls_args(pki))
    silent = socket.create_connection(("127.0.0.1", s.tls_port), timeout=TIMEOUT)
    partial = socket.create_connection(("127.0.0.1", s.tls_port), timeout=TIMEOUT)
    partial.sendall(b"\x16\x03\x01\x00\x40")  # a TLS record header, then nothing
    assert tls_session(s.tls_port, client_context(pki)) is None
    assert s.client().ping() is True
    # SIGTERM: the half-open handshakes are dropped, not waited for until the server's 10 s limit.
    assert s.stop() == 0, "".join(s.output)
    assert not any("did not finish" in line for line in s.output), "".join(s.output)
    silent.close()
    partial.close()


# --- 3. TLS 1.2+ only ------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_only_tls_1_2_and_newer(tls_server, pki):
    port = tls_server.tls_port
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        assert tls_session(port, client_context(pki, minimum=version, maximum=version)) is None, version

    try:
        old = client_context(pki, minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1_1)
        old.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 offers TLS < 1.2 only at security level 0
    except (ValueError, ssl.SSLError) as e:
        pytest.skip(f"the local OpenSSL cannot build a TLS 1.1 client: {e}")
    e = tls_session(port, old)
    if isinstance(e, ssl.SSLError) and "NO_PROTOCOLS_AVAILABLE" in str(e):
        pytest.skip(f"the local OpenSSL refuses to offer TLS 1.0/1.1 at all: {e}")
    assert e is not None, "the server accepted a TLS 1.1 session"
    # The server answers with a protocol_version alert (not some other failure).
    assert isinstance(e, ssl.SSLError) and "PROTOCOL_VERSION" in str(e), repr(e)
    assert tls_server.proc.poll() is None


# --- 4. mutual TLS ---------------------------------------------------------------------------------


def test_mutual_tls_required(make_server, pki):
    s = make_server(*tls_args(pki), "--tls-ca", pki.cert("ca"), "--tls-auth-clients")
    port = s.tls_port

    assert tls_session(port, client_context(pki, cert="client")) is None
    out, rc = redis_cli_tls(port, pki, "PING", cert="client")
    assert (out.strip(), rc) == ("PONG", 0), out
    assert redis_tls(port, pki, cert="client").ping() is True

    assert_rejected(port, client_context(pki), "CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE")
    assert_rejected(port, client_context(pki, cert="expired"), "CERTIFICATE_EXPIRED")
    assert_rejected(port, client_context(pki, cert="other_client"), "UNKNOWN_CA")
    # redis-cli too: no certificate, or one from another CA, gets no PONG.
    for cert in (None, "other_client"):
        out, rc = redis_cli_tls(port, pki, "PING", cert=cert)
        assert rc != 0 and "PONG" not in out, (cert, rc, out)

    # Rejections leave the server serving.
    assert tls_session(port, client_context(pki, cert="client")) is None
    assert s.client().ping() is True


def test_mutual_tls_optional(make_server, pki):
    s = make_server(*tls_args(pki), "--tls-ca", pki.cert("ca"), "--tls-auth-clients", "optional")
    port = s.tls_port
    assert tls_session(port, client_context(pki)) is None
    assert tls_session(port, client_context(pki, cert="client")) is None
    assert_rejected(port, client_context(pki, cert="other_client"), "UNKNOWN_CA")
    assert_rejected(port, client_context(pki, cert="expired"), "CERTIFICATE_EXPIRED")
    assert redis_tls(port, pki).ping() is True


# --- 5. --tls-only ---------------------------------------------------------------------------------


def test_tls_only_has_no_plain_port(make_server, pki):
    s = make_server(*tls_args(pki), "--tls-only")
    assert s.port == s.tls_port  # the harness's port is the TLS port
    assert not any(line.startswith("eventful: listening on") for line in s.output), s.output
    assert listening_ports(s.proc.pid) == {s.tls_port}
    assert plain_client_is_closed(s.port)
    assert tls_session(s.port, client_context(pki)) is None
    out, rc = redis_cli_tls(s.port, pki, "PING")
    assert (out.strip(), rc) == ("PONG", 0), out


# --- 6. SIGHUP reload ------------------------------------------------------------------------------


def test_sighup_reloads_the_certificate_without_dropping_connections(make_server, pki, tmp_path):
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    cert.write_bytes(pathlib.Path(pki.cert("server")).read_bytes())
    key.write_bytes(pathlib.Path(pki.key("server")).read_bytes())
    s = make_server("--tls-port", "0", "--tls-cert", str(cert), "--tls-key", str(key))
    first, second = pki.certs["server"][0], pki.certs["server2"][0]
    assert first.serial_number != second.serial_number

    a = redis_tls(s.tls_port, pki, single_connection_client=True)
    assert a.ping() is True
    served = peer_certificate(s.tls_port, pki)
    assert (served.serial_number, common_name(served)) == (first.serial_number, "eventful-server-1")

    cert.write_bytes(pathlib.Path(pki.cert("server2")).read_bytes())
    key.write_bytes(pathlib.Path(pki.key("server2")).read_bytes())
    os.kill(s.proc.pid, signal.SIGHUP)
    wait_for_line(s, "eventful: SIGHUP: TLS certificate, key and CA reloaded")

    served = peer_certificate(s.tls_port, pki)
    assert (served.serial_number, common_name(served)) == (second.serial_number, "eventful-server-2")
    assert redis_tls(s.tls_port, pki).ping() is True
    # Connection A, opened with certificate 1, was not dropped.
    assert a.ping() is True
    a.execute_command("ADD", json.dumps({"stream": "tls.reload", "events": [{"type": "after"}]}))
    a.close()

    # A broken file at the next SIGHUP keeps the current certificate and the server running.
    key.write_bytes(b"not a key\n")
    os.kill(s.proc.pid, signal.SIGHUP)
    wait_for_line(s, "eventful: SIGHUP: keeping the current TLS certificate")
    assert peer_certificate(s.tls_port, pki).serial_number == second.serial_number


# --- 7. bad configurations -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def configured_dir():
    s = Server()  # `eventful config` only; never started here
    yield s.data_dir
    s.cleanup()


def start_fails(data_dir, *args):
    """Runs eventfuld with args; it must exit non-zero on its own. Returns its output."""
    proc = subprocess.Popen([str(EVENTFULD), "--data-dir", str(data_dir), "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, EVENTFUL_DEK=DEK))
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"eventfuld started with {args}:\n{out}")
    assert proc.returncode != 0, out
    assert "listening on" not in out, out
    return out


def test_bad_tls_configuration_fails_to_start_with_a_clear_message(configured_dir, pki, tmp_path):
    d = configured_dir
    out = start_fails(d, "--tls-port", "0")
    assert "--tls-port needs --tls-cert and --tls-key" in out, out
    out = start_fails(d, "--tls-port", "0", "--tls-cert", pki.cert("server"))
    assert "--tls-port needs --tls-cert and --tls-key" in out, out
    out = start_fails(d, *tls_args(pki), "--tls-auth-clients")
    assert "--tls-auth-clients needs --tls-ca" in out, out
    out = start_fails(d, *tls_args(pki), "--tls-ca", pki.cert("ca"), "--tls-auth-clients", "sometimes")
    assert "--tls-auth-clients must be yes, no or optional" in out, out

    missing = str(tmp_path / "missing.pem")
    out = start_fails(d, "--tls-port", "0", "--tls-cert", missing, "--tls-key", pki.key("server"))
    assert "cannot load the certificate, key or CA" in out, out
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    out = start_fails(d, "--tls-port", "0", "--tls-cert", str(garbage), "--tls-key", pki.key("server"))
    assert "cannot load the certificate, key or CA" in out, out
    # A key that does not match the certificate.
    out = start_fails(d, "--tls-port", "0", "--tls-cert", pki.cert("server"), "--tls-key", pki.key("server2"))
    assert "cannot load the certificate, key or CA" in out, out
