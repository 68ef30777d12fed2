"""`eventful token:*`: the access-control subcommands and the token:auth session file, driven as a
user would against a real server.

Each token:<action> sends TOKEN:<ACTION> with one JSON argument built from its flags; these tests
check the human output, the --json output (the raw reply), the exit codes (0 / 1) and the
server's error text on every failure. Every test gets its own XDG_CONFIG_HOME and HOME (tmp_path),
so no session file leaks between tests or from the machine. One server is shared by the module;
tests use their own auth key names.
"""
import json
import os
import re
import stat
import subprocess

import pytest
import redis

from harness import EVENTFUL, MASTER_KEY

TIMEOUT = 60
AUTH_KEY = re.compile(r"(?<![A-Za-z0-9_-])evk_[A-Za-z0-9_-]{22,}(?![A-Za-z0-9_-])")
TOKEN = re.compile(r"(?<![A-Za-z0-9_-])evt_[A-Za-z0-9_-]{22,}(?![A-Za-z0-9_-])")


@pytest.fixture(scope="module")
def server(shared_server):
    return shared_server


class Cli:
    """Runs `eventful ARGS --port P` with a private config home; `token` adds --token (or
    `secret_flag`), `env` adds environment variables."""

    def __init__(self, server, home):
        self.server = server
        self.home = home
        self.config = home / "config"
        self.session = self.config / "eventful" / "session"

    def __call__(self, *args, token=None, secret_flag="--token", env=None):
        cmd = [str(EVENTFUL), *map(str, args), "--port", str(self.server.port)]
        if token is not None:
            cmd += [secret_flag, token]
        environment = {"XDG_CONFIG_HOME": str(self.config), "HOME": str(self.home), **(env or {})}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=environment)

    def json(self, *args, **kwargs):
        r = self(*args, "--json", **kwargs)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def json_lines(self, *args, **kwargs):
        r = self(*args, "--json", **kwargs)
        assert r.returncode == 0, r.stderr
        return [json.loads(line) for line in r.stdout.splitlines()]

    def auth_key(self, name, *permissions):
        """A new auth key (minted with the master key); returns the reply object."""
        return self.json("token:generate", "--auth-key", f"--name={name}", *permissions, token=MASTER_KEY)

    def access_token(self, minter, *flags, identifier="1234567", expiration=3600, limit=100):
        return self.json("token:generate", f"--expiration={expiration}", f"--limit={limit}",
                         "--identifier-type=npi", f"--identifier-id={identifier}", *flags, token=minter)


@pytest.fixture
def cli(server, tmp_path):
    return Cli(server, tmp_path)


def failed(r, *fragments):
    """Exit code 1, nothing on stdout, and every fragment in the error text."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "", r.stdout
    for f in fragments:
        assert f in r.stderr, (f, r.stderr)
    return True


def auth_error(server, secret):
    """The server's reply to AUTH with `secret`, as redis-py reports it (None when accepted)."""
    try:
        redis.Redis(port=server.port, password=secret, decode_responses=True).ping()
    except redis.exceptions.RedisError as e:
        return str(e)
    return None


# --- token:generate --------------------------------------------------------------------------------


def test_generate_auth_key_prints_the_secret_once_with_a_warning(cli):
    r = cli("token:generate", "--auth-key", "--name=gen-human", "--read=patient.>", "--write=patient.>",
            token=MASTER_KEY)
    assert r.returncode == 0, r.stderr
    secrets = AUTH_KEY.findall(r.stdout)
    assert len(secrets) == 1, r.stdout
    assert re.search(r"^\s+" + re.escape(secrets[0]) + r"$", r.stdout, re.M), "the secret is on a line of its own"
    assert "shown only once" in r.stderr
    assert re.search(r"^name:\s+gen-human$", r.stdout, re.M)
    assert re.search(r"^permissions:\s+read patient\.> \| write patient\.> \| admin no$", r.stdout, re.M)
    assert auth_error(cli.server, secrets[0]) is None


def test_generate_auth_key_json_is_the_raw_reply(cli):
    key = cli.auth_key("gen-json", "--read=patient.>", "--read=order.*", "--write=patient.>", "--admin")
    assert AUTH_KEY.fullmatch(key["auth_key"])
    assert key["name"] == "gen-json" and key["kind"] == "auth_key" and key["id"].startswith("key_")
    assert key["permissions"] == {"read": ["patient.>", "order.*"], "write": ["patient.>"], "admin": True}


