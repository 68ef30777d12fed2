"""Access control (issue 4; PROTOCOL.md §3 errors, §8 "Tokens", "AUTH", "System streams").

The matrix: every data and control command x every kind of caller gets the contracted reply code,
through redis-py (on connections that authenticated before their token expired or was revoked),
through redis-cli (a fresh connection per command, authenticating with `-a`) and through
`redis-cli -3`. Then the properties the matrix cannot show: revocation reaches live connections,
an auth key's revocation takes its tokens with it, minting never widens rights, budgets count
every event and reject a too-large ADD whole, `$audit` records each control action once with its
actor, budgets and revocations survive kill -9, and no secret is ever written to the data dir.

Only one wait for a clock in the whole module: the token minted with "expiration":1 is polled
(TOKEN:INFO on its live connection) until it reports `NOAUTH token expired`.
"""
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest
import redis

from harness import DEK, MASTER_KEY, RawClient, RespError, Server

CODES = ("NOAUTH", "NOPERM", "LIMIT", "WRONGPASS", "ERR", "CONFLICT", "INVALID", "LOCKED")
IDENTITIES = ("none", "master", "key", "token", "noperm", "expired", "revoked", "spent")

APP_PERMS = {"read": ["patient.>"], "write": ["patient.>"], "admin": False}


# --- helpers ---------------------------------------------------------------------------------------

def j(obj):
    return json.dumps(obj, separators=(",", ":"))


def py_code(call):
    """Runs call() (a redis-py command) and returns (code, message): "OK" or the error code."""
    try:
        call()
        return "OK", ""
    except redis.exceptions.AuthenticationError as e:  # redis-py strips "NOAUTH "
        return "NOAUTH", str(e)
    except redis.exceptions.NoPermissionError as e:  # and "NOPERM "
        return "NOPERM", str(e)
    except redis.exceptions.ResponseError as e:  # "ERR " stripped; other codes kept
        msg = str(e)
        first = msg.split(" ", 1)[0]
        return (first, msg) if first in CODES else ("ERR", msg)


def cli_run(server, args, secret=None, resp3=False, stdin=None):
    cmd = ["redis-cli", "--no-raw", "-h", "127.0.0.1", "-p", str(server.port)]
    if secret is not None:
        cmd += ["-a", secret, "--no-auth-warning"]
    if resp3:
        cmd.append("-3")
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, input=stdin, timeout=60)
    return r


def cli_code(stdout):
    """The reply code of redis-cli --no-raw output: "(error) CODE message" or a reply."""
    first = stdout.split("\n", 1)[0]
    if first.startswith("(error) "):
        code = first[len("(error) "):].split(" ", 1)[0]
        return code
    return "OK"


def connect(server, secret=None):
    """A redis-py client on one connection, authenticated with `secret` (if any) right now."""
    c = redis.Redis(host="127.0.0.1", port=server.port, password=secret, decode_responses=True,
                    socket_timeout=60, single_connection_client=True)
    if secret is not None:
        assert json.loads(c.execute_command("TOKEN:INFO"))  # authenticated and alive
    return c


def generate(client, **arg):
    return json.loads(client.execute_command("TOKEN:GENERATE", j(arg)))


def mint(client, ident, expiration=3600, limit=1000, permissions=None, id_type="npi"):
    arg = {"expiration": expiration, "limit": limit, "identifier_type": id_type, "identifier_id": ident}
    if permissions is not None:
        arg["permissions"] = permissions
    return generate(client, **arg)


def add(client, stream, n=1, type_="note"):
    arg = {"stream": stream, "events": [{"type": type_, "data": {"i": str(i)}} for i in range(n)]}
    return [json.loads(e) for e in client.execute_command("ADD", j(arg))]


def info(client):
    return json.loads(client.execute_command("TOKEN:INFO"))


def all_events(client, flt=None):
    arg = {"limit": 10000}
    if flt is not None:
        arg["filter"] = flt
    return [json.loads(e) for e in client.execute_command("GETALL", j(arg))]


def audit_events(master):
    return [json.loads(e) for e in master.execute_command("GET", j({"stream": "$audit", "limit": 10000}))]


def wait_until_expired(client, deadline_s=15):
    """Polls TOKEN:INFO on a live connection until it answers NOAUTH token expired."""
    deadline = time.monotonic() + deadline_s
    while True:
        code, msg = py_code(lambda: client.execute_command("TOKEN:INFO"))
        if code == "NOAUTH":
            assert msg == "token expired", msg
            return
        assert code == "OK", (code, msg)
        assert time.monotonic() < deadline, "token minted with expiration 1 did not expire"
        time.sleep(0.05)


# --- the world of the matrix -------------------------------------------------------------------------

class World:
    """One server with one caller of each kind, on live redis-py connections."""

    def __init__(self, server):
        self.server = server
        self.master = server.client()
        m = self.master
        self.p42 = add(m, "patient.42", 2)
        add(m, "patient.99", 1)
        add(m, "other.1", 1)
        self.key = generate(m, auth_key=True, name="app", permissions=APP_PERMS)
        keyc = connect(server, self.key["auth_key"])
        self.key_client = keyc
        # The token that must expire first, so that its second passes while the rest is set up.
        self.expired = mint(keyc, "700", expiration=1, limit=10)
        self.clients = {"none": redis.Redis(host="127.0.0.1", port=server.port, decode_responses=True,
                                            single_connection_client=True),
                        "master": m, "key": keyc,
                        "expired": connect(server, self.expired["token"])}
        self.token = mint(keyc, "1234567")  # no permissions: the key's own, without admin
        self.noperm = mint(keyc, "555", permissions={"read": ["patient.99"], "write": ["patient.99"]})
        self.revoked = mint(keyc, "888")
        self.spent = mint(keyc, "999", limit=1)
        for name, rec in (("token", self.token), ("noperm", self.noperm), ("revoked", self.revoked),
                          ("spent", self.spent)):
            self.clients[name] = connect(server, rec["token"])
        m.execute_command("TOKEN:REVOKE", j({"id": self.revoked["id"]}))
        add(self.clients["spent"], "patient.42", 1)
        self.updatable = generate(m, auth_key=True, name="updatable", permissions=APP_PERMS)
        self.refreshable = mint(keyc, "refresh-me")
        self.audit_id = audit_events(m)[0]["id"]
        self.secrets = {"none": None, "master": MASTER_KEY, "key": self.key["auth_key"],
                        **{n: getattr(self, n)["token"] for n in ("token", "noperm", "expired", "revoked", "spent")}}
        self.names = 0
        wait_until_expired(self.clients["expired"])

    def unique(self, prefix):
        self.names += 1
        return f"{prefix}-{self.names}"

    def victim(self):
        """A fresh token minted by the auth key, for one REVOKE."""
        return mint(self.key_client, self.unique("victim"))["id"]


