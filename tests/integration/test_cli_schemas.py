"""`eventful schema:*`, `migrate`, `aggregate:archive|restore`, `event:archive`, `aggregate:apply|commit`
and `--strict-schemas`, driven as a user would: the real `eventful` binary against a real server.

Each subcommand sends the server command of the same name with one JSON argument (docs/protocol.md
"Schemas", "Archival"); these tests check the human output, the --json output (the raw reply), the
exit codes (0 / 1) and the server's error code on every failure. Schemas are global to a server, so
tests that stage or migrate schemas get a server of their own; the others share one and use their
own stream names. Every test gets its own XDG_CONFIG_HOME and HOME (tmp_path): the staging file of
aggregate:apply lives there.
"""
import json
import os
import re
import stat
import subprocess

import pytest
import redis

from harness import DEK, EVENTFUL, MASTER_KEY, Server

TIMEOUT = 60
STARTED = re.compile(r"^eventful started \(pid (\d+)\) on (\S+):(\d+)$", re.M)


def start_server(**kwargs):
    return Server(**kwargs).start()


def stop_server(s):
    try:
        assert s.stop() == 0, "server did not shut down cleanly:\n" + "".join(s.output)
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def shared_server():
    s = start_server()
    yield s
    stop_server(s)


@pytest.fixture
def own_server():
    s = start_server()
    yield s
    stop_server(s)


class Cli:
    """Runs `eventful ARGS` with a private config home. Client subcommands get `--port P --token
    MASTER` (token=None: no --token; local=True: neither, for aggregate:apply)."""

    def __init__(self, server, home):
        self.server = server
        self.home = home
        self.config = home / "config"
        self.staged = self.config / "eventful" / "staged"

    def __call__(self, *args, token=MASTER_KEY, local=False, input=None, env=None):
        cmd = [str(EVENTFUL), *map(str, args)]
        if not local:
            cmd += ["--port", str(self.server.port)]
            if token is not None:
                cmd += ["--token", token]
        environment = {"XDG_CONFIG_HOME": str(self.config), "HOME": str(self.home), "PATH": os.environ["PATH"],
                       **(env or {})}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=environment,
                              input=input if input is not None else "")

    def ok(self, *args, **kwargs):
        r = self(*args, **kwargs)
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        assert r.stderr == "", r.stderr
        return r.stdout

    def json(self, *args, **kwargs):
        return json.loads(self.ok(*args, "--json", **kwargs))

    def json_lines(self, *args, **kwargs):
        return [json.loads(line) for line in self.ok(*args, "--json", **kwargs).splitlines()]

    def apply(self, *args):
        return self.ok("aggregate:apply", *args, local=True)


def failed(r, *fragments):
    """Exit code 1, nothing on stdout, and every fragment in the error text."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "", r.stdout
    assert r.stderr.startswith("error: "), r.stderr
    for f in fragments:
        assert f in r.stderr, (f, r.stderr)
    return True


def usage(r):
    """A usage error caught by the command line itself (CLI11): exit 1, nothing on stdout."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "" and r.stderr != "", (r.stdout, r.stderr)
    return True


def server_error(r, code, *fragments):
    """A server error reply, printed as `error: <CODE message>`, exit 1."""
    assert failed(r, *fragments)
    assert re.match(rf"^error: {code} ", r.stderr), (code, r.stderr)
    return True


def stream_events(server, stream):
    c = server.client()
    return [json.loads(e) for e in c.execute_command("GET", json.dumps({"stream": stream}))]


PATIENT = ("schema:create", "patient", "--event", "patient-created=name,birthdate", "--event",
           "patient-updated=status", "--event", "patient-noted", "--snapshot-threshold", "25",
           "--lock-field", "birthdate")


def create_and_apply(cli, *create_args):
    cli.ok(*create_args)
    reply = cli.json("migrate", "--apply")
    assert reply["applied"] is True, reply
    return reply


@pytest.fixture
def cli(shared_server, tmp_path):
    return Cli(shared_server, tmp_path)


@pytest.fixture
def own(own_server, tmp_path):
    return Cli(own_server, tmp_path)