def test_generate_access_token_with_and_without_permissions(cli):
    key = cli.auth_key("gen-tokens", "--read=patient.>", "--write=patient.>")["auth_key"]
    t = cli.access_token(key, "--read=patient.42", identifier="111", limit=7)
    assert TOKEN.fullmatch(t["token"])
    assert t["actor"] == "npi:111" and t["limit"] == 7 and t["writes_used"] == 0 and t["minted_by"] == "gen-tokens"
    assert t["permissions"] == {"read": ["patient.42"], "write": [], "admin": False}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t["expires_at"])
    # No --read/--write/--admin: no "permissions" key is sent, so the minter's rights apply (without admin).
    inherited = cli.access_token(key, identifier="112")
    assert inherited["permissions"] == {"read": ["patient.>"], "write": ["patient.>"], "admin": False}
    human = cli("token:generate", "--expiration=60", "--limit=1", "--identifier-type=npi", "--identifier-id=113",
                token=key)
    assert human.returncode == 0 and len(TOKEN.findall(human.stdout)) == 1 and "shown only once" in human.stderr


def test_generate_failures(cli):
    key = cli.auth_key("gen-fail", "--read=patient.>")["auth_key"]
    token = cli.access_token(key)["token"]
    # A missing flag is caught before connecting.
    assert failed(cli("token:generate", "--expiration=60", "--limit=1", "--identifier-type=npi", token=key),
                  "--identifier-id")
    assert failed(cli("token:generate", "--auth-key", token=MASTER_KEY), "--name")
    assert failed(cli("token:generate", "--name=x", "--expiration=60", token=MASTER_KEY), "--auth-key")
    # The server's refusals, with its error code and text.
    assert failed(cli("token:generate", "--auth-key", "--name=gen-fail-2", token=key),
                  "NOPERM only the master key creates auth keys")
    assert failed(cli("token:generate", "--expiration=60", "--limit=1", "--identifier-type=npi",
                      "--identifier-id=1", "--write=patient.>", token=key), "NOPERM", "wider")
    assert failed(cli("token:generate", "--expiration=60", "--limit=1", "--identifier-type=npi",
                      "--identifier-id=1", token=token), "NOPERM an access token cannot mint tokens")
    assert failed(cli("token:generate", "--expiration=0", "--limit=1", "--identifier-type=npi",
                      "--identifier-id=1", token=key), "ERR 'expiration'")
    assert failed(cli("token:generate", "--auth-key", "--name=gen-fail", token=MASTER_KEY), "CONFLICT")
    assert failed(cli("token:generate", "--auth-key", "--name=gen-fail-3", token="evk_wrongwrongwrongwrongwrong"),
                  "WRONGPASS")


# --- token:revoke ----------------------------------------------------------------------------------


def test_revoke_by_token_id_and_auth_key_name(cli):
    key = cli.auth_key("rev", "--read=patient.>")["auth_key"]
    by_secret, by_id, cascaded = (cli.access_token(key, identifier=str(i)) for i in range(3))
    r = cli("token:revoke", "--token", by_secret["token"], token=key, secret_flag="--auth-token")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"revoked {by_secret['id']}\n"
    assert cli.json("token:revoke", f"--id={by_id['id']}", token=MASTER_KEY, secret_flag="--auth-token") == \
        {"revoked": [by_id["id"]]}
    r = cli("token:revoke", "--auth-key=rev", token=MASTER_KEY, secret_flag="--auth-token")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("revoked key_") and f"  {cascaded['id']}" in r.stdout
    for secret in (by_secret["token"], by_id["token"], cascaded["token"], key):
        assert auth_error(cli.server, secret) == "token revoked"