@pytest.fixture(scope="module")
def world(shared_server):
    return World(shared_server)


# --- the matrix ------------------------------------------------------------------------------------
# Each row: command, a function of the world giving its argument words, and the expected code for
#              none    master  key     token   noperm  expired revoked spent
# ("key" is the non-admin auth key "app" with read/write "patient.>"; "token" was minted by it
# without permissions; "noperm" has only "patient.99"; "spent" has used its budget of 1.)

def add_to(stream):
    return lambda w: ["ADD", j({"stream": stream, "events": [{"type": "note"}]})]


MATRIX = [
    ("ADD patient.42", add_to("patient.42"),
     "NOAUTH  OK      OK      OK      NOPERM  NOAUTH  NOAUTH  LIMIT"),
    ("ADD other.1", add_to("other.1"),
     "NOAUTH  OK      NOPERM  NOPERM  NOPERM  NOAUTH  NOAUTH  NOPERM"),
    ("ADD $audit", add_to("$audit"),
     "NOAUTH  NOPERM  NOPERM  NOPERM  NOPERM  NOAUTH  NOAUTH  NOPERM"),
    ("ADD bad json", lambda w: ["ADD", "{"],
     "NOAUTH  ERR     ERR     ERR     ERR     NOAUTH  NOAUTH  ERR"),
    ("GET patient.42", lambda w: ["GET", j({"stream": "patient.42"})],
     "NOAUTH  OK      OK      OK      NOPERM  NOAUTH  NOAUTH  OK"),
    ("GET $audit", lambda w: ["GET", j({"stream": "$audit"})],
     "NOAUTH  OK      NOPERM  NOPERM  NOPERM  NOAUTH  NOAUTH  NOPERM"),
    ("GETALL", lambda w: ["GETALL", j({})],
     "NOAUTH  OK      OK      OK      OK      NOAUTH  NOAUTH  OK"),
    ("EVENT:GET patient.42", lambda w: ["EVENT:GET", j({"id": w.p42[0]["id"]})],
     "NOAUTH  OK      OK      OK      NOPERM  NOAUTH  NOAUTH  OK"),
    ("EVENT:GET by hash", lambda w: ["EVENT:GET", j({"hash": w.p42[1]["hash"]})],
     "NOAUTH  OK      OK      OK      NOPERM  NOAUTH  NOAUTH  OK"),
    ("EVENT:GET $audit", lambda w: ["EVENT:GET", j({"id": w.audit_id})],
     "NOAUTH  OK      NOPERM  NOPERM  NOPERM  NOAUTH  NOAUTH  NOPERM"),
    ("AGGREGATE:LIST", lambda w: ["AGGREGATE:LIST", j({})],
     "NOAUTH  OK      OK      OK      OK      NOAUTH  NOAUTH  OK"),
    ("VERIFY patient.42", lambda w: ["VERIFY", j({"stream": "patient.42"})],
     "NOAUTH  OK      OK      OK      NOPERM  NOAUTH  NOAUTH  OK"),
    ("VERIFY store", lambda w: ["VERIFY", j({})],
     "NOAUTH  OK      NOPERM  NOPERM  NOPERM  NOAUTH  NOAUTH  NOPERM"),
    ("PROOF patient.42", lambda w: ["PROOF", j({"stream": "patient.42", "version": 1})],
     "NOAUTH  OK      OK      OK      NOPERM  NOAUTH  NOAUTH  OK"),
    ("CONSISTENCY patient.42", lambda w: ["CONSISTENCY", j({"stream": "patient.42", "from": 1})],
     "NOAUTH  OK      OK      OK      NOPERM  NOAUTH  NOAUTH  OK"),
    ("TREEHEAD patient.42", lambda w: ["TREEHEAD", j({"stream": "patient.42"})],
     "NOAUTH  OK      OK      OK      NOPERM  NOAUTH  NOAUTH  OK"),
    ("CHECKSUM", lambda w: ["CHECKSUM"],
     "NOAUTH  OK      OK      OK      OK      NOAUTH  NOAUTH  OK"),
    ("TOKEN:GENERATE token", lambda w: ["TOKEN:GENERATE", j({"expiration": 60, "limit": 1, "identifier_type": "npi",
                                                             "identifier_id": w.unique("t")})],
     "NOAUTH  OK      OK      NOPERM  NOPERM  NOAUTH  NOAUTH  NOPERM"),
    ("TOKEN:GENERATE auth key", lambda w: ["TOKEN:GENERATE", j({"auth_key": True, "name": w.unique("k")})],
     "NOAUTH  OK      NOPERM  NOPERM  NOPERM  NOAUTH  NOAUTH  NOPERM"),
    ("TOKEN:REVOKE", lambda w: ["TOKEN:REVOKE", j({"id": w.victim()})],
     "NOAUTH  OK      OK      NOPERM  NOPERM  NOAUTH  NOAUTH  NOPERM"),
    ("TOKEN:LIST", lambda w: ["TOKEN:LIST", j({})],
     "NOAUTH  OK      OK      NOPERM  NOPERM  NOAUTH  NOAUTH  NOPERM"),
    ("TOKEN:LIST auth keys", lambda w: ["TOKEN:LIST", j({"auth_keys": True})],
     "NOAUTH  OK      NOPERM  NOPERM  NOPERM  NOAUTH  NOAUTH  NOPERM"),
    ("TOKEN:UPDATE", lambda w: ["TOKEN:UPDATE", j({"auth_key": "updatable", "permissions": APP_PERMS})],
     "NOAUTH  OK      NOPERM  NOPERM  NOPERM  NOAUTH  NOAUTH  NOPERM"),
    ("TOKEN:REFRESH", lambda w: ["TOKEN:REFRESH", j({"id": w.refreshable["id"], "limit": 1})],
     "NOAUTH  OK      OK      NOPERM  NOPERM  NOAUTH  NOAUTH  NOPERM"),
    ("TOKEN:INFO", lambda w: ["TOKEN:INFO"],
     "NOAUTH  OK      OK      OK      OK      NOAUTH  NOAUTH  OK"),
]