# ---- schema:create, migrate, schema:list, schema:show --------------------------------------------


def test_schema_create_stages_and_migrate_apply_makes_it_live(own):
    staged = own.json(*PATIENT)
    assert staged["pending"] == 1
    change = staged["staged"]
    assert change["op"] == "create" and change["aggregate"] == "patient"
    assert change["events"] == {"patient-created": {"fields": ["birthdate", "name"]},
                                "patient-updated": {"fields": ["status"]},
                                "patient-noted": {"fields": []}}
    assert change["snapshot_threshold"] == 25 and change["locked_fields"] == ["birthdate"]

    # Staged only: an ADD of a type the schema does not know is still accepted.
    own.ok("event:add", "anything", "--stream=patient.0")

    # schema:list shows it, pending.
    [entry] = own.json_lines("schema:list")
    assert entry["aggregate"] == "patient"
    assert sorted(entry["event_types"]) == ["patient-created", "patient-noted", "patient-updated"]
    human = own.ok("schema:list")
    assert human.startswith("patient  events: ") and "snapshot_threshold: 25" in human

    # migrate = dry run: the diff, readable; nothing applied.
    out = own.ok("migrate")
    assert "dry run" in out and "+ patient (create)" in out, out
    assert "+ event patient-created: birthdate, name" in out, out
    assert "+ event patient-noted: (no fields)" in out, out
    assert "snapshot_threshold: 25" in out and "locked_fields: birthdate" in out, out
    dry = own.json("migrate", "--dry-run")
    assert dry["dry_run"] is True and len(dry["changes"]) == 1
    assert [(d["aggregate"], d["action"]) for d in dry["diff"]] == [("patient", "create")]
    assert dry["diff"][0]["before"] is None and dry["diff"][0]["after"]["snapshot_threshold"] == 25

    # --apply (and -f): live as the next schema version.
    applied = own.json("migrate", "-f")
    assert applied["applied"] is True and applied["schema_version"] == dry["schema_version"] + 1
    again = own.ok("migrate", "--apply")
    assert "nothing to apply" in again, again
    assert "no staged changes" in own.ok("migrate")

    shown = own.json("schema:show", "patient")
    assert shown["aggregate"] == "patient" and shown["changed"] is False
    assert shown["live"] == shown["pending"]
    assert shown["live"]["events"]["patient-created"] == {"fields": ["birthdate", "name"]}
    human = own.ok("schema:show", "patient")
    assert "event patient-created: birthdate, name" in human and "locked_fields: birthdate" in human, human
    assert "no staged changes" in human, human

    # The live schema checks ADD.
    own.ok("event:add", "patient-created", "--stream=patient.1", "--name=Ann")
    assert server_error(own("event:add", "patient-deleted", "--stream=patient.1"), "INVALID",
                        "unknown event type 'patient-deleted'")
    assert server_error(own("event:add", "patient-created", "--stream=patient.1", "--birthdate=1970-01-01"),
                        "LOCKED", "field 'birthdate' is locked")
    assert server_error(own("event:add", "patient-updated", "--stream=patient.1", "--ward=B"), "INVALID",
                        "field 'ward' is not declared")


def test_schema_create_human_output_and_failures(own):
    out = own.ok("schema:create", "order", "--event", "order-placed=total", "--lock")
    assert out.startswith("staged: {"), out
    assert '"op":"create"' in out and "pending: 1" in out and "eventful migrate --apply" in out, out
    [change] = own.json("migrate")["changes"]
    assert change["locked"] is True

    # The server's rules: the aggregate exists in the pending view.
    assert server_error(own("schema:create", "order", "--event", "x"), "ERR", "schema 'order' already exists")
    # Not admin: an auth key without admin rights may read schemas but not change them.
    c = own.server.client()
    key = json.loads(c.execute_command("TOKEN:GENERATE", json.dumps(
        {"auth_key": True, "name": "schemas-reader", "permissions": {"read": [">"], "write": [">"], "admin": False}})))
    assert server_error(own("schema:create", "visit", "--event", "x", token=key["auth_key"]), "NOPERM")
    assert own("schema:list", token=key["auth_key"]).returncode == 0

    # Usage errors, caught before anything is sent.
    assert failed(own("schema:create", "--event", "x=a"), "needs an aggregate")
    assert failed(own("schema:create", "visit", "--event", "=a"), "needs an event type")
    assert failed(own("schema:create", "visit", "--event", "x=a,,b"), "empty name")
    assert failed(own("schema:create", "visit", "--event", "x=a", "--event", "x=b"), "'x' given twice")
    assert failed(own("schema:create", "visit", "--file", "whatever.json"), "--file")
    assert failed(own("schema:create", "--file", str(own.home / "missing.json")), "cannot read")
    assert failed(own("schema:create", "--file", "-", input=""), "empty")
    assert usage(own("schema:create", "visit", "--snapshot-threshold", "many"))
    assert own.json("migrate")["changes"] == [change]