def test_revoke_failures(cli):
    key = cli.auth_key("rev-fail-a", "--read=patient.>")["auth_key"]
    other = cli.auth_key("rev-fail-b", "--read=patient.>")["auth_key"]
    token = cli.access_token(key)
    assert failed(cli("token:revoke", token=MASTER_KEY, secret_flag="--auth-token"), "exactly one of")
    assert failed(cli("token:revoke", "--id=a", "--auth-key=b", token=MASTER_KEY, secret_flag="--auth-token"),
                  "exactly one of")
    assert failed(cli("token:revoke", f"--id={token['id']}", token=other, secret_flag="--auth-token"),
                  "NOPERM this identity cannot revoke that token")
    assert failed(cli("token:revoke", "--id=tok_nosuchtoken", token=MASTER_KEY, secret_flag="--auth-token"),
                  "ERR no such token")
    assert auth_error(cli.server, token["token"]) is None, "a refused revoke changed nothing"


# --- token:list ------------------------------------------------------------------------------------


def test_list_tokens_and_auth_keys(cli):
    key = cli.auth_key("list-a", "--read=patient.>")["auth_key"]
    minted = [cli.access_token(key, identifier=f"l{i}") for i in range(3)]
    ids = [t["id"] for t in minted]
    cli.json("token:revoke", f"--id={ids[0]}", token=key, secret_flag="--auth-token")

    # A non-admin auth key sees exactly the tokens it minted; never a secret.
    mine = cli.json_lines("token:list", token=key)
    assert sorted(t["id"] for t in mine) == sorted(ids)
    for t in mine:
        assert {"id", "identifier_type", "identifier_id", "permissions", "expires_at", "writes_used", "limit",
                "minted_by", "revoked"} <= t.keys()
        assert "token" not in t and not TOKEN.search(json.dumps(t))
    assert {t["id"] for t in cli.json_lines("token:list", "--active", token=key)} == set(ids[1:])

    # Paging: --take and --cursor.
    ordered = sorted(ids)
    first = cli.json_lines("token:list", "--take=1", token=key)
    assert [t["id"] for t in first] == ordered[:1]
    rest = cli.json_lines("token:list", f"--cursor={ordered[0]}", token=key)
    assert [t["id"] for t in rest] == ordered[1:]
    page = cli("token:list", "--take=1", token=key)
    assert f"--cursor={ordered[0]}" in page.stderr

    # Human output: one line per token with its state.
    human = cli("token:list", token=key)
    assert human.returncode == 0, human.stderr
    lines = {line.split()[0]: line for line in human.stdout.splitlines()}
    assert set(lines) == set(ids)
    assert "  revoked  " in lines[ids[0]] and "  active  " in lines[ids[1]] and "writes 0/100" in lines[ids[1]]

    keys = cli.json_lines("token:list", "--auth-keys", token=MASTER_KEY)
    assert "list-a" in {k["name"] for k in keys} and not AUTH_KEY.search(json.dumps(keys))
    assert "list-a" in cli("token:list", "--auth-keys", token=MASTER_KEY).stdout


def test_list_empty_and_failures(cli):
    key = cli.auth_key("list-empty", "--read=patient.>")["auth_key"]
    r = cli("token:list", token=key)
    assert r.returncode == 0 and r.stdout == "no tokens\n"
    assert cli("token:list", "--json", token=key).stdout == ""
    token = cli.access_token(key)["token"]
    assert failed(cli("token:list", token=token), "NOPERM an access token cannot list tokens")
    assert failed(cli("token:list", "--auth-keys", token=key), "NOPERM listing auth keys needs admin rights")
    assert failed(cli("token:list", "--take=20000", token=key), "ERR 'take'")


# --- token:update ----------------------------------------------------------------------------------


def test_update_replaces_an_auth_keys_permissions(cli):
    key = cli.auth_key("upd", "--read=patient.>")["auth_key"]
    updated = cli.json("token:update", "--auth-key=upd", "--read=order.*", "--write=order.*", token=MASTER_KEY)
    assert updated["name"] == "upd" and updated["permissions"] == {"read": ["order.*"], "write": ["order.*"],
                                                                   "admin": False}
    r = cli("token:update", f"--auth-key={key}", "--admin", token=MASTER_KEY)  # by secret, human output
    assert r.returncode == 0, r.stderr
    assert re.search(r"^permissions:\s+read - \| write - \| admin yes$", r.stdout, re.M)
    assert cli.json("token:info", token=key)["permissions"] == {"read": [], "write": [], "admin": True}