RESP3_IDENTITIES = ("none", "master", "token", "noperm", "spent")


def expected_row(codes):
    return dict(zip(IDENTITIES, codes.split()))


def mismatch_report(name, got, want):
    bad = {i: (got[i], want[i]) for i in want if got[i][0] != want[i]}
    lines = [f"{name}: {i}: got {g}, expected {w}" for i, (g, w) in bad.items()]
    return "\n".join(lines)


@pytest.mark.parametrize("name,args,codes", MATRIX, ids=[r[0] for r in MATRIX])
def test_matrix_redis_py_on_live_connections(world, name, args, codes):
    want = expected_row(codes)
    got = {}
    for ident in IDENTITIES:
        words = args(world)
        got[ident] = py_code(lambda: world.clients[ident].execute_command(*words))
    assert not mismatch_report(name, got, want), mismatch_report(name, got, want)
    # An expired or revoked connection is told which.
    assert got["expired"][1] == "token expired"
    assert got["revoked"][1] == "token revoked"
    if want["none"] == "NOAUTH":
        assert got["none"][1] == "Authentication required."


@pytest.mark.parametrize("name,args,codes", MATRIX, ids=[r[0] for r in MATRIX])
def test_matrix_redis_cli(world, name, args, codes):
    want = expected_row(codes)
    problems = []
    for ident in IDENTITIES:
        r = cli_run(world.server, args(world), secret=world.secrets[ident])
        code = cli_code(r.stdout)
        if code != want[ident]:
            problems.append(f"{name}: {ident}: got {r.stdout!r} {r.stderr!r}, expected {want[ident]}")
        # A fresh connection with an expired or revoked secret is refused at AUTH, with the reason.
        if ident in ("expired", "revoked"):
            assert f"AUTH failed: NOAUTH token {ident}" in r.stderr, r.stderr
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name,args,codes", MATRIX, ids=[r[0] for r in MATRIX])
def test_matrix_redis_cli_resp3(world, name, args, codes):
    want = expected_row(codes)
    problems = []
    for ident in RESP3_IDENTITIES:
        r = cli_run(world.server, args(world), secret=world.secrets[ident], resp3=True)
        code = cli_code(r.stdout)
        if code != want[ident]:
            problems.append(f"{name}: {ident}: got {r.stdout!r} {r.stderr!r}, expected {want[ident]}")
    assert not problems, "\n".join(problems)


# --- AUTH ------------------------------------------------------------------------------------------

def test_auth_replies_for_every_kind_of_secret(world):
    """AUTH and HELLO AUTH: OK / NOAUTH token expired / NOAUTH token revoked / WRONGPASS (exact bytes)."""
    cases = [(MASTER_KEY, "OK"), (world.key["auth_key"], "OK"), (world.token["token"], "OK"),
             (world.noperm["token"], "OK"), (world.spent["token"], "OK"),
             (world.expired["token"], "NOAUTH token expired"), (world.revoked["token"], "NOAUTH token revoked"),
             ("evt_" + "A" * 32, "WRONGPASS"), ("evk_" + "A" * 32, "WRONGPASS"),
             (world.token["token"][:-1], "WRONGPASS"), (world.token["id"], "WRONGPASS"),
             ("not-a-secret", "WRONGPASS")]
    for secret, want in cases:
        for form in (("AUTH", secret), ("AUTH", "default", secret)):
            with RawClient(world.server, auth=False) as c:
                reply = c.call(*form)
                if want == "OK":
                    assert reply == "OK", (form, reply)
                    assert c.call("TOKEN:INFO") is not None
                elif want == "WRONGPASS":
                    assert isinstance(reply, RespError) and reply.code == "WRONGPASS", (form, reply)
                else:
                    assert reply == RespError(want), (form, reply)
                if want != "OK":  # a refused AUTH leaves the connection unauthenticated
                    assert c.call("TOKEN:INFO") == RespError("NOAUTH Authentication required.")
        with RawClient(world.server, auth=False) as c:
            reply = c.call("HELLO", "3", "AUTH", "default", secret)
            if want == "OK":
                assert isinstance(reply, dict), reply
            else:
                assert isinstance(reply, RespError) and reply.code == want.split()[0], reply
                assert reply == RespError(want) or want == "WRONGPASS", reply


def test_secrets_are_random_urlsafe_and_prefixed_by_kind(world):
    import re
    keys = [world.key["auth_key"], world.updatable["auth_key"]]
    tokens = [world.secrets[n] for n in ("token", "noperm", "expired", "revoked", "spent")]
    for secret in keys:
        assert re.fullmatch(r"evk_[A-Za-z0-9_-]{22,}", secret), secret
    for secret in tokens:
        assert re.fullmatch(r"evt_[A-Za-z0-9_-]{22,}", secret), secret
    assert len(set(keys + tokens)) == len(keys + tokens)