def test_schema_alter_stages_each_kind_of_change(own):
    create_and_apply(own, *PATIENT)

    lock = own.json("schema:alter", "patient", "--lock")["staged"]
    assert lock["op"] == "alter" and lock["aggregate"] == "patient" and lock["lock"] is True
    assert own.json("schema:alter", "patient", "--unlock")["staged"]["lock"] is False
    field = own.json("schema:alter", "patient", "--field", "birthdate", "--unlock")["staged"]
    assert field["field"] == "birthdate" and field["lock"] is False
    fields = own.json("schema:alter", "patient", "--event", "patient-updated", "--add", "ward,bed", "--add", "room",
                      "--remove", "status")
    assert fields["staged"]["event"] == "patient-updated"
    assert sorted(fields["staged"]["add"]) == ["bed", "room", "ward"] and fields["staged"]["remove"] == ["status"]
    threshold = own.json("schema:alter", "patient", "--snapshot-threshold", "5")
    assert threshold["staged"]["snapshot_threshold"] == 5 and threshold["pending"] == 5

    out = own.ok("migrate")
    assert "~ patient (alter)" in out, out
    assert "~ event patient-updated: +bed +room +ward -status" in out, out
    assert "snapshot_threshold: 25 -> 5" in out and "locked_fields: birthdate -> -" in out, out
    shown = own.json("schema:show", "patient")
    assert shown["changed"] is True and shown["pending"]["snapshot_threshold"] == 5
    assert "pending (after `eventful migrate --apply`)" in own.ok("schema:show", "patient")

    # The server's rules.
    assert server_error(own("schema:alter", "nope", "--lock"), "ERR", "no schema for aggregate 'nope'")
    assert server_error(own("schema:alter", "patient"), "ERR")
    assert server_error(own("schema:alter", "patient", "--field", "name"), "ERR")
    assert server_error(own("schema:alter", "patient", "--add", "x"), "ERR")
    assert server_error(own("schema:alter", "patient", "--event", "patient-noted", "--remove", "nothere"), "ERR")
    # Usage.
    assert failed(own("schema:alter", "patient", "--lock", "--unlock"), "not both")
    assert usage(own("schema:alter", "--lock"))
    assert failed(own("schema:alter", "patient", "--event", "e", "--add", "a,"), "empty name")

    # Applied: lock then unlock leaves the aggregate open; a lock of its own locks it.
    own.ok("migrate", "--apply")
    own.ok("event:add", "patient-updated", "--stream=patient.1", "--ward=B")
    create_and_apply(own, "schema:alter", "patient", "--lock")
    assert server_error(own("event:add", "patient-updated", "--stream=patient.1", "--ward=C"), "LOCKED",
                        "aggregate 'patient' is locked")