def test_update_failures(cli):
    key = cli.auth_key("upd-fail", "--read=patient.>")["auth_key"]
    assert failed(cli("token:update", "--auth-key=upd-fail", token=MASTER_KEY), "--read", "--write", "--admin")
    assert failed(cli("token:update", "--read=x", token=MASTER_KEY), "--auth-key")
    assert failed(cli("token:update", "--auth-key=upd-fail", "--read=order.>", token=key),
                  "NOPERM changing an auth key needs admin rights")
    assert failed(cli("token:update", "--auth-key=no-such-key", "--read=order.>", token=MASTER_KEY),
                  "ERR no such token")


# --- token:refresh ---------------------------------------------------------------------------------


def test_refresh_adds_time_and_writes(cli):
    key = cli.auth_key("ref", "--read=patient.>")["auth_key"]
    t = cli.access_token(key, expiration=60, limit=2)
    more = cli.json("token:refresh", f"--id={t['id']}", "--limit=5", token=key, secret_flag="--auth-token")
    assert more["limit"] == 7 and more["expires_at"] == t["expires_at"]
    later = cli.json("token:refresh", "--token", t["token"], "--expiration=3600", token=key,
                     secret_flag="--auth-token")
    assert later["expires_at"] > t["expires_at"] and later["limit"] == 7
    r = cli("token:refresh", f"--id={t['id']}", "--limit=1", "--expiration=1", token=MASTER_KEY,
            secret_flag="--auth-token")
    assert r.returncode == 0 and re.search(r"^limit:\s+8$", r.stdout, re.M)


def test_refresh_failures(cli):
    key = cli.auth_key("ref-fail", "--read=patient.>")["auth_key"]
    other = cli.auth_key("ref-fail-b", "--read=patient.>")["auth_key"]
    t = cli.access_token(key)
    assert failed(cli("token:refresh", "--limit=1", token=key, secret_flag="--auth-token"), "--token", "--id")
    assert failed(cli("token:refresh", f"--id={t['id']}", token=key, secret_flag="--auth-token"),
                  "--expiration", "--limit")
    assert failed(cli("token:refresh", f"--id={t['id']}", "--limit=1", token=other, secret_flag="--auth-token"),
                  "NOPERM this identity cannot refresh that token")
    assert failed(cli("token:refresh", "--id=ref-fail", "--limit=1", token=MASTER_KEY,
                      secret_flag="--auth-token"), "ERR no such token")


# --- token:info ------------------------------------------------------------------------------------


def test_info_for_the_master_key_and_a_token(cli, server):
    master = cli.json("token:info", token=MASTER_KEY)
    assert master["kind"] == "master" and master["permissions"]["admin"] is True
    key = cli.auth_key("info", "--read=patient.>", "--write=patient.>")["auth_key"]
    t = cli.access_token(key, identifier="555", limit=3)
    c = redis.Redis(port=server.port, password=t["token"], decode_responses=True)
    c.execute_command("ADD", json.dumps({"stream": "patient.555", "events": [{"type": "seen"}]}))
    info = cli.json("token:info", token=t["token"])
    assert info["actor"] == "npi:555" and info["writes_used"] == 1 and info["writes_remaining"] == 2
    r = cli("token:info", token=t["token"])
    assert r.returncode == 0 and re.search(r"^writes_remaining:\s+2$", r.stdout, re.M)


def test_info_failures(cli):
    assert failed(cli("token:info", token="evt_wrongwrongwrongwrongwrongwrong"), "WRONGPASS")
    assert failed(cli("token:info"), "NOAUTH")  # no secret anywhere: the server asks for one


# --- token:auth and the session file ----------------------------------------------------------------


def test_auth_without_keep_alive_checks_and_stores_nothing(cli):
    key = cli.auth_key("auth-check", "--read=patient.>")["auth_key"]
    r = cli("token:auth", key)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("authenticated as key:auth-check (auth_key key_")
    assert cli.json("token:auth", key)["name"] == "auth-check"
    assert not cli.session.exists() and not cli.config.exists()