def test_only_the_master_key_creates_auth_keys_even_for_admin_keys(world):
    m = world.master
    k = generate(m, auth_key=True, name="admin-minter", permissions={"read": [">"], "write": [">"], "admin": True})
    kc = connect(world.server, k["auth_key"])
    assert py_code(lambda: generate(kc, auth_key=True, name="child-key"))[0] == "NOPERM"
    # An admin key manages every token, not only its own.
    assert json.loads(kc.execute_command("TOKEN:REFRESH", j({"id": world.refreshable["id"], "limit": 1})))
    listed = {json.loads(x)["id"] for x in kc.execute_command("TOKEN:LIST", j({"take": 10000}))}
    assert world.token["id"] in listed and world.refreshable["id"] in listed


def test_token_list_active_leaves_out_revoked_and_expired_tokens(world):
    active = {json.loads(x)["id"] for x in world.key_client.execute_command("TOKEN:LIST", j({"active": True,
                                                                                             "take": 10000}))}
    assert world.token["id"] in active and world.spent["id"] in active
    assert world.revoked["id"] not in active and world.expired["id"] not in active
    everything = {json.loads(x)["id"]: json.loads(x) for x in world.key_client.execute_command("TOKEN:LIST",
                                                                                             j({"take": 10000}))}
    assert everything[world.revoked["id"]]["revoked"] is True
    assert everything[world.expired["id"]]["revoked"] is False


def test_control_commands_without_arguments_accept_none_or_an_empty_object(world):
    for c in (world.master, world.key_client):
        assert c.execute_command("TOKEN:LIST") == c.execute_command("TOKEN:LIST", "{}")
        assert json.loads(c.execute_command("TOKEN:INFO")) == json.loads(c.execute_command("TOKEN:INFO", "{}"))
    assert json.loads(world.master.execute_command("TOKEN:INFO"))["actor"] == "master"
    assert py_code(lambda: world.master.execute_command("TOKEN:INFO", "[]"))[0] == "ERR"


# --- revocation ------------------------------------------------------------------------------------

def test_revocation_reaches_a_live_connection(world):
    m = world.master
    t = mint(world.key_client, "live-1")
    live = connect(world.server, t["token"])
    raw = RawClient(world.server, auth=False)
    assert raw.call("AUTH", t["token"]) == "OK"
    assert raw.call("GET", j({"stream": "patient.42"}))
    add(live, "patient.live", 1)
    reply = json.loads(m.execute_command("TOKEN:REVOKE", j({"token": t["token"]})))
    assert reply == {"revoked": [t["id"]]}
    assert py_code(lambda: live.execute_command("GET", j({"stream": "patient.42"}))) == ("NOAUTH", "token revoked")
    assert py_code(lambda: add(live, "patient.live")) == ("NOAUTH", "token revoked")
    assert py_code(lambda: live.ping()) == ("NOAUTH", "token revoked")
    raw.send(b"TOKEN:INFO\r\n")  # inline form too; exact bytes
    assert raw.read() == RespError("NOAUTH token revoked")
    assert raw.reader.last_raw == b"-NOAUTH token revoked\r\n"
    # It stays revoked: nothing of it was written after the revoke, and it can re-AUTH as someone else.
    assert [e["version"] for e in [json.loads(x) for x in m.execute_command("GET", j({"stream": "patient.live"}))]] == [1]
    assert raw.call("AUTH", MASTER_KEY) == "OK"
    assert raw.call("TOKEN:INFO") is not None
    raw.close()