def test_schema_remove_an_event_type_or_the_whole_schema(own):
    create_and_apply(own, *PATIENT)
    one = own.json("schema:remove", "patient", "--event", "patient-noted")["staged"]
    assert one["op"] == "remove" and one["aggregate"] == "patient" and one["event"] == "patient-noted"
    assert "- event patient-noted" in own.ok("migrate")
    assert server_error(own("schema:remove", "patient", "--event", "never-declared"), "ERR")
    own.ok("migrate", "--apply")
    assert server_error(own("event:add", "patient-noted", "--stream=patient.2"), "INVALID", "unknown event type")

    whole = own.json("schema:remove", "patient")["staged"]
    assert whole == {"op": "remove", "aggregate": "patient"}
    assert "- patient (remove)" in own.ok("migrate")
    shown = own.json("schema:show", "patient")
    assert shown["pending"] is None and shown["changed"] is True
    assert "removed" in own.ok("schema:show", "patient")
    own.ok("migrate", "--apply")
    assert server_error(own("schema:show", "patient"), "ERR", "no schema for aggregate 'patient'")
    assert server_error(own("schema:remove", "patient"), "ERR")
    own.ok("event:add", "patient-noted", "--stream=patient.2")  # no schema: anything goes
    assert "no schemas" in own.ok("schema:list")
    assert own.json_lines("schema:list") == []


def test_migrate_discard_and_flag_clashes(own):
    own.ok("schema:create", "visit", "--event", "visit-started=room")
    own.ok("schema:create", "order", "--event", "order-placed")
    before = own.json("migrate")["schema_version"]
    out = own.ok("migrate", "--discard")
    assert out == f"discarded 2 staged changes; schema_version stays {before}\n", out
    assert own.json("migrate")["changes"] == []
    assert own.json("migrate", "--discard") == {"discarded": 0, "schema_version": before}
    assert server_error(own("schema:show", "visit"), "ERR", "no schema for aggregate 'visit'")
    applied = own.json("migrate", "--apply")
    assert applied["applied"] is False and applied["schema_version"] == before
    for clash in (("--apply", "--discard"), ("--dry-run", "--apply"), ("-f", "--discard")):
        assert failed(own("migrate", *clash), "at most one")


def test_schema_show_export_round_trips_through_schema_create_file(own, tmp_path):
    create_and_apply(own, *PATIENT)
    version = create_and_apply(own, "schema:create", "order", "--event", "order-placed=total,currency",
                               "--lock")["schema_version"]
    own.ok("schema:create", "visit", "--event", "visit-started")  # staged only: not exported

    # `eventful schema:show > schemas.json`: the raw export document, with or without --json.
    exported = own.ok("schema:show")
    assert exported == own.ok("schema:show", "--json")
    document = json.loads(exported)
    assert document["schema_version"] == version
    assert sorted(s["aggregate"] for s in document["schemas"]) == ["order", "patient"]
    path = tmp_path / "schemas.json"
    path.write_text(exported)

    other = start_server()
    try:
        again = Cli(other, tmp_path)
        staged = again.json("schema:create", "--file", path)
        assert staged["staged"]["op"] == "import" and staged["pending"] == 1
        again.ok("migrate", "--apply")
        assert json.loads(again.ok("schema:show"))["schemas"] == document["schemas"]
        # An import replaces silently, from stdin too: re-applying the same document is fine.
        assert again.json("schema:create", "--file", "-", input=exported)["staged"]["op"] == "import"
        # A single schema document as a file.
        one = tmp_path / "visit.json"
        one.write_text(json.dumps({"aggregate": "visit", "events": {"visit-started": {"fields": ["room"]}}}))
        assert again.json("schema:create", "--file", one)["staged"]["op"] == "create"
        # Not JSON: the server says so.
        bad = tmp_path / "bad.json"
        bad.write_text("{not json")
        assert server_error(again("schema:create", "--file", bad), "ERR", "invalid JSON")
    finally:
        stop_server(other)


# ---- archival -----------------------------------------------------------------------------------