def test_keep_alive_stores_the_secret_0600_and_later_commands_use_it(cli, server):
    key = cli.auth_key("auth-keep", "--read=patient.>", "--write=patient.>")["auth_key"]
    r = cli("token:auth", key, "--keep-alive")
    assert r.returncode == 0, r.stderr
    assert str(cli.session) in r.stdout
    assert stat.S_IMODE(cli.session.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.session.parent.stat().st_mode) == 0o700
    assert cli.session.read_text() == key + "\n"
    assert os.listdir(cli.session.parent) == ["session"], "no temporary file left behind"

    # Later commands authenticate through it: no --token, no EVENTFUL_TOKEN.
    assert cli.json("token:info")["name"] == "auth-keep"
    t = cli.access_token(None, identifier="777")
    assert t["minted_by"] == "auth-keep"
    r = cli("event:add", "visited", "--stream=patient.777")
    assert r.returncode == 0, r.stderr
    assert [e["actor"] for e in cli.json_lines("aggregate:replay", "patient.777")] == ["key:auth-keep"]

    # Storing another secret replaces the file atomically, still 0600.
    assert cli("token:auth", t["token"], "--keep-alive").returncode == 0
    assert cli.session.read_text() == t["token"] + "\n"
    assert stat.S_IMODE(cli.session.stat().st_mode) == 0o600
    assert cli.json("token:info")["actor"] == "npi:777"
    assert os.listdir(cli.session.parent) == ["session"]


def test_keep_alive_refuses_a_wrong_secret_and_stores_nothing(cli):
    assert failed(cli("token:auth", "evk_wrongwrongwrongwrongwrong", "--keep-alive"), "WRONGPASS")
    assert not cli.session.exists()
    key = cli.auth_key("auth-wrong", "--read=patient.>")["auth_key"]
    assert cli("token:auth", key, "--keep-alive").returncode == 0
    assert failed(cli("token:auth", "evt_wrongwrongwrongwrongwrongwrong", "--keep-alive"), "WRONGPASS")
    assert cli.session.read_text() == key + "\n", "a refused secret does not replace the stored one"
    assert failed(cli("token:auth", "--keep-alive", env={"EVENTFUL_TOKEN": ""}), "needs a secret")


def test_logout_removes_the_session_file(cli):
    key = cli.auth_key("auth-logout", "--read=patient.>")["auth_key"]
    assert cli("token:auth", key, "--keep-alive").returncode == 0
    r = cli("token:auth", "--logout")
    assert r.returncode == 0 and "removed" in r.stdout
    assert not cli.session.exists()
    assert failed(cli("token:info"), "NOAUTH")
    again = cli("token:auth", "--logout")
    assert again.returncode == 0 and "not logged in" in again.stdout
    assert failed(cli("token:auth", key, "--logout"), "--logout")


def test_token_option_and_environment_override_the_session_file(cli):
    key = cli.auth_key("auth-over", "--read=patient.>")["auth_key"]
    assert cli("token:auth", key, "--keep-alive").returncode == 0
    assert cli.json("token:info", token=MASTER_KEY)["kind"] == "master"
    assert cli.json("token:info", env={"EVENTFUL_TOKEN": MASTER_KEY})["kind"] == "master"
    other = cli.auth_key("auth-over-2", "--read=patient.>")["auth_key"]
    assert cli.json("token:info", token=other, env={"EVENTFUL_TOKEN": MASTER_KEY})["name"] == "auth-over-2"
    assert cli.json("token:info")["name"] == "auth-over"


def test_default_session_path_is_under_home(cli, server, tmp_path):
    key = cli.auth_key("auth-home", "--read=patient.>")["auth_key"]
    cmd = [str(EVENTFUL), "token:auth", key, "--keep-alive", "--port", str(server.port)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env={"HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    session = tmp_path / ".config" / "eventful" / "session"
    assert session.read_text() == key + "\n" and stat.S_IMODE(session.stat().st_mode) == 0o600


def test_a_revoked_secret_in_the_session_file_fails_with_noauth(cli):
    key = cli.auth_key("auth-revoked", "--read=patient.>")["auth_key"]
    token = cli.access_token(key)["token"]
    assert cli("token:auth", token, "--keep-alive").returncode == 0
    assert cli.json("token:info")["kind"] == "token"
    cli.json("token:revoke", "--token", token, token=key, secret_flag="--auth-token")
    for args in (("token:info",), ("aggregate:replay", "patient.1"), ("checksum",)):
        r = cli(*args)
        assert failed(r, "error: NOAUTH token revoked", str(cli.session), "--logout")
    assert failed(cli("token:auth", "--keep-alive"), "NOAUTH token revoked")  # re-checking it fails too
