"""The `eventful` CLI over TLS (--tls, --cacert, --cert, --key) against a real server's TLS port:
the server certificate must chain to --cacert, and mutual TLS works with a client certificate.
Certificates are made for the test with the openssl command line.
"""
import subprocess

import pytest

from harness import EVENTFUL, MASTER_KEY, Server


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                f"{ca}.key", "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN={ca}", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ca, ext in (("server", "ca", ["-extfile", "server.ext"]), ("client", "ca", []),
                          ("stranger", "other-ca", [])):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", *ext, cwd=d)
    return d


def tls_port(server):
    for line in server.output:
        if line.startswith("eventful: TLS on "):
            return int(line.strip().rsplit(":", 1)[1])
    raise AssertionError("no TLS line in the server output:\n" + "".join(server.output))


def cli(port, *args):
    return subprocess.run([str(EVENTFUL), *map(str, args), "--port", str(port), "--token", MASTER_KEY],
                          capture_output=True, text=True, timeout=60, env={})


def test_cli_over_tls_verifies_the_server_certificate(pki):
    s = Server(extra_args=["--tls-port", "0", "--tls-cert", pki / "server.crt", "--tls-key", pki / "server.key"]).start()
    try:
        port = tls_port(s)
        r = cli(port, "event:add", "t", "--stream=tls.1", "--a=1", "--tls", "--cacert", pki / "ca.crt")
        assert r.returncode == 0, r.stderr
        r = cli(port, "aggregate:replay", "tls.1", "--json", "--tls", "--cacert", pki / "ca.crt")
        assert r.returncode == 0 and '"stream":"tls.1"' in r.stdout
        r = cli(port, "proof", "tls.1", "1", "--tls", "--cacert", pki / "ca.crt")
        assert r.returncode == 0 and r.stdout.startswith("verified"), r.stdout + r.stderr
        # A server certificate from another CA, or TLS options without --tls, are refused.
        r = cli(port, "checksum", "--tls", "--cacert", pki / "other-ca.crt")
        assert r.returncode == 1 and "certificate verify failed" in r.stderr
        r = cli(port, "checksum", "--cacert", pki / "ca.crt")
        assert r.returncode == 1 and "go with --tls" in r.stderr
        # Plain text to the TLS port: the server drops it; the CLI reports an error, not a hang.
        r = cli(port, "checksum")
        assert r.returncode == 1
        assert s.client().execute_command("PING") in (True, "PONG")
        assert s.stop() == 0
    finally:
        s.cleanup()


def test_cli_mutual_tls_needs_a_client_certificate_from_the_ca(pki):
    s = Server(extra_args=["--tls-port", "0", "--tls-cert", pki / "server.crt", "--tls-key", pki / "server.key",
                           "--tls-ca", pki / "ca.crt", "--tls-auth-clients"]).start()
    try:
        port = tls_port(s)
        ok = cli(port, "checksum", "--tls", "--cacert", pki / "ca.crt", "--cert", pki / "client.crt",
                 "--key", pki / "client.key")
        assert ok.returncode == 0, ok.stderr
        for extra in ([], ["--cert", pki / "stranger.crt", "--key", pki / "stranger.key"]):
            r = cli(port, "checksum", "--tls", "--cacert", pki / "ca.crt", *extra)
            assert r.returncode == 1, (extra, r.stdout)
        assert s.stop() == 0
    finally:
        s.cleanup()