def test_aggregate_archive_locks_the_stream_and_restore_unlocks_it(cli):
    cli.ok("event:add", "opened", "--stream=ledger.1")
    cli.ok("event:add", "closed", "--stream=ledger.1")
    archived = cli.json("aggregate:archive", "ledger.1", "--comment=year end")
    assert archived == {"stream": "ledger.1", "version": 2, "archived": True, "moved": 2}
    assert server_error(cli("event:add", "reopened", "--stream=ledger.1"), "LOCKED", "stream 'ledger.1' is archived")
    assert server_error(cli("aggregate:archive", "ledger.1"), "ERR", "already archived")
    # Archived events read exactly as before.
    assert [e["type"] for e in cli.json_lines("aggregate:replay", "ledger.1")] == ["opened", "closed"]
    state = cli.json("aggregate:get", "ledger.1")
    assert state["archived"] is True and state["locked"] is True

    out = cli.ok("aggregate:restore", "ledger.1", "--comment=audit")
    assert out == "restored ledger.1 at version 2 (2 events moved)\n", out
    cli.ok("event:add", "reopened", "--stream=ledger.1")
    assert server_error(cli("aggregate:restore", "ledger.1"), "ERR", "is not archived")
    assert cli.ok("aggregate:archive", "ledger.1") == "archived ledger.1 at version 3 (3 events moved)\n"

    # The audit trail.
    audit = [e for e in stream_events(cli.server, "$audit") if e["type"] in ("aggregate-archived", "aggregate-restored")]
    assert [e["type"] for e in audit][-3:] == ["aggregate-archived", "aggregate-restored", "aggregate-archived"]

    assert server_error(cli("aggregate:archive", "ledger.none"), "ERR", "no such stream")
    assert server_error(cli("aggregate:restore", "ledger.none"), "ERR", "no such stream")
    assert server_error(cli("aggregate:archive", "$audit"), "NOPERM")
    assert usage(cli("aggregate:archive"))


def test_event_archive_moves_events_without_locking(cli):
    cli.ok("event:add", "a", "--stream=shelf.1")
    cli.ok("event:add", "b", "--stream=shelf.1")
    assert cli.json("event:archive", "shelf.1") == {"moved": 2, "streams": 1}
    cli.ok("event:add", "c", "--stream=shelf.1")  # not locked
    assert cli.ok("event:archive", "shelf.1") == "moved 1 event of 1 stream to the archive\n"
    assert cli.json("event:archive", "shelf.1")["moved"] == 0
    assert [e["type"] for e in cli.json_lines("aggregate:replay", "shelf.1")] == ["a", "b", "c"]
    everything = cli.json("event:archive", "--all")
    assert everything["streams"] >= 1 and everything["moved"] >= 0
    # Since then only the $audit event of that archive was written, and --all moves it too.
    assert cli.json("event:archive", "--all")["moved"] == 1

    assert server_error(cli("event:archive", "shelf.none"), "ERR", "no such stream")
    assert failed(cli("event:archive"), "exactly one")
    assert failed(cli("event:archive", "shelf.1", "--all"), "exactly one")


# ---- aggregate:apply / aggregate:commit ------------------------------------------------------------