def test_revocation_through_redis_cli_on_one_live_connection(world):
    """One redis-cli process: AUTH, a command, (the token is revoked elsewhere), a command."""
    t = mint(world.key_client, "live-cli")
    p = subprocess.Popen(["redis-cli", "-h", "127.0.0.1", "-p", str(world.server.port)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    try:
        p.stdin.write(f"AUTH {t['token']}\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "OK"
        p.stdin.write("TOKEN:INFO\n")
        p.stdin.flush()
        assert json.loads(p.stdout.readline())["id"] == t["id"]
        world.master.execute_command("TOKEN:REVOKE", j({"id": t["id"]}))
        p.stdin.write("TOKEN:INFO\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "NOAUTH token revoked"
    finally:
        p.stdin.close()
        p.wait(timeout=30)


def test_revoking_an_auth_key_revokes_its_tokens_and_their_live_connections(world):
    m = world.master
    key = generate(m, auth_key=True, name="doomed", permissions=APP_PERMS)
    keyc = connect(world.server, key["auth_key"])
    t1, t2 = mint(keyc, "d1"), mint(keyc, "d2")
    other = mint(world.key_client, "survivor")  # minted by another key: untouched
    c1, c2, co = (connect(world.server, t["token"]) for t in (t1, t2, other))
    reply = json.loads(m.execute_command("TOKEN:REVOKE", j({"auth_key": "doomed"})))  # by name
    assert reply["revoked"][0] == key["id"]
    assert sorted(reply["revoked"][1:]) == sorted([t1["id"], t2["id"]])
    for c in (keyc, c1, c2):
        assert py_code(lambda: c.execute_command("TOKEN:INFO")) == ("NOAUTH", "token revoked")
    assert info(co)["id"] == other["id"]
    for secret in (key["auth_key"], t1["token"], t2["token"]):
        with RawClient(world.server, auth=False) as c:
            assert c.call("AUTH", secret) == RespError("NOAUTH token revoked")
    listed = {t["id"]: t for t in (json.loads(x) for x in m.execute_command("TOKEN:LIST", j({"take": 10000})))}
    assert listed[t1["id"]]["revoked"] and listed[t2["id"]]["revoked"]
    assert not listed[other["id"]]["revoked"]
    keys = {k["name"]: k for k in (json.loads(x) for x in m.execute_command("TOKEN:LIST", j({"auth_keys": True})))}
    assert keys["doomed"]["revoked"] is True and keys["app"]["revoked"] is False
    # An auth key is revoked by its secret as well.
    key2 = generate(m, auth_key=True, name="doomed-2", permissions=APP_PERMS)
    assert json.loads(m.execute_command("TOKEN:REVOKE", j({"auth_key": key2["auth_key"]}))) == {"revoked": [key2["id"]]}


# --- minting, listing, refreshing, updating ----------------------------------------------------------

def test_an_auth_key_cannot_mint_wider_permissions(world):
    keyc = world.key_client
    for wider in ({"read": [">"], "write": []}, {"read": ["patient.>"], "write": ["other.>"]},
                  {"read": ["patient"], "write": []}, {"read": ["*.42"], "write": []},
                  {"read": [], "write": [], "admin": True}):
        code, msg = py_code(lambda: mint(keyc, "wide", permissions=wider))
        assert code == "NOPERM", (wider, code, msg)
    narrow = mint(keyc, "narrow", permissions={"read": ["patient.42"], "write": []})
    assert narrow["permissions"] == {"read": ["patient.42"], "write": [], "admin": False}
    assert world.token["permissions"] == APP_PERMS
    assert world.token["minted_by"] == "app"


def test_a_token_minted_without_permissions_gets_the_minters_without_admin(world):
    m = world.master
    perms = {"read": ["patient.>", "ward.*"], "write": ["patient.>"], "admin": True}
    admin_key = generate(m, auth_key=True, name="admin-app", permissions=perms)
    kc = connect(world.server, admin_key["auth_key"])
    t = mint(kc, "4242")
    assert t["permissions"] == {**perms, "admin": False}
    assert info(connect(world.server, t["token"]))["permissions"] == {**perms, "admin": False}
    # By the master key: everything but admin.
    tm = mint(m, "4343")
    assert tm["permissions"]["admin"] is False and tm["minted_by"] == "master"
    tc = connect(world.server, tm["token"])
    assert py_code(lambda: tc.execute_command("GET", j({"stream": "$audit"})))[0] == "NOPERM"
    assert py_code(lambda: tc.execute_command("GET", j({"stream": "other.1"})))[0] == "OK"


def test_a_non_admin_auth_key_lists_only_its_own_tokens(world):
    m = world.master
    ka = generate(m, auth_key=True, name="lister-a", permissions=APP_PERMS)
    kb = generate(m, auth_key=True, name="lister-b", permissions=APP_PERMS)
    ca, cb = connect(world.server, ka["auth_key"]), connect(world.server, kb["auth_key"])
    mine = {mint(ca, f"la{i}")["id"] for i in range(3)}
    theirs = {mint(cb, f"lb{i}")["id"] for i in range(2)}
    listed = [json.loads(x) for x in ca.execute_command("TOKEN:LIST", j({"take": 10000}))]
    assert {t["id"] for t in listed} == mine
    assert all(t["minted_by"] == "lister-a" for t in listed)
    everyone = {json.loads(x)["id"] for x in m.execute_command("TOKEN:LIST", j({"take": 10000}))}
    assert mine | theirs <= everyone
    # Paging with cursor/take walks the same set.
    seen, cursor = [], None
    while True:
        arg = {"take": 1} if cursor is None else {"take": 1, "cursor": cursor}
        page = [json.loads(x) for x in ca.execute_command("TOKEN:LIST", j(arg))]
        if not page:
            break
        assert len(page) == 1
        seen.append(page[0]["id"])
        cursor = page[0]["id"]
    assert sorted(seen) == sorted(mine) and seen == sorted(seen)
    # Another key's token is not its to refresh or revoke.
    other = next(iter(theirs))
    assert py_code(lambda: ca.execute_command("TOKEN:REFRESH", j({"id": other, "limit": 1})))[0] == "NOPERM"
    assert py_code(lambda: ca.execute_command("TOKEN:REVOKE", j({"id": other})))[0] == "NOPERM"


def test_token_list_never_returns_a_secret(world):
    m = world.master
    texts = list(m.execute_command("TOKEN:LIST", j({"take": 10000})))
    texts += list(m.execute_command("TOKEN:LIST", j({"auth_keys": True, "take": 10000})))
    texts += list(world.key_client.execute_command("TOKEN:LIST", j({})))
    texts.append(world.key_client.execute_command("TOKEN:INFO"))
    texts.append(world.clients["token"].execute_command("TOKEN:INFO"))
    required = {"id", "identifier_type", "identifier_id", "permissions", "expires_at", "writes_used", "limit",
                "minted_by", "revoked"}
    for text in texts:
        assert "evt_" not in text and "evk_" not in text and "secret" not in text, text
        for secret in world.secrets.values():
            assert secret is None or secret not in text
    for text in m.execute_command("TOKEN:LIST", j({"take": 10000})):
        assert required <= set(json.loads(text)), text


def test_refresh_adds_time_and_writes_and_never_widens_permissions(world):
    keyc = world.key_client
    t = mint(keyc, "refresh", expiration=600, limit=1, permissions={"read": ["patient.42"], "write": ["patient.42"]})
    tc = connect(world.server, t["token"])
    add(tc, "patient.42")
    assert py_code(lambda: add(tc, "patient.42"))[0] == "LIMIT"
    before = info(tc)
    r = json.loads(keyc.execute_command("TOKEN:REFRESH", j({"id": t["id"], "expiration": 30, "limit": 2})))
    assert r["limit"] == 3 and r["writes_used"] == 1

    def ms(ts):
        from datetime import datetime
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000

    assert ms(r["expires_at"]) - ms(before["expires_at"]) == pytest.approx(30_000, abs=1)
    after = info(tc)  # the live connection sees it
    assert after["limit"] == 3 and after["writes_remaining"] == 2
    add(tc, "patient.42", 2)
    assert py_code(lambda: add(tc, "patient.42"))[0] == "LIMIT"
    # No key widens permissions; the permissions are those it was minted with.
    code, _ = py_code(lambda: keyc.execute_command("TOKEN:REFRESH", j({"id": t["id"], "limit": 1,
                                                                        "permissions": {"read": [">"]}})))
    assert code == "ERR"
    assert info(tc)["permissions"] == {"read": ["patient.42"], "write": ["patient.42"], "admin": False}
    assert py_code(lambda: tc.execute_command("GET", j({"stream": "patient.99"})))[0] == "NOPERM"
    # By secret as well; and a revoked token cannot be refreshed back to life.
    assert json.loads(keyc.execute_command("TOKEN:REFRESH", j({"token": t["token"], "limit": 1})))["limit"] == 4
    keyc.execute_command("TOKEN:REVOKE", j({"id": t["id"]}))
    assert py_code(lambda: keyc.execute_command("TOKEN:REFRESH", j({"id": t["id"], "limit": 1})))[0] == "ERR"
    assert py_code(lambda: tc.execute_command("TOKEN:INFO")) == ("NOAUTH", "token revoked")


def test_update_changes_an_auth_keys_permissions_and_its_live_connection_sees_it(world):
    m = world.master
    k = generate(m, auth_key=True, name="changing", permissions=APP_PERMS)
    kc = connect(world.server, k["auth_key"])
    t = mint(kc, "child")
    tc = connect(world.server, t["token"])
    assert py_code(lambda: kc.execute_command("GET", j({"stream": "other.1"})))[0] == "NOPERM"
    wide = {"read": [">"], "write": [">"], "admin": False}
    r = json.loads(m.execute_command("TOKEN:UPDATE", j({"auth_key": "changing", "permissions": wide})))
    assert r["permissions"] == wide
    assert py_code(lambda: kc.execute_command("GET", j({"stream": "other.1"})))[0] == "OK"
    assert info(kc)["permissions"] == wide
    assert add(kc, "other.1")[0]["actor"] == "key:changing"
    # Its earlier token keeps the permissions it was minted with.
    assert py_code(lambda: tc.execute_command("GET", j({"stream": "other.1"})))[0] == "NOPERM"
    # Narrowed, by secret: the next command of the live connection is refused.
    narrow = {"read": ["patient.99"], "write": [], "admin": False}
    m.execute_command("TOKEN:UPDATE", j({"auth_key": k["auth_key"], "permissions": narrow}))
    assert py_code(lambda: kc.execute_command("GET", j({"stream": "patient.42"})))[0] == "NOPERM"
    assert py_code(lambda: add(kc, "patient.42"))[0] == "NOPERM"
    assert py_code(lambda: mint(kc, "too-wide", permissions=APP_PERMS))[0] == "NOPERM"
    # Granting admin lets it read $audit and update other keys.
    m.execute_command("TOKEN:UPDATE", j({"auth_key": "changing", "permissions": {**narrow, "admin": True}}))
    assert py_code(lambda: kc.execute_command("GET", j({"stream": "$audit"})))[0] == "OK"


def test_an_admin_auth_key_cannot_widen_a_key_beyond_its_own_permissions(world):
    m = world.master
    k = generate(m, auth_key=True, name="narrow-admin",
                 permissions={"read": ["patient.>"], "write": [], "admin": True})
    kc = connect(world.server, k["auth_key"])
    generate(m, auth_key=True, name="other-key", permissions=APP_PERMS)
    wide = {"read": [">"], "write": [">"], "admin": True}
    for target in ("narrow-admin", "other-key"):  # itself, and another key
        code, _ = py_code(lambda: kc.execute_command("TOKEN:UPDATE", j({"auth_key": target, "permissions": wide})))
        assert code == "NOPERM", target
    assert py_code(lambda: add(kc, "other.1"))[0] == "NOPERM"  # nothing changed
    # Within its own rights it may change another key; the master key may grant anything.
    within = {"read": ["patient.42"], "write": [], "admin": False}
    assert json.loads(kc.execute_command("TOKEN:UPDATE", j({"auth_key": "other-key", "permissions": within})))[
        "permissions"] == within
    assert json.loads(m.execute_command("TOKEN:UPDATE", j({"auth_key": "narrow-admin", "permissions": wide})))[
        "permissions"] == wide


def test_an_expired_token_cannot_be_refreshed_back_to_life(world):
    before = world.master.execute_command("EVENTCOUNT")
    code, message = py_code(lambda: world.master.execute_command(
        "TOKEN:REFRESH", j({"id": world.expired["id"], "expiration": 3600})))
    assert (code, message) == ("ERR", "the token has expired: mint a new one")
    assert py_code(lambda: info(world.clients["expired"]))[1] == "token expired"
    assert world.master.execute_command("EVENTCOUNT") == before  # refused: no $audit event either


# --- actors and budgets ------------------------------------------------------------------------------

def test_the_actor_of_each_event_is_the_writers_identity(world):
    token_ev = add(world.clients["token"], "patient.actor")[0]
    key_ev = add(world.key_client, "patient.actor")[0]
    master_ev = add(world.master, "patient.actor")[0]
    assert token_ev["actor"] == "npi:1234567"
    assert key_ev["actor"] == "key:app"
    assert master_ev["actor"] == "master"
    stored = [json.loads(e) for e in world.master.execute_command("GET", j({"stream": "patient.actor"}))]
    assert [e["actor"] for e in stored] == ["npi:1234567", "key:app", "master"]
    t = mint(world.key_client, "X-9", id_type="employee")
    assert add(connect(world.server, t["token"]), "patient.actor")[0]["actor"] == "employee:X-9"


def test_a_multi_event_add_counts_each_event_and_one_over_budget_is_rejected_whole(world):
    m = world.master
    t = mint(world.key_client, "budget", limit=5)
    tc = connect(world.server, t["token"])
    assert len(add(tc, "patient.budget", 3)) == 3
    assert info(tc)["writes_used"] == 3 and info(tc)["writes_remaining"] == 2
    count = m.execute_command("EVENTCOUNT")
    checksum = m.execute_command("CHECKSUM")
    over = [j({"stream": "patient.budget", "events": [{"type": "x"}] * 3}),
            j({"streams": [{"stream": "patient.budget", "events": [{"type": "x"}] * 2},
                           {"stream": "patient.budget2", "events": [{"type": "x"}]}]})]
    for arg in over:
        code, msg = py_code(lambda: tc.execute_command("ADD", arg))
        assert code == "LIMIT", msg
    assert m.execute_command("EVENTCOUNT") == count and m.execute_command("CHECKSUM") == checksum
    assert len(m.execute_command("GET", j({"stream": "patient.budget"}))) == 3
    assert m.execute_command("GET", j({"stream": "patient.budget2"})) == []
    assert info(tc)["writes_used"] == 3
    # Exactly the rest of the budget fits, in the streams form.
    rest = j({"streams": [{"stream": "patient.budget", "events": [{"type": "x"}]},
                          {"stream": "patient.budget2", "events": [{"type": "x"}]}]})
    stored = [json.loads(e) for e in tc.execute_command("ADD", rest)]
    assert len(stored) == 2
    assert info(tc)["writes_used"] == 5 and info(tc)["writes_remaining"] == 0
    assert py_code(lambda: add(tc, "patient.budget"))[0] == "LIMIT"
    # A spent budget blocks writes, not reads.
    assert len(tc.execute_command("GET", j({"stream": "patient.budget"}))) == 4
    assert tc.execute_command("VERIFY", j({"stream": "patient.budget"}))
    listed = {x["id"]: x for x in (json.loads(s) for s in world.key_client.execute_command("TOKEN:LIST", j({"take": 10000})))}
    assert listed[t["id"]]["writes_used"] == 5 and listed[t["id"]]["limit"] == 5


def test_getall_for_a_token_returns_only_events_it_may_read(world):
    everything = all_events(world.master)
    assert any(e["stream"] == "$audit" for e in everything)
    for ident, may_read in (("token", lambda s: s.startswith("patient.")),
                            ("noperm", lambda s: s == "patient.99"),
                            ("key", lambda s: s.startswith("patient."))):
        got = all_events(world.clients[ident])
        assert got == [e for e in everything if may_read(e["stream"])], ident
        assert got, ident
        # A filter asking for more than it may read still gets only what it may read.
        got = all_events(world.clients[ident], {"streams": [">", "$audit", "other.*"]})
        assert got == [e for e in everything if may_read(e["stream"])], ident
        assert all_events(world.clients[ident], {"streams": ["$audit"]}) == []
    streams = {json.loads(x)["stream"] for x in world.clients["noperm"].execute_command("AGGREGATE:LIST", j({}))}
    assert streams == {"patient.99"}


# --- $audit ----------------------------------------------------------------------------------------

def test_audit_holds_one_event_per_control_action_with_its_actor(server):
    m = server.client()
    assert audit_events(m) == []
    key = generate(m, auth_key=True, name="app", permissions=APP_PERMS)
    kc = connect(server, key["auth_key"])
    t = mint(kc, "1234567")
    tc = connect(server, t["token"])
    kc.execute_command("TOKEN:REFRESH", j({"id": t["id"], "limit": 5}))
    m.execute_command("TOKEN:UPDATE", j({"auth_key": "app", "permissions": {**APP_PERMS, "read": [">"]}}))
    kc.execute_command("TOKEN:REVOKE", j({"id": t["id"]}))
    t2 = mint(kc, "2")
    m.execute_command("TOKEN:REVOKE", j({"auth_key": "app"}))  # and t2 with it: still one action
    # Refused actions and reads leave no trace.
    assert py_code(lambda: tc.execute_command("TOKEN:GENERATE", j({"auth_key": True, "name": "x"})))[0] == "NOAUTH"
    assert py_code(lambda: m.execute_command("TOKEN:REVOKE", j({"id": "tok_nope"})))[0] == "ERR"
    assert py_code(lambda: m.execute_command("TOKEN:GENERATE", j({"auth_key": True, "name": "app"})))[0] == "CONFLICT"
    m.execute_command("TOKEN:LIST", j({}))
    m.execute_command("TOKEN:INFO")
    assert py_code(lambda: m.execute_command("ADD", j({"stream": "$audit", "events": [{"type": "forged"}]})))[0] == "NOPERM"

    audit = audit_events(m)
    assert [(e["type"], e["actor"]) for e in audit] == [
        ("auth-key-generated", "master"), ("token-generated", "key:app"), ("token-refreshed", "key:app"),
        ("auth-key-updated", "master"), ("token-revoked", "key:app"), ("token-generated", "key:app"),
        ("auth-key-revoked", "master")]
    assert audit[0]["data"]["id"] == key["id"] and audit[1]["data"]["id"] == t["id"]
    assert audit[1]["data"]["identity"] == "npi:1234567"
    assert set(json.loads(audit[6]["data"]["revoked"])) == {key["id"], t2["id"]}  # t was revoked already
    # $audit events are ordinary events of the log: counted, verified, in GETALL for the master key.
    assert m.execute_command("EVENTCOUNT") == len(audit)
    assert [e["id"] for e in all_events(m)] == [e["id"] for e in audit]
    assert all_events(m, {"streams": ["$audit"]}) == audit
    assert all_events(m, {"streams": [">"]}) == []  # wildcards never match $ streams
    assert json.loads(m.execute_command("VERIFY", j({"stream": "$audit"})))["ok"] is True
    assert json.loads(m.execute_command("VERIFY", j({})))["ok"] is True
    text = json.dumps(audit)
    for secret in (key["auth_key"], t["token"], t2["token"]):
        assert secret not in text
    # Readable with admin rights, by nobody else; writable by nobody.
    admin_key = generate(m, auth_key=True, name="auditor", permissions={"read": [], "write": [], "admin": True})
    ac = connect(server, admin_key["auth_key"])
    assert [json.loads(e) for e in ac.execute_command("GET", j({"stream": "$audit", "limit": 10000}))] == audit_events(m)
    assert all_events(ac, {"streams": ["$audit"]}) == audit_events(m)
    plain = generate(m, auth_key=True, name="plain", permissions={"read": [">"], "write": [">"], "admin": False})
    pc = connect(server, plain["auth_key"])
    assert py_code(lambda: pc.execute_command("GET", j({"stream": "$audit"})))[0] == "NOPERM"
    for c in (m, ac, pc):
        code, _ = py_code(lambda: c.execute_command("ADD", j({"stream": "$audit", "events": [{"type": "forged"}]})))
        assert code == "NOPERM"
    assert [e["type"] for e in audit_events(m)][-2:] == ["auth-key-generated", "auth-key-generated"]


# --- durability ------------------------------------------------------------------------------------

def test_budgets_and_revocations_survive_kill9():
    s = Server().start()
    try:
        m = s.client()
        key = generate(m, auth_key=True, name="app", permissions=APP_PERMS)
        kc = connect(s, key["auth_key"])
        spender = mint(kc, "spender", limit=5)
        gone = mint(kc, "gone")
        doomed_key = generate(m, auth_key=True, name="doomed", permissions=APP_PERMS)
        doomed_tok = mint(connect(s, doomed_key["auth_key"]), "doomed-child")
        add(connect(s, spender["token"]), "patient.1", 3)
        m.execute_command("TOKEN:REVOKE", j({"token": gone["token"]}))
        m.execute_command("TOKEN:REVOKE", j({"auth_key": "doomed"}))
        audit_before = audit_events(m)
        s.kill()
        s.start()
        m = s.client()
        sc = connect(s, spender["token"])
        assert info(sc)["writes_used"] == 3  # spent writes are not handed back
        assert py_code(lambda: add(sc, "patient.1", 3))[0] == "LIMIT"
        add(sc, "patient.1", 2)
        assert py_code(lambda: add(sc, "patient.1"))[0] == "LIMIT"
        for secret in (gone["token"], doomed_key["auth_key"], doomed_tok["token"]):
            with RawClient(s, auth=False) as c:
                assert c.call("AUTH", secret) == RespError("NOAUTH token revoked")
        assert audit_events(m) == audit_before
        # And again, after a graceful stop this time.
        assert s.stop() == 0
        s.start()
        sc = connect(s, spender["token"])
        assert info(sc)["writes_used"] == 5 and info(sc)["writes_remaining"] == 0
        with RawClient(s, auth=False) as c:
            assert c.call("AUTH", gone["token"]) == RespError("NOAUTH token revoked")
        assert s.stop() == 0
    finally:
        s.cleanup()


# --- secrets at rest -------------------------------------------------------------------------------

def scan(data_dir, needles):
    """Every (file, needle) where a needle's bytes appear in a file under data_dir."""
    found = []
    for path in pathlib.Path(data_dir).rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            found += [(str(path), n) for n in needles if n.encode() in blob]
    return found


def test_no_secret_appears_in_any_file_of_the_data_directory():
    s = Server().start()
    try:
        m = s.client()
        secrets = []
        keys = [generate(m, auth_key=True, name=f"app{i}", permissions=APP_PERMS) for i in range(3)]
        secrets += [k["auth_key"] for k in keys]
        for k in keys:
            kc = connect(s, k["auth_key"])
            for i in range(3):
                t = mint(kc, f"{k['name']}-{i}", limit=10)
                secrets.append(t["token"])
                tc = connect(s, t["token"])
                add(tc, f"patient.{k['name']}")
        m.execute_command("TOKEN:REFRESH", j({"token": secrets[3], "limit": 1}))
        m.execute_command("TOKEN:REVOKE", j({"token": secrets[4]}))
        m.execute_command("TOKEN:UPDATE", j({"auth_key": keys[0]["auth_key"], "permissions": APP_PERMS}))
        m.execute_command("TOKEN:REVOKE", j({"auth_key": keys[2]["auth_key"]}))
        # The base64url body alone must not be there either (a secret stored without its prefix).
        needles = secrets + [x[4:] for x in secrets] + [MASTER_KEY, DEK]
        assert len(set(secrets)) == len(secrets)
        assert scan(s.data_dir, needles) == []  # while the WAL holds everything
        assert s.stop() == 0
        assert scan(s.data_dir, needles) == []  # after a flush at shutdown
        # The secrets still work after the restart: only their keyed hashes were stored.
        s.start()
        assert info(connect(s, secrets[0]))["name"] == "app0"
        assert info(connect(s, secrets[5]))["identifier_id"] == "app0-2"
        assert s.stop() == 0
        assert scan(s.data_dir, needles) == []
    finally:
        s.cleanup()


def test_a_copy_of_the_data_directory_without_the_dek_lets_nobody_in():
    """A copy started with another DEK refuses to start, so its token hashes are of no use."""
    s = Server().start()
    copy = pathlib.Path(tempfile.mkdtemp(prefix="eventful-copy-"))
    try:
        m = s.client()
        k = generate(m, auth_key=True, name="app", permissions=APP_PERMS)
        assert s.stop() == 0
        shutil.copytree(s.data_dir, copy, dirs_exist_ok=True)
        other = Server(data_dir=copy)
        other.env["EVENTFUL_DEK"] = "evd_another-data-key-0123456789abcdefgh"
        with pytest.raises(RuntimeError, match="wrong data encryption key"):
            other.start()
        assert k["auth_key"].startswith("evk_")
    finally:
        s.cleanup()
        shutil.rmtree(copy, ignore_errors=True)