def test_staged_events_are_committed_in_one_add(cli):
    assert cli.ok("aggregate:apply", "--list", local=True) == "nothing staged\n"
    assert not cli.staged.exists(), "--list creates nothing"
    out = cli.apply("cart-created", "--stream=cart.7", "--owner=Ann")
    assert out.startswith("staged cart.7 cart-created {\"owner\":\"Ann\"} (1 event staged"), out
    cli.apply("--stream", "invoice.7", "invoice-drafted", "--amount", "42.50")
    cli.apply("item-added", "--stream=cart.7", "--sku=A-1", "--note=say \"hi\"\tplease")

    assert stat.S_IMODE(cli.staged.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.staged.parent.stat().st_mode) == 0o700
    lines = [json.loads(line) for line in cli.staged.read_text().splitlines()]
    ids = [line.pop("id") for line in lines]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"[0-9A-Z]{26}", i) for i in ids), ids
    assert lines == [
        {"stream": "cart.7", "type": "cart-created", "data": {"owner": "Ann"}},
        {"stream": "invoice.7", "type": "invoice-drafted", "data": {"amount": "42.50"}},
        {"stream": "cart.7", "type": "item-added", "data": {"sku": "A-1", "note": "say \"hi\"\tplease"}},
    ]
    assert cli.json_lines("aggregate:apply", "--list", local=True) == [
        dict(line, id=i) for line, i in zip(lines, ids)]
    before = cli.staged.read_bytes()
    listed = cli.ok("aggregate:apply", "--list", local=True)
    assert listed.startswith("3 events staged in "), listed
    assert "  invoice.7 invoice-drafted {\"amount\":\"42.50\"}\n" in listed
    assert stream_events(cli.server, "cart.7") == [], "apply sends nothing"

    stored = cli.json_lines("aggregate:commit")
    # One ADD: streams in order of first appearance, each stream's events in staging order,
    # consecutive positions, one added_at.
    assert [(e["stream"], e["version"], e["type"]) for e in stored] == [
        ("cart.7", 1, "cart-created"), ("cart.7", 2, "item-added"), ("invoice.7", 1, "invoice-drafted")]
    positions = [e["position"] for e in stored]
    assert positions == list(range(positions[0], positions[0] + 3))
    assert len({e["added_at"] for e in stored}) == 1
    assert [e["id"] for e in stored] == [ids[0], ids[2], ids[1]], "the staged ids are the events' ids"
    assert stored[1]["data"] == {"sku": "A-1", "note": "say \"hi\"\tplease"}
    assert [e["type"] for e in stream_events(cli.server, "cart.7")] == ["cart-created", "item-added"]
    assert [e["data"] for e in stream_events(cli.server, "invoice.7")] == [{"amount": "42.50"}]

    assert cli.staged.read_text() == ""
    # A commit whose reply was lost is retried with the same staging file: the ids make the server
    # return the stored events instead of storing them twice.
    cli.staged.write_bytes(before)
    assert cli.json_lines("aggregate:commit") == stored
    assert len(stream_events(cli.server, "cart.7")) == 2 and len(stream_events(cli.server, "invoice.7")) == 1
    assert cli.staged.read_text() == ""
    assert cli.ok("aggregate:apply", "--list", local=True) == "nothing staged\n"
    assert failed(cli("aggregate:commit"), "nothing staged")

    # Human output.
    cli.apply("cart-closed", "--stream=cart.7")
    out = cli.ok("aggregate:commit")
    assert out.startswith("added cart.7 v3 cart-closed (id ") and "committed 1 event in one ADD" in out, out


def test_a_failing_commit_stores_nothing_and_keeps_the_staging_file(cli):
    cli.ok("event:add", "opened", "--stream=vault.1")
    cli.ok("aggregate:archive", "vault.1")
    cli.apply("note-taken", "--stream=memo.1", "--text=first")
    cli.apply("deposit", "--stream=vault.1", "--amount=5")
    cli.apply("note-taken", "--stream=memo.1", "--text=second")
    before = cli.staged.read_bytes()

    r = cli("aggregate:commit")
    assert server_error(r, "LOCKED", "stream 'vault.1' is archived")
    assert "nothing was stored" in r.stderr and str(cli.staged) in r.stderr
    assert cli.staged.read_bytes() == before
    assert stream_events(cli.server, "memo.1") == []

    # A server that cannot be reached: kept too.
    r = cli("aggregate:commit", "--port", "1", token=None, local=True)
    assert failed(r, "cannot connect")
    assert cli.staged.read_bytes() == before

    # After the stream is restored the same staged events commit.
    cli.ok("aggregate:restore", "vault.1")
    stored = cli.json_lines("aggregate:commit")
    assert [(e["stream"], e["version"]) for e in stored] == [("memo.1", 1), ("memo.1", 2), ("vault.1", 2)]


def test_a_commit_rejected_by_a_schema_stores_nothing(own):
    create_and_apply(own, *PATIENT)
    own.apply("patient-created", "--stream=patient.5", "--name=Bo")
    own.apply("memo-taken", "--stream=memo.5")
    own.apply("patient-archived", "--stream=patient.5")
    before = own.staged.read_bytes()
    assert server_error(own("aggregate:commit"), "INVALID", "unknown event type 'patient-archived'")
    assert own.staged.read_bytes() == before
    assert stream_events(own.server, "patient.5") == [] and stream_events(own.server, "memo.5") == []
    # --clear drops everything staged.
    assert own.ok("aggregate:apply", "--clear", local=True) == "dropped 3 events\n"
    assert own.ok("aggregate:apply", "--list", local=True) == "nothing staged\n"
    assert own.ok("aggregate:apply", "--clear", local=True) == "nothing staged\n"


def test_apply_usage_errors_stage_nothing(cli):
    assert failed(cli("aggregate:apply", "--stream=cart.1", local=True), "needs the event type")
    assert failed(cli("aggregate:apply", "cart-created", local=True), "needs --stream")
    assert failed(cli("aggregate:apply", "a", "b", "--stream=cart.1", local=True), "takes one event type")
    assert failed(cli("aggregate:apply", "a", "--stream=cart..1", local=True), "empty token")
    assert failed(cli("aggregate:apply", "a", "--stream=cart.1", "--x=1", "--x=2", local=True), "given twice")
    assert failed(cli("aggregate:apply", "a", "--stream=cart.1", "--x", local=True), "needs a value")
    assert failed(cli("aggregate:apply", "a", "--stream=cart.1", "--bad/name=1", local=True), "bad field name")
    assert failed(cli("aggregate:apply", "--list", "a", local=True), "--list")
    assert failed(cli("aggregate:apply", "--clear", "--stream=cart.1", local=True), "--clear")
    assert failed(cli("aggregate:apply", "--list", "--clear", local=True), "not both")
    assert not cli.staged.exists()
    # A damaged staging file is reported with its line, and --clear is the way out.
    cli.staged.parent.mkdir(parents=True, mode=0o700)
    cli.staged.write_text('{"stream":"cart.1","type":"a","data":{}}\nnot json\n')
    cli.staged.chmod(0o600)
    assert failed(cli("aggregate:commit"), f"{cli.staged}:2")
    assert failed(cli("aggregate:apply", "--list", local=True), f"{cli.staged}:2")
    cli.ok("aggregate:apply", "--clear", local=True)
    assert cli.staged.read_text() == ""


# ---- --strict-schemas ---------------------------------------------------------------------------


def test_config_strict_schemas_rejects_categories_without_a_schema(tmp_path):
    s = Server(config_args=("--strict-schemas",))
    try:
        assert "strict_schemas = true" in (s.data_dir / "config.toml").read_text()
        s.start()
        cli = Cli(s, tmp_path)
        assert server_error(cli("event:add", "created", "--stream=thing.1"), "INVALID", "no schema for aggregate 'thing'")
        cli.apply("created", "--stream=thing.1")
        assert server_error(cli("aggregate:commit"), "INVALID", "strict_schemas")
        create_and_apply(cli, "schema:create", "thing", "--event", "created")
        assert [e["stream"] for e in cli.json_lines("aggregate:commit")] == ["thing.1"]
        assert s.stop() == 0

        r = subprocess.run([str(EVENTFUL), "config", "--data-dir", str(s.data_dir), "--no-strict-schemas"],
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr
        assert "strict_schemas = false" in (s.data_dir / "config.toml").read_text()
        r = subprocess.run([str(EVENTFUL), "config", "--data-dir", str(s.data_dir), "--strict-schemas",
                            "--no-strict-schemas"], capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 1 and "not both" in r.stderr
        s.start()
        cli.ok("event:add", "created", "--stream=other.1")
        assert s.stop() == 0
    finally:
        s.cleanup()


def test_start_strict_schemas_overrides_the_config(tmp_path):
    data_dir = tmp_path / "data"
    s = Server(data_dir=data_dir)  # config.toml only: `eventful start` runs the daemon
    env = dict(os.environ, EVENTFUL_DEK=DEK)
    env.pop("EVENTFUL_PORT", None)
    r = subprocess.run([str(EVENTFUL), "start", "--data-dir", str(data_dir), "--port", "0", "--strict-schemas"],
                       capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    m = STARTED.search(r.stdout)
    assert m, r.stdout
    try:
        s.port = int(m.group(3))
        assert "strict_schemas = false" in (data_dir / "config.toml").read_text()
        cli = Cli(s, tmp_path)
        assert server_error(cli("event:add", "created", "--stream=thing.1"), "INVALID", "no schema for aggregate")
    finally:
        r = subprocess.run([str(EVENTFUL), "stop", "--data-dir", str(data_dir)], capture_output=True, text=True,
                           timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr
