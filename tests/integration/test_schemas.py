"""Schemas, migrations, automatic snapshots and the AGGREGATE:LIST summary (issue 6; PROTOCOL.md §3,
§8 "Schemas" and "Further settled points"; docs/protocol.md "Aggregates" and "Schemas").

Written from the documents, not from the server's code:

- every SCHEMA:* command and its documented errors, exact replies through a raw socket (redis-py
  strips "ERR "), the validation errors of ADD also through redis-py and redis-cli;
- every mutation is staged, not live, until SCHEMA:MIGRATE {"apply":true}; dry run and discard
  change nothing; SHOW shows live and pending; an export (SCHEMA:SHOW {}) re-imported with
  SCHEMA:CREATE gives the same schemas; staged and live schemas survive a restart;
- one `$audit` event `schema-migrated` per applied migration, none for staging, dry runs, discards
  or refused commands; non-admin callers get NOPERM on every schema mutation;
- each row of the ADD validation table, the order in which the rules apply, and that a rejected ADD
  (one event of many, one stream of many) stores nothing: EVENTCOUNT and CHECKSUM unchanged; a
  migration is ordered with the ADDs around it;
- strict_schemas from `eventfuld --strict-schemas`, `eventful config --strict-schemas` and
  config.toml (in [server] and at the top level);
- automatic snapshots exactly at threshold crossings (also an ADD that jumps across a multiple, and
  under concurrent, pipelined and multi-stream ADDs; a long first fold stored in the background);
  the state at every version of a 1,000-event stream with snapshot_threshold 37 equals an
  independent fold written here and the state of the same events in a stream without a schema;
  damaged automatic snapshots are bypassed with the same state;
- AGGREGATE:LIST's `type` filter and its summary fields, checked against the events themselves.
"""
import hashlib
import json
import random
import subprocess
import threading
import time

import pytest
import redis

from aggregate_model import fold
from harness import BIN_DIR, MASTER_KEY, RawClient, RespError, Server
from json_conn import Conn, expect_error, j
from integrity_model import leaf_hash, merkle_root

TAMPER = BIN_DIR / "eventful_tamper"

PATIENT = {"aggregate": "patient",
           "events": {"patient-created": {"fields": ["name", "birthdate"]},
                      "patient-updated": {"fields": ["status"]}},
           "snapshot_threshold": 25, "locked": False, "locked_fields": ["birthdate"]}
WARD = {"aggregate": "ward", "events": {"ward-opened": {"fields": ["beds", "floor"]}}}
SUMMARY_KEYS = {"stream", "version", "root", "type", "created_at", "updated_at", "snapshot_version",
                "archived", "locked"}
LIST_KEYS = {"aggregate", "event_types", "snapshot_threshold", "locked", "live", "pending"}
STATE_KEYS = {"stream", "version", "state", "root", "snapshot_version", "archived", "locked"}


# --- talking to the server ------------------------------------------------------------------------


def add(c, stream, events, version=None):
    arg = {"stream": stream, "events": events}
    if version is not None:
        arg["version"] = version
    return c.ok("ADD", arg)


def audit(c):
    return c.ok("GET", {"stream": "$audit", "limit": 10000})


def store_fingerprint(c):
    return c.ok("EVENTCOUNT"), c.ok("CHECKSUM"), c.ok("STREAMCOUNT")


def normalized(doc):
    """A schema document as the server keeps it: defaults filled in, field lists sorted and unique."""
    return {"aggregate": doc["aggregate"],
            "events": {t: {"fields": sorted(set(e["fields"]))} for t, e in doc["events"].items()},
            "snapshot_threshold": doc.get("snapshot_threshold", 0),
            "locked": doc.get("locked", False),
            "locked_fields": sorted(set(doc.get("locked_fields", [])))}


def as_kept(schema):
    """A schema from a reply, with the optional keys a server may leave out filled with their defaults
    (the document lists them as optional; we compare content, not whether defaults are spelled out)."""
    if schema is None:
        return None
    return normalized(schema) | {"events": schema["events"]}


def show(c, aggregate):
    reply = c.ok("SCHEMA:SHOW", {"aggregate": aggregate})
    assert set(reply) == {"aggregate", "schema_version", "live", "pending", "changed"}, reply
    assert reply["aggregate"] == aggregate
    return reply


def dry_run(c):
    reply = c.ok("SCHEMA:MIGRATE", {"dry_run": True})
    assert set(reply) == {"dry_run", "schema_version", "changes", "diff"} and reply["dry_run"] is True, reply
    return reply


def apply(c):
    reply = c.ok("SCHEMA:MIGRATE", {"apply": True})
    assert reply["applied"] is True, reply
    assert set(reply) == {"applied", "schema_version", "changes", "diff"}, reply
    return reply


def stage(c, command, arg, pending):
    """Stages one change; checks the reply shape and the pending count; returns the change."""
    reply = c.ok(command, arg)
    assert set(reply) == {"staged", "pending"} and reply["pending"] == pending, reply
    return reply["staged"]


def live(c, doc):
    """Creates and applies a schema; returns the MIGRATE reply."""
    c.ok("SCHEMA:CREATE", doc)
    return apply(c)


def state_of(c, stream, version=None):
    arg = {"stream": stream}
    if version is not None:
        arg["version"] = version
    reply = c.ok("AGGREGATE:GET", arg)
    assert set(reply) == STATE_KEYS, reply
    return reply


def mint(c, ident, admin, permissions=None):
    perms = permissions or {"read": [">"], "write": [">"], "admin": admin}
    return c.ok("TOKEN:GENERATE", {"expiration": 3600, "limit": 100000, "identifier_type": "npi",
                                   "identifier_id": ident, "permissions": perms})["token"]


def cli_error(server, *words):
    """redis-cli's rendering of an error reply ("(error) CODE message" without --raw)."""
    r = subprocess.run(["redis-cli", "--no-raw", "-h", "127.0.0.1", "-p", str(server.port), "-a", MASTER_KEY,
                        "--no-auth-warning", *words], capture_output=True, text=True, timeout=60)
    return r.stdout.strip()


class LoggedServer(Server):
    """A Server whose whole output can be read once it has stopped (the drain thread has finished)."""

    def start(self):
        self.drained = threading.Event()
        return super().start()

    def _drain(self):
        try:
            super()._drain()
        finally:
            self.drained.set()

    def log_after_stop(self):
        assert self.proc is None, "stop the server first"
        assert self.drained.wait(30), "server output not drained"
        return "".join(self.output)


@pytest.fixture
def c(server):
    conn = Conn(server)
    yield conn
    conn.close()


# --- staging, dry run, apply, discard ---------------------------------------------------------------

def test_create_is_staged_and_not_live_until_migrate_apply(server, c):
    audit_before = audit(c)
    change = stage(c, "SCHEMA:CREATE", PATIENT, pending=1)
    assert change["op"] == "create" and as_kept({k: v for k, v in change.items() if k != "op"}) == normalized(PATIENT)

    # Staged only: nothing in force. An undeclared event type is still accepted, LIST/SHOW say so.
    add(c, "patient.1", [{"type": "anything", "data": {"x": "1"}}])
    s = show(c, "patient")
    assert s["schema_version"] == 0 and s["live"] is None and s["changed"] is True
    assert as_kept(s["pending"]) == normalized(PATIENT)
    [entry] = [e for e in c.ok("SCHEMA:LIST") if e["aggregate"] == "patient"]
    assert set(entry) == LIST_KEYS and entry["live"] is False and entry["pending"] is True, entry
    assert c.ok("SCHEMA:SHOW") == {"schema_version": 0, "schemas": []}  # the export holds live schemas only
    assert c.ok("SCHEMA:SHOW", {}) == {"schema_version": 0, "schemas": []}

    # Dry run, in all three spellings: the diff, nothing applied.
    want_diff = [{"aggregate": "patient", "action": "create", "before": None, "after": normalized(PATIENT)}]
    for args in ((), ({},), ({"dry_run": True},)):
        d = c.ok("SCHEMA:MIGRATE", *args)
        assert d["dry_run"] is True and d["schema_version"] == 0 and d["changes"] == [change], (args, d)
        assert [x | {"after": as_kept(x["after"])} for x in d["diff"]] == want_diff, d
    add(c, "patient.1", [{"type": "anything"}])
    assert show(c, "patient")["live"] is None
    assert audit(c) == audit_before, "staging or a dry run wrote to $audit"

    # Apply: live now, one audit event, validation in force.
    a = apply(c)
    assert a["schema_version"] == 1 and a["changes"] == [change], a
    assert [x | {"after": as_kept(x["after"])} for x in a["diff"]] == want_diff, a
    new_audit = audit(c)[len(audit_before):]
    assert [(e["type"], e["actor"]) for e in new_audit] == [("schema-migrated", "master")], new_audit
    data = new_audit[0]["data"]
    assert set(data) == {"schema_version", "change_count", "aggregates", "changes", "changes_sha256"}, data
    assert data["schema_version"] == "1" and data["change_count"] == "1" and "patient" in data["aggregates"], data
    assert json.loads(data["changes"]) == a["changes"], data
    assert data["changes_sha256"] == hashlib.sha256(data["changes"].encode()).hexdigest(), data
    expect_error(c("ADD", {"stream": "patient.1", "events": [{"type": "anything"}]}),
                 "INVALID unknown event type 'anything' for aggregate 'patient'")
    s = show(c, "patient")
    assert s["schema_version"] == 1 and s["changed"] is False
    assert as_kept(s["live"]) == as_kept(s["pending"]) == normalized(PATIENT), s
    [entry] = [e for e in c.ok("SCHEMA:LIST", {}) if e["aggregate"] == "patient"]
    assert entry["live"] is True and entry["pending"] is False and entry["locked"] is False, entry
    assert sorted(entry["event_types"]) == ["patient-created", "patient-updated"] and entry["snapshot_threshold"] == 25
    export = c.ok("SCHEMA:SHOW", {})
    assert export["schema_version"] == 1 and [as_kept(x) for x in export["schemas"]] == [normalized(PATIENT)]

    # Nothing staged: apply does nothing and writes nothing.
    count = c.ok("EVENTCOUNT")
    again = c.ok("SCHEMA:MIGRATE", {"apply": True})
    assert again["applied"] is False and again.get("schema_version", 1) == 1, again
    assert c.ok("EVENTCOUNT") == count and len(audit(c)) == len(audit_before) + 1
    assert show(c, "patient")["schema_version"] == 1


def test_every_kind_of_alter_and_remove_is_staged_then_applied_as_one_version(server, c):
    live(c, PATIENT)
    live(c, WARD)
    assert show(c, "patient")["schema_version"] == 2
    audit_before = len(audit(c))
    requests = [
        ("SCHEMA:ALTER", {"aggregate": "patient", "event": "patient-updated", "add": ["ward"]}),
        ("SCHEMA:ALTER", {"aggregate": "patient", "event": "patient-discharged", "add": ["at", "reason"]}),
        ("SCHEMA:ALTER", {"aggregate": "patient", "event": "patient-created", "remove": ["name"]}),
        ("SCHEMA:ALTER", {"aggregate": "patient", "event": "patient-updated", "add": ["room"], "remove": ["status"]}),
        ("SCHEMA:ALTER", {"aggregate": "patient", "field": "ward", "lock": True}),
        ("SCHEMA:ALTER", {"aggregate": "patient", "field": "birthdate", "lock": False}),
        ("SCHEMA:ALTER", {"aggregate": "patient", "snapshot_threshold": 7}),
        ("SCHEMA:ALTER", {"aggregate": "ward", "lock": True}),
        ("SCHEMA:ALTER", {"aggregate": "ward", "event": "ward-closed", "add": ["at"]}),
        ("SCHEMA:REMOVE", {"aggregate": "ward", "event": "ward-opened"}),
    ]
    changes = []
    for i, (command, arg) in enumerate(requests, start=1):
        change = stage(c, command, arg, pending=i)
        op = "alter" if command == "SCHEMA:ALTER" else "remove"
        want = {"op": op, **arg}
        assert change == want, (change, want)
        changes.append(change)

    want_patient = {"aggregate": "patient",
                    "events": {"patient-created": {"fields": ["birthdate"]},
                               "patient-updated": {"fields": ["room", "ward"]},
                               "patient-discharged": {"fields": ["at", "reason"]}},
                    "snapshot_threshold": 7, "locked": False, "locked_fields": ["ward"]}
    want_ward = {"aggregate": "ward", "events": {"ward-closed": {"fields": ["at"]}}, "snapshot_threshold": 0,
                 "locked": True, "locked_fields": []}
    s = show(c, "patient")
    assert as_kept(s["live"]) == normalized(PATIENT) and as_kept(s["pending"]) == want_patient and s["changed"] is True
    assert as_kept(show(c, "ward")["pending"]) == want_ward
    assert len(audit(c)) == audit_before

    # The live schema still decides: the staged lock of 'ward' and the new field are not in force.
    add(c, "ward.1", [{"type": "ward-opened", "data": {"beds": "12"}}])
    expect_error(c("ADD", {"stream": "patient.1", "events": [{"type": "patient-updated", "data": {"ward": "3"}}]}),
                 "INVALID field 'ward' is not declared for event type 'patient-updated' of aggregate 'patient'")

    d = dry_run(c)
    assert d["schema_version"] == 2 and d["changes"] == changes
    diff = sorted(d["diff"], key=lambda x: x["aggregate"])
    assert [(x["aggregate"], x["action"]) for x in diff] == [("patient", "alter"), ("ward", "alter")], diff
    assert as_kept(diff[0]["before"]) == normalized(PATIENT) and as_kept(diff[0]["after"]) == want_patient
    assert as_kept(diff[1]["before"]) == normalized(WARD) and as_kept(diff[1]["after"]) == want_ward

    a = apply(c)
    assert a["schema_version"] == 3 and a["changes"] == changes, a  # ten changes, one version
    assert len(audit(c)) == audit_before + 1
    s = show(c, "patient")
    assert s["schema_version"] == 3 and s["changed"] is False and as_kept(s["live"]) == want_patient
    add(c, "patient.1", [{"type": "patient-discharged", "data": {"reason": "cured", "at": "noon"}},
                         {"type": "patient-created", "data": {"birthdate": "1970-01-01"}},  # unlocked now
                         {"type": "patient-updated", "data": {"room": "4"}}])
    expect_error(c("ADD", {"stream": "patient.1", "events": [{"type": "patient-updated", "data": {"ward": "3"}}]}),
                 "LOCKED field 'ward' is locked")
    expect_error(c("ADD", {"stream": "ward.1", "events": [{"type": "ward-closed"}]}), "LOCKED aggregate 'ward' is locked")
    assert state_of(c, "ward.1")["locked"] is True and state_of(c, "ward.1")["archived"] is False
    assert state_of(c, "patient.1")["locked"] is False

    # Unlock, then remove the whole schema: the category takes anything again.
    stage(c, "SCHEMA:ALTER", {"aggregate": "ward", "lock": False}, pending=1)
    stage(c, "SCHEMA:REMOVE", {"aggregate": "patient"}, pending=2)
    s = show(c, "patient")
    assert as_kept(s["live"]) == want_patient and s["pending"] is None and s["changed"] is True
    d = dry_run(c)
    [patient_diff] = [x for x in d["diff"] if x["aggregate"] == "patient"]
    assert patient_diff["action"] == "remove" and patient_diff["after"] is None
    apply(c)
    assert len(audit(c)) == audit_before + 2
    expect_error(c("SCHEMA:SHOW", {"aggregate": "patient"}), "ERR no schema for aggregate 'patient'")
    add(c, "patient.1", [{"type": "whatever", "data": {"ward": "3", "x": "y"}}, {"type": "opaque", "data": "text"}])
    assert state_of(c, "ward.1")["locked"] is False
    assert [e["aggregate"] for e in c.ok("SCHEMA:LIST")] == ["ward"]


def test_changes_are_checked_against_the_pending_view(server, c):
    # ALTER and REMOVE of a schema that exists only staged; CREATE after a staged REMOVE.
    stage(c, "SCHEMA:CREATE", WARD, pending=1)
    stage(c, "SCHEMA:ALTER", {"aggregate": "ward", "event": "ward-closed", "add": ["at"]}, pending=2)
    expect_error(c("SCHEMA:CREATE", WARD), "ERR schema 'ward' already exists")
    d = dry_run(c)
    [x] = d["diff"]
    assert x["action"] == "create" and x["before"] is None
    assert as_kept(x["after"])["events"] == {"ward-opened": {"fields": ["beds", "floor"]}, "ward-closed": {"fields": ["at"]}}
    apply(c)
    expect_error(c("SCHEMA:CREATE", WARD), "ERR schema 'ward' already exists")
    stage(c, "SCHEMA:REMOVE", {"aggregate": "ward"}, pending=1)
    expect_error(c("SCHEMA:ALTER", {"aggregate": "ward", "lock": True}), "ERR no schema for aggregate 'ward'")
    stage(c, "SCHEMA:CREATE", WARD | {"snapshot_threshold": 3}, pending=2)  # it will not exist: may be created
    apply(c)
    assert as_kept(show(c, "ward")["live"]) == normalized(WARD | {"snapshot_threshold": 3})
    # Created and removed while staged: unknown in both views.
    stage(c, "SCHEMA:CREATE", PATIENT, pending=1)
    stage(c, "SCHEMA:REMOVE", {"aggregate": "patient"}, pending=2)
    expect_error(c("SCHEMA:SHOW", {"aggregate": "patient"}), "ERR no schema for aggregate 'patient'")
    expect_error(c("SCHEMA:ALTER", {"aggregate": "patient", "lock": True}), "ERR no schema for aggregate 'patient'")
    apply(c)
    expect_error(c("SCHEMA:SHOW", {"aggregate": "patient"}), "ERR no schema for aggregate 'patient'")
    assert [x["aggregate"] for x in c.ok("SCHEMA:SHOW")["schemas"]] == ["ward"]


def test_concurrent_staging_and_applying_from_several_connections(server, c):
    """Staging from several connections counts each change once; of two concurrent applies exactly
    one applies them (one audit event), the other finds nothing staged."""
    live(c, {"aggregate": "conc", "events": {"t": {"fields": []}}})
    pendings, errors = [], []
    lock = threading.Lock()

    def stager(i):
        try:
            u = Conn(server)
            for k in range(10):
                reply = u.ok("SCHEMA:ALTER", {"aggregate": "conc", "event": "t", "add": [f"f{i}_{k}"]})
                with lock:
                    pendings.append(reply["pending"])
            u.close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=stager, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(pendings) == list(range(1, 41))
    audit_before = len(audit(c))
    replies = []

    def applier():
        try:
            u = Conn(server)
            reply = u.ok("SCHEMA:MIGRATE", {"apply": True})
            with lock:
                replies.append(reply)
            u.close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=applier) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(x["applied"] for x in replies) == [False, False, True], replies
    [done] = [x for x in replies if x["applied"]]
    assert done["schema_version"] == 2 and len(done["changes"]) == 40
    assert len(audit(c)) == audit_before + 1
    assert len(as_kept(show(c, "conc")["live"])["events"]["t"]["fields"]) == 40


def test_discard_drops_the_staged_changes_and_writes_nothing(server, c):
    live(c, PATIENT)
    before = store_fingerprint(c)
    stage(c, "SCHEMA:ALTER", {"aggregate": "patient", "lock": True}, pending=1)
    stage(c, "SCHEMA:CREATE", WARD, pending=2)
    assert show(c, "patient")["changed"] is True
    d = c.ok("SCHEMA:MIGRATE", {"discard": True})
    assert d == {"discarded": 2, "schema_version": 1}, d
    s = show(c, "patient")
    assert s["changed"] is False and as_kept(s["pending"]) == as_kept(s["live"]) == normalized(PATIENT)
    expect_error(c("SCHEMA:SHOW", {"aggregate": "ward"}), "ERR no schema for aggregate 'ward'")
    assert dry_run(c)["changes"] == []
    assert store_fingerprint(c) == before, "discard wrote something"
    assert c.ok("SCHEMA:MIGRATE", {"apply": True})["applied"] is False
    assert c.ok("SCHEMA:MIGRATE", {"discard": True}) == {"discarded": 0, "schema_version": 1}
    add(c, "patient.1", [{"type": "patient-updated", "data": {"status": "ok"}}])  # not locked


def test_an_export_reimported_with_create_gives_the_same_schemas(server, c):
    live(c, PATIENT)
    live(c, WARD | {"locked": True, "snapshot_threshold": 5, "locked_fields": ["floor"]})
    export = c.ok("SCHEMA:SHOW")
    assert export["schema_version"] == 2 and sorted(x["aggregate"] for x in export["schemas"]) == ["patient", "ward"]

    other = Server().start()
    try:
        o = Conn(other)
        change = stage(o, "SCHEMA:CREATE", export, pending=1)
        assert change["op"] == "import", change
        assert sorted(map(as_kept, change["schemas"]), key=lambda x: x["aggregate"]) == \
            sorted(map(as_kept, export["schemas"]), key=lambda x: x["aggregate"])
        assert o.ok("SCHEMA:SHOW") == {"schema_version": 0, "schemas": []}  # staged like any change
        add(o, "ward.1", [{"type": "x"}])
        assert apply(o)["schema_version"] == 1
        imported = o.ok("SCHEMA:SHOW", {})
        assert imported["schema_version"] == 1
        assert sorted(imported["schemas"], key=lambda x: x["aggregate"]) == \
            sorted(export["schemas"], key=lambda x: x["aggregate"])
        expect_error(o("ADD", {"stream": "ward.1", "events": [{"type": "ward-opened"}]}), "LOCKED aggregate 'ward' is locked")
        o.close()
        assert other.stop() == 0
    finally:
        other.cleanup()

    # Re-applying the document replaces what changed since, silently; schemas it does not list stay.
    stage(c, "SCHEMA:ALTER", {"aggregate": "patient", "event": "patient-updated", "add": ["ward"]}, pending=1)
    stage(c, "SCHEMA:ALTER", {"aggregate": "patient", "snapshot_threshold": 99}, pending=2)
    apply(c)
    assert as_kept(show(c, "patient")["live"]) != normalized(PATIENT)
    only_patient = {"schema_version": export["schema_version"],
                    "schemas": [x for x in export["schemas"] if x["aggregate"] == "patient"]}
    stage(c, "SCHEMA:CREATE", only_patient, pending=1)
    stage(c, "SCHEMA:CREATE", only_patient, pending=2)  # importing twice is fine too
    apply(c)
    after = c.ok("SCHEMA:SHOW")
    assert after["schema_version"] == 4
    assert sorted(after["schemas"], key=lambda x: x["aggregate"]) == sorted(export["schemas"], key=lambda x: x["aggregate"])


def test_live_and_staged_schemas_survive_a_restart_and_an_applied_migration_survives_kill_9():
    s = Server().start()
    try:
        c = Conn(s)
        live(c, PATIENT)
        stage(c, "SCHEMA:CREATE", WARD, pending=1)
        stage(c, "SCHEMA:ALTER", {"aggregate": "patient", "lock": True}, pending=2)
        before = {a: show(c, a) for a in ("patient", "ward")}
        listed, exported, dry = c.ok("SCHEMA:LIST"), c.ok("SCHEMA:SHOW"), dry_run(c)
        c.close()
        assert s.stop() == 0
        s.start()
        c = Conn(s)
        assert {a: show(c, a) for a in ("patient", "ward")} == before
        assert c.ok("SCHEMA:LIST") == listed and c.ok("SCHEMA:SHOW") == exported and dry_run(c) == dry
        # The lock is still staged only; 0 -> 30 crosses the threshold 25: a snapshot at 30.
        written = add(c, "patient.1", [{"type": "patient-updated", "data": {"status": f"s{i}"}} for i in range(30)])
        a = apply(c)
        assert a["schema_version"] == 2 and a["changes"] == dry["changes"]
        audit_after_apply = audit(c)
        # Acknowledged migration, then SIGKILL: it is live after the restart, with its audit event.
        c.close()
        s.kill()
        s.start()
        c = Conn(s)
        assert audit(c) == audit_after_apply
        assert show(c, "patient")["schema_version"] == 2 and show(c, "ward")["changed"] is False
        expect_error(c("ADD", {"stream": "patient.1", "events": [{"type": "patient-updated"}]}),
                     "LOCKED aggregate 'patient' is locked")
        # Automatic snapshots are a cache written without their own WAL sync: after a kill the one at
        # 30 may be gone, but if it is there it is whole and gives the same state.
        kept = [(x["version"], x["comment"]) for x in snapshots(c, "patient.1")]
        assert kept in ([], [(30, "automatic")]), kept
        st = state_of(c, "patient.1")
        assert st["snapshot_version"] == (30 if kept else None) and st["state"] == fold(written) and st["locked"] is True
        assert c.ok("VERIFY", {})["ok"] is True
        c.close()
        assert s.stop() == 0
    finally:
        s.cleanup()


def test_schema_commands_through_redis_py_redis_cli_and_resp3(server, c):
    """Structured replies are bulk strings holding one JSON object, lists are arrays of them, in RESP2
    and RESP3 alike (PROTOCOL.md §2); every client reads the same thing."""
    r = server.client()
    staged = json.loads(r.execute_command("SCHEMA:CREATE", j(PATIENT)))
    assert staged["pending"] == 1 and staged["staged"]["op"] == "create"

    def cli(*words, resp3=False):
        out, code = server.cli(*words, resp3=resp3)
        assert code == 0, out
        return out

    for resp3 in (False, True):
        shown = json.loads(cli("SCHEMA:SHOW", j({"aggregate": "patient"}), resp3=resp3))
        assert shown == show(c, "patient")
        assert json.loads(cli("SCHEMA:MIGRATE", j({"dry_run": True}), resp3=resp3)) == dry_run(c)
        assert [json.loads(x) for x in cli("SCHEMA:LIST", resp3=resp3).splitlines()] == c.ok("SCHEMA:LIST")
    # redis-cli can stage and apply, too.
    assert json.loads(cli("SCHEMA:ALTER", j({"aggregate": "patient", "snapshot_threshold": 5})))["pending"] == 2
    applied = json.loads(cli("SCHEMA:MIGRATE", j({"apply": True}), resp3=True))
    assert applied["applied"] is True and applied["schema_version"] == 1
    assert json.loads(r.execute_command("SCHEMA:SHOW", "{}")) == c.ok("SCHEMA:SHOW")
    assert [json.loads(x) for x in r.execute_command("SCHEMA:LIST")] == c.ok("SCHEMA:LIST")
    with pytest.raises(redis.ResponseError, match="^no schema for aggregate 'nope'$"):  # redis-py strips "ERR "
        r.execute_command("SCHEMA:SHOW", j({"aggregate": "nope"}))
    # RESP3 on a raw socket: bulk strings and arrays, not maps; errors keep their code.
    rc = RawClient(server)
    assert isinstance(rc.call("HELLO", "3"), dict)
    add(c, "patient.1", [{"type": "patient-updated", "data": {"status": "x"}}])
    for words in (("SCHEMA:SHOW", j({"aggregate": "patient"})), ("SCHEMA:SHOW",), ("SCHEMA:MIGRATE", "{}"),
                  ("SCHEMA:CREATE", j(WARD)), ("SCHEMA:MIGRATE", j({"discard": True})),
                  ("AGGREGATE:GET", j({"stream": "patient.1"}))):
        reply = rc.call(*words)
        assert isinstance(reply, bytes) and isinstance(json.loads(reply), dict), (words, reply)
    listed = rc.call("SCHEMA:LIST")
    assert isinstance(listed, list) and all(isinstance(x, bytes) for x in listed), listed
    listed = rc.call("AGGREGATE:LIST", j({"type": "patient"}))
    assert isinstance(listed, list) and [json.loads(x)["stream"] for x in listed] == ["patient.1"], listed
    reply = rc.call("ADD", j({"stream": "patient.1", "events": [{"type": "nope"}]}))
    assert isinstance(reply, RespError) and reply == "INVALID unknown event type 'nope' for aggregate 'patient'", reply
    rc.close()


# --- errors --------------------------------------------------------------------------------------

SCHEMA_ERRORS = [
    # (command words after the name, expected error: whole line, or only the code)
    ("SCHEMA:CREATE", ["{"], "ERR"),
    ("SCHEMA:CREATE", ["[]"], "ERR argument must be a JSON object"),
    ("SCHEMA:CREATE", [], "ERR"),
    ("SCHEMA:CREATE", [j(PATIENT), "{}"], "ERR"),
    ("SCHEMA:CREATE", [j({"events": {}})], "ERR"),
    ("SCHEMA:CREATE", [j({"aggregate": "x", "events": {}, "evnts": {}})], "ERR unknown key 'evnts'"),
    ("SCHEMA:CREATE", [j({"aggregate": 5, "events": {}})], "ERR"),
    ("SCHEMA:CREATE", [j({"aggregate": "x", "events": []})], "ERR"),
    ("SCHEMA:CREATE", [j({"aggregate": "x", "events": {"t": {"fields": "a"}}})], "ERR"),
    ("SCHEMA:CREATE", [j({"aggregate": "x", "events": {"t": {"fields": [5]}}})], "ERR"),
    ("SCHEMA:CREATE", [j({"aggregate": "x", "events": {"t": {"fields": []}}, "snapshot_threshold": "5"})], "ERR"),
    ("SCHEMA:CREATE", [j({"aggregate": "x", "events": {"t": {"fields": []}}, "snapshot_threshold": -1})], "ERR"),
    ("SCHEMA:CREATE", [j({"aggregate": "x", "events": {}, "locked": "yes"})], "ERR"),
    ("SCHEMA:CREATE", [j({"aggregate": "x", "events": {}, "locked_fields": "a"})], "ERR"),
    ("SCHEMA:CREATE", [j({"aggregate": "x", "events": {"t": {"fields": []}}, "fieldz": 1})], "ERR unknown key 'fieldz'"),
    ("SCHEMA:CREATE", [j({"schemas": "x"})], "ERR"),
    ("SCHEMA:CREATE", [j({"schemas": [{"aggregate": "x", "events": {"t": {"fields": [5]}}}]})], "ERR"),
    ("SCHEMA:CREATE", [j({"schemas": [WARD], "schema_version": "1"})], "ERR"),
    ("SCHEMA:CREATE", [j({"schemas": [WARD], "extra": 1})], "ERR unknown key 'extra'"),
    ("SCHEMA:CREATE", [j(PATIENT)], "ERR schema 'patient' already exists"),
    ("SCHEMA:ALTER", [j({"aggregate": "nope", "lock": True})], "ERR no schema for aggregate 'nope'"),
    ("SCHEMA:ALTER", [j({"aggregate": "patient"})], "ERR"),
    ("SCHEMA:ALTER", [j({"aggregate": "patient", "field": "name"})], "ERR"),
    ("SCHEMA:ALTER", [j({"aggregate": "patient", "add": ["x"]})], "ERR"),
    ("SCHEMA:ALTER", [j({"aggregate": "patient", "remove": ["status"]})], "ERR"),
    ("SCHEMA:ALTER", [j({"aggregate": "patient", "event": "patient-updated", "remove": ["nope"]})], "ERR"),
    ("SCHEMA:ALTER", [j({"aggregate": "patient", "event": "nope", "remove": ["status"]})], "ERR"),
    ("SCHEMA:ALTER", [j({"aggregate": "patient", "lock": "yes"})], "ERR"),
    ("SCHEMA:ALTER", [j({"aggregate": "patient", "snapshot_threshold": -3})], "ERR"),
    ("SCHEMA:ALTER", [j({"aggregate": "patient", "lock": True, "evnt": "x"})], "ERR unknown key 'evnt'"),
    ("SCHEMA:ALTER", [j({"lock": True})], "ERR"),
    ("SCHEMA:REMOVE", [j({"aggregate": "nope"})], "ERR no schema for aggregate 'nope'"),
    ("SCHEMA:REMOVE", [j({"aggregate": "patient", "event": "nope"})], "ERR"),
    ("SCHEMA:REMOVE", [j({"aggregate": "patient", "field": "name"})], "ERR unknown key 'field'"),
    ("SCHEMA:REMOVE", [j({})], "ERR"),
    ("SCHEMA:SHOW", [j({"aggregate": "nope"})], "ERR no schema for aggregate 'nope'"),
    ("SCHEMA:SHOW", [j({"aggregat": "patient"})], "ERR unknown key 'aggregat'"),
    ("SCHEMA:SHOW", ["{}", "{}"], "ERR"),
    ("SCHEMA:LIST", [j({"x": 1})], "ERR unknown key 'x'"),
    ("SCHEMA:LIST", ["nope"], "ERR"),
    ("SCHEMA:MIGRATE", [j({"apply": True, "dry_run": True})], "ERR"),
    ("SCHEMA:MIGRATE", [j({"apply": True, "discard": True})], "ERR"),
    ("SCHEMA:MIGRATE", [j({"dry_run": True, "discard": True})], "ERR"),
    ("SCHEMA:MIGRATE", [j({"apply": "yes"})], "ERR"),
    ("SCHEMA:MIGRATE", [j({"aply": True})], "ERR unknown key 'aply'"),
    ("SCHEMA:MIGRATE", ["[true]"], "ERR argument must be a JSON object"),
]

BAD_NAMES = [
    ("SCHEMA:CREATE", {"aggregate": "$audit", "events": {}}),
    ("SCHEMA:CREATE", {"aggregate": "a.b", "events": {}}),
    ("SCHEMA:CREATE", {"aggregate": "", "events": {}}),
    ("SCHEMA:CREATE", {"aggregate": "x", "events": {"": {"fields": []}}}),
    ("SCHEMA:CREATE", {"aggregate": "x", "events": {"t" * 256: {"fields": []}}}),
    ("SCHEMA:CREATE", {"aggregate": "x", "events": {"t": {"fields": ["bad field"]}}}),
    ("SCHEMA:CREATE", {"aggregate": "x", "events": {"t": {"fields": ["f" * 129]}}}),
    ("SCHEMA:ALTER", {"aggregate": "patient", "event": "patient-updated", "add": ["bad/field"]}),
]


def test_schema_command_errors_stage_nothing(server, c):
    live(c, PATIENT)
    stage(c, "SCHEMA:ALTER", {"aggregate": "patient", "snapshot_threshold": 3}, pending=1)
    before = (dry_run(c), c.ok("SCHEMA:LIST"), show(c, "patient"), store_fingerprint(c))
    for name, words, expected in SCHEMA_ERRORS:
        expect_error(c(name, *words), expected, f"{name} {words}")
    for name, arg in BAD_NAMES:
        reply = c(name, arg)
        assert isinstance(reply, RespError) and reply.code in ("ERR", "INVALID"), (name, arg, reply)
    assert (dry_run(c), c.ok("SCHEMA:LIST"), show(c, "patient"), store_fingerprint(c)) == before
    # Unauthenticated: NOAUTH, for the reads too.
    anon = Conn(server, secret=None)
    for name, arg in (("SCHEMA:LIST", {}), ("SCHEMA:SHOW", {}), ("SCHEMA:CREATE", WARD), ("SCHEMA:MIGRATE", {"apply": True})):
        expect_error(anon(name, arg), "NOAUTH", name)
    anon.close()
    assert dry_run(c) == before[0]


def test_non_admin_callers_get_noperm_on_every_schema_mutation(server, c):
    live(c, PATIENT)
    stage(c, "SCHEMA:ALTER", {"aggregate": "patient", "snapshot_threshold": 3}, pending=1)
    plain_token = mint(c, "plain", admin=False)
    plain_key = c.ok("TOKEN:GENERATE", {"auth_key": True, "name": "app",
                                        "permissions": {"read": [">"], "write": [">"], "admin": False}})["auth_key"]
    admin_token = mint(c, "admin", admin=True)
    before = (dry_run(c), c.ok("SCHEMA:LIST"), show(c, "patient"), store_fingerprint(c))
    for secret in (plain_token, plain_key):
        u = Conn(server, secret)
        for name, arg in (("SCHEMA:CREATE", WARD),
                          ("SCHEMA:CREATE", {"schemas": [WARD]}),
                          ("SCHEMA:ALTER", {"aggregate": "patient", "lock": True}),
                          ("SCHEMA:REMOVE", {"aggregate": "patient"}),
                          ("SCHEMA:REMOVE", {"aggregate": "patient", "event": "patient-updated"}),
                          ("SCHEMA:MIGRATE", {"apply": True}),
                          ("SCHEMA:MIGRATE", {"discard": True})):
            expect_error(u(name, arg), "NOPERM", f"{name} {arg}")
        # Reading schemas needs only an authenticated connection (checked again below without rights).
        assert u.ok("SCHEMA:LIST") == before[1]
        assert u.ok("SCHEMA:SHOW", {"aggregate": "patient"}) == before[2]
        assert u.ok("SCHEMA:SHOW", {})["schema_version"] == 1
        u.close()
    assert (dry_run(c), c.ok("SCHEMA:LIST"), show(c, "patient"), store_fingerprint(c)) == before
    nothing = Conn(server, mint(c, "nothing", admin=False, permissions={"read": [], "write": [], "admin": False}))
    assert nothing.ok("SCHEMA:LIST") == before[1] and nothing.ok("SCHEMA:SHOW", {"aggregate": "patient"}) == before[2]
    nothing.close()

    # An admin token may: its migration is audited with its identity as the actor.
    a = Conn(server, admin_token)
    stage(a, "SCHEMA:CREATE", WARD, pending=2)
    assert apply(a)["schema_version"] == 2
    last = audit(c)[-1]
    assert last["type"] == "schema-migrated" and last["actor"] == "npi:admin", last
    a.close()


# --- validation of ADD ----------------------------------------------------------------------------

# (description, stream, events, expected error line); the live schemas are PATIENT and a locked WARD.
VALIDATION = [
    ("unknown event type", "patient.42", [{"type": "patient-moved", "data": {"status": "x"}}],
     "INVALID unknown event type 'patient-moved' for aggregate 'patient'"),
    ("string data", "patient.42", [{"type": "patient-updated", "data": "{\"status\":\"x\"}"}],
     "INVALID event type 'patient-updated' of aggregate 'patient' needs object data"),
    ("locked field", "patient.42", [{"type": "patient-created", "data": {"name": "A", "birthdate": "1970-01-01"}}],
     "LOCKED field 'birthdate' is locked"),
    ("locked field set to null", "patient.42", [{"type": "patient-created", "data": {"birthdate": None}}],
     "LOCKED field 'birthdate' is locked"),
    ("undeclared field", "patient.42", [{"type": "patient-created", "data": {"name": "A", "x": "1"}}],
     "INVALID field 'x' is not declared for event type 'patient-created' of aggregate 'patient'"),
    ("undeclared field set to null", "patient.42", [{"type": "patient-updated", "data": {"x": None}}],
     "INVALID field 'x' is not declared for event type 'patient-updated' of aggregate 'patient'"),
    ("field of another event type", "patient.42", [{"type": "patient-updated", "data": {"name": "A"}}],
     "INVALID field 'name' is not declared for event type 'patient-updated' of aggregate 'patient'"),
    ("aggregate type locked", "ward.1", [{"type": "ward-opened", "data": {"beds": "3"}}],
     "LOCKED aggregate 'ward' is locked"),
    ("aggregate type locked, new stream", "ward.new", [{"type": "ward-opened"}],
     "LOCKED aggregate 'ward' is locked"),
    ("the third event of three", "patient.42",
     [{"type": "patient-updated", "data": {"status": "a"}}, {"type": "patient-created", "data": {"name": "B"}},
      {"type": "patient-updated", "data": {"status": "b", "extra": "1"}}],
     "INVALID field 'extra' is not declared for event type 'patient-updated' of aggregate 'patient'"),
    ("a sub-stream of the category", "patient.42.notes", [{"type": "note"}],
     "INVALID unknown event type 'note' for aggregate 'patient'"),
]


@pytest.fixture(scope="module")
def validating(shared_server):
    c = Conn(shared_server)
    add(c, "ward.1", [{"type": "ward-opened", "data": {"beds": "10"}}])  # before the lock
    live(c, PATIENT)
    live(c, WARD | {"locked": True})
    add(c, "patient.42", [{"type": "patient-created", "data": {"name": "Ada"}}])
    add(c, "other.1", [{"type": "x", "data": {"anything": "goes"}}])
    yield shared_server, c
    c.close()


@pytest.mark.parametrize("what,stream,events,expected", VALIDATION, ids=[v[0] for v in VALIDATION])
def test_each_validation_rule_rejects_the_whole_add(validating, what, stream, events, expected):
    server, c = validating
    before = store_fingerprint(c)
    # Raw socket: the exact error line.
    expect_error(c("ADD", {"stream": stream, "events": events}), expected, what)
    # The same events behind a valid one: still nothing stored.
    if stream.startswith("patient."):
        valid = [{"type": "patient-updated", "data": {"status": "ok"}}]
        expect_error(c("ADD", {"stream": stream, "version": "any", "events": valid + events}), expected, what)
    # Two streams, the failing one second, the first one valid and without a schema.
    expect_error(c("ADD", {"streams": [{"stream": "other.1", "events": [{"type": "x", "data": {"n": "1"}}]},
                                       {"stream": stream, "events": events}]}), expected, what)
    # ... and first.
    expect_error(c("ADD", {"streams": [{"stream": stream, "events": events},
                                       {"stream": "other.2", "events": [{"type": "x"}]}]}), expected, what)
    assert store_fingerprint(c) == before, f"{what}: a rejected ADD stored something"
    # redis-py and redis-cli see the same error.
    arg = j({"stream": stream, "events": events})
    with pytest.raises(redis.ResponseError) as e:
        server.client().execute_command("ADD", arg)
    assert str(e.value) == expected
    assert cli_error(server, "ADD", arg) == f"(error) {expected}"
    assert store_fingerprint(c) == before


PRECEDENCE = [
    # "The rules are checked in the order of the table: across all streams of a multi-stream ADD for
    # archived streams first, then stream by stream."
    ("a locked field that the type does not declare", [("patient.42", [{"type": "patient-updated", "data": {"birthdate": "x"}}])],
     "LOCKED field 'birthdate' is locked"),
    ("a locked field in a later event than an undeclared one",
     [("patient.42", [{"type": "patient-created", "data": {"x": "1"}}, {"type": "patient-created", "data": {"birthdate": "1"}}])],
     "LOCKED field 'birthdate' is locked"),
    ("a locked aggregate and an unknown type", [("ward.1", [{"type": "ward-moved", "data": "text"}])],
     "LOCKED aggregate 'ward' is locked"),
    ("an unknown type with string data", [("patient.42", [{"type": "patient-moved", "data": "text"}])],
     "INVALID unknown event type 'patient-moved' for aggregate 'patient'"),
    ("an archived stream and an unknown type", [("patient.old", [{"type": "patient-moved"}])],
     "LOCKED stream 'patient.old' is archived"),
    ("an archived stream after an invalid one",
     [("patient.42", [{"type": "patient-moved"}]), ("other.1", [{"type": "x"}]), ("patient.old", [{"type": "patient-updated"}])],
     "LOCKED stream 'patient.old' is archived"),
    ("an undeclared field in the first stream, a locked aggregate in the second",
     [("patient.42", [{"type": "patient-updated", "data": {"x": "1"}}]), ("ward.1", [{"type": "ward-opened"}])],
     "INVALID field 'x' is not declared for event type 'patient-updated' of aggregate 'patient'"),
    ("a locked aggregate in the first stream, a locked field in the second",
     [("ward.1", [{"type": "ward-opened"}]), ("patient.42", [{"type": "patient-created", "data": {"birthdate": "1"}}])],
     "LOCKED aggregate 'ward' is locked"),
]


@pytest.mark.parametrize("what,parts,expected", PRECEDENCE, ids=[p[0] for p in PRECEDENCE])
def test_the_rules_are_checked_in_the_order_of_the_table(validating, what, parts, expected):
    server, c = validating
    if not c.ok("AGGREGATE:LIST", {"pattern": "patient.old"}):
        add(c, "patient.old", [{"type": "patient-created", "data": {"name": "Old"}}])
        c.ok("AGGREGATE:ARCHIVE", {"stream": "patient.old"})
    before = store_fingerprint(c)
    if len(parts) == 1:
        reply = c("ADD", {"stream": parts[0][0], "events": parts[0][1]})
    else:
        reply = c("ADD", {"streams": [{"stream": st, "events": evs} for st, evs in parts]})
    expect_error(reply, expected, what)
    assert store_fingerprint(c) == before


def test_valid_events_and_categories_without_a_schema_are_accepted(validating):
    server, c = validating
    stored = add(c, "patient.42", [
        {"type": "patient-created", "data": {"name": "Bo"}},
        {"type": "patient-created"},                                  # no data: {}
        {"type": "patient-created", "data": {}},
        {"type": "patient-updated", "data": {"status": None}},         # null of a declared field
        {"type": "patient-updated", "data": {"status": 5}, "metadata": {"anything": "x", "birthdate": "y"}},
        {"type": "patient-updated", "data": {"status": "ok"}, "metadata": "opaque metadata"}])
    assert [e["data"] for e in stored] == [{"name": "Bo"}, {}, {}, {"status": None}, {"status": "5"}, {"status": "ok"}]
    # Categories without a schema take anything, also string data; so does a name that only starts
    # like a schema'd category.
    add(c, "other.1", [{"type": "whatever", "data": "text"}, {"type": "x", "data": {"birthdate": "1"}}])
    add(c, "patients.1", [{"type": "unknown", "data": {"birthdate": "1"}}])
    add(c, "wards", [{"type": "any"}])
    # Multi-stream ADD with every stream valid is stored whole.
    reply = c.ok("ADD", {"streams": [{"stream": "patient.43", "events": [{"type": "patient-created", "data": {"name": "C"}}]},
                                     {"stream": "other.3", "events": [{"type": "y", "data": "z"}]}]})
    assert [e["stream"] for e in reply] == ["patient.43", "other.3"]
    # Through redis-py too.
    r = server.client()
    raw = r.execute_command("ADD", j({"stream": "patient.44", "events": [{"type": "patient-updated", "data": {"status": "s"}}]}))
    assert json.loads(raw[0])["version"] == 1


def test_validation_follows_the_live_schema_not_the_staged_one(server, c):
    live(c, PATIENT)
    stage(c, "SCHEMA:ALTER", {"aggregate": "patient", "event": "patient-updated", "add": ["ward"]}, pending=1)
    stage(c, "SCHEMA:ALTER", {"aggregate": "patient", "field": "status", "lock": True}, pending=2)
    ward = {"stream": "patient.1", "events": [{"type": "patient-updated", "data": {"ward": "3"}}]}
    status = {"stream": "patient.1", "events": [{"type": "patient-updated", "data": {"status": "x"}}]}
    expect_error(c("ADD", ward), "INVALID field 'ward' is not declared for event type 'patient-updated' of aggregate 'patient'")
    c.ok("ADD", status)
    apply(c)
    c.ok("ADD", ward)
    expect_error(c("ADD", status), "LOCKED field 'status' is locked")  # locked for every event type
    # A lock of the whole type, then unlocking it.
    stage(c, "SCHEMA:ALTER", {"aggregate": "patient", "lock": True}, pending=1)
    c.ok("ADD", ward)
    apply(c)
    expect_error(c("ADD", ward), "LOCKED aggregate 'patient' is locked")
    assert state_of(c, "patient.1")["locked"] is True
    stage(c, "SCHEMA:ALTER", {"aggregate": "patient", "lock": False}, pending=1)
    stage(c, "SCHEMA:ALTER", {"aggregate": "patient", "field": "status", "lock": False}, pending=2)
    apply(c)
    c.ok("ADD", ward)
    c.ok("ADD", status)
    assert state_of(c, "patient.1") | {"root": None} == {
        "stream": "patient.1", "version": 5, "state": {"status": "x", "ward": "3"}, "root": None,
        "snapshot_version": None, "archived": False, "locked": False}


def test_a_rejected_add_uses_none_of_a_tokens_write_budget(validating):
    server, c = validating
    token = c.ok("TOKEN:GENERATE", {"expiration": 3600, "limit": 3, "identifier_type": "npi", "identifier_id": "budget",
                                    "permissions": {"read": [">"], "write": [">"], "admin": False}})["token"]
    t = Conn(server, token)
    for what, stream, events, expected in VALIDATION:
        expect_error(t("ADD", {"stream": stream, "events": events}), expected, what)
    assert t.ok("TOKEN:INFO")["writes_used"] == 0
    assert len(add(t, "patient.42", [{"type": "patient-updated", "data": {"status": "a"}}] * 3)) == 3
    assert t.ok("TOKEN:INFO")["writes_used"] == 3
    t.close()


class Acks:
    """Acknowledged ADDs of several writer threads; the main thread waits for a count (no sleeping)."""

    def __init__(self):
        self.cond = threading.Condition()
        self.count = 0  # guarded by cond

    def tick(self):
        with self.cond:
            self.count += 1
            self.cond.notify_all()

    def wait_for(self, n, timeout=60):
        with self.cond:
            assert self.cond.wait_for(lambda: self.count >= n, timeout), f"only {self.count} ADDs acknowledged"
            return self.count


def run_writers(server, n, body):
    """Runs body(index, redis client) on n threads, each with its own connection; re-raises failures."""
    errors = []

    def run(i):
        try:
            body(i, redis.Redis(host="127.0.0.1", port=server.port, password=MASTER_KEY, decode_responses=True,
                                socket_timeout=60, single_connection_client=True))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(f"writer {i}: {e!r}")

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    return threads, errors


def test_a_migration_is_ordered_with_the_adds_around_it(server, c):
    """Validation runs in the committer: an ADD stored before the migration's audit event was checked
    against the old schema, one after it against the new; once a connection has seen the new
    schema, it never sees the old one again."""
    live(c, {"aggregate": "ord", "events": {"old": {"fields": ["n"]}, "new": {"fields": ["n"]}}})
    acks, stop = Acks(), threading.Event()
    outcomes = {}

    def body(i, r):
        seen = outcomes.setdefault(i, [])
        while not stop.is_set() or not any(kind == "invalid" for kind, _ in seen):
            p = r.pipeline(transaction=False)
            for k in range(4):
                p.execute_command("ADD", j({"stream": f"ord.{i}", "events": [{"type": "old", "data": {"n": str(k)}}]}))
            for reply in p.execute(raise_on_error=False):
                if isinstance(reply, redis.ResponseError):
                    assert str(reply) == "INVALID unknown event type 'old' for aggregate 'ord'", str(reply)
                    seen.append(("invalid", None))
                else:
                    seen.append(("stored", json.loads(reply[0])))
                    acks.tick()
            if len(seen) > 20000:
                raise AssertionError("the migration never took effect")

    threads, errors = run_writers(server, 4, body)
    try:
        acks.wait_for(200)
        stage(c, "SCHEMA:REMOVE", {"aggregate": "ord", "event": "old"}, pending=1)
        apply(c)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    [migrated] = [e for e in audit(c) if e["type"] == "schema-migrated"][-1:]
    for i, seen in outcomes.items():
        kinds = [k for k, _ in seen]
        first_invalid = kinds.index("invalid")
        assert "stored" not in kinds[first_invalid:], f"writer {i}: an old-type ADD was stored after one was refused"
        assert all(e["position"] < migrated["position"] for k, e in seen if k == "stored"), \
            f"writer {i}: an event of the removed type was stored after the migration"
        assert c.ok("GET", {"stream": f"ord.{i}", "limit": 10000}) == [e for k, e in seen if k == "stored"]


def test_automatic_snapshots_under_concurrent_pipelined_and_multi_stream_adds(server, c):
    """Many ADDs of one stream committed in the same groups: each crossing gets its snapshot, at the
    ADD's last version, holding the state at that version."""
    threshold = 7
    live(c, {"aggregate": "hot", "events": {"set": {"fields": ["a", "b", "c", "w"]}}, "snapshot_threshold": threshold})
    replies = []
    lock = threading.Lock()

    def body(i, r):
        rng = random.Random(i)
        for round_no in range(25):
            p = r.pipeline(transaction=False)
            for k in range(rng.randint(1, 6)):
                evs = [{"type": "set", "data": {rng.choice("abc"): (None if rng.random() < 0.2 else f"{i}/{round_no}/{k}/{x}"),
                                                "w": str(i)}} for x in range(rng.randint(1, 9))]
                if rng.random() < 0.3:
                    p.execute_command("ADD", j({"streams": [{"stream": "hot.1", "events": evs},
                                                            {"stream": "hot.2", "events": evs[:2]}]}))
                else:
                    p.execute_command("ADD", j({"stream": "hot.1", "events": evs}))
            out = p.execute()
            with lock:
                replies.extend([json.loads(e) for e in reply] for reply in out)

    threads, errors = run_writers(server, 6, body)
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for stream in ("hot.1", "hot.2"):
        stored = c.ok("GET", {"stream": stream, "limit": 10000})
        want = []
        for reply in replies:
            mine = [e["version"] for e in reply if e["stream"] == stream]
            if mine and (mine[0] - 1) // threshold < mine[-1] // threshold:
                want.append(mine[-1])
        assert [s["version"] for s in snapshots(c, stream)] == sorted(want), stream
        pipe = server.client().pipeline(transaction=False)
        for v in range(len(stored) + 1):
            pipe.execute_command("AGGREGATE:GET", j({"stream": stream, "version": v}))
        for v, st in enumerate(json.loads(x) for x in pipe.execute()):
            below = [x for x in want if x <= v]
            assert st["state"] == fold(stored[:v]), (stream, v)
            assert st["snapshot_version"] == (max(below) if below else None), (stream, v)
        for snap in snapshots(c, stream):
            assert snap["root"] == merkle_root([leaf_hash(e) for e in stored[:snap["version"]]])


def test_the_audit_event_of_a_large_migration_is_bounded(server, c):
    """schema-migrated names at most 100 aggregates then "(+N more)", and leaves out `changes` when
    they are over 64 KiB, keeping their count and SHA-256."""
    for i in range(150):
        c.ok("SCHEMA:CREATE", {"aggregate": f"agg{i:03d}", "events": {"t": {"fields": ["a", "b"]}}})
    a = apply(c)
    [e] = [x for x in audit(c) if x["type"] == "schema-migrated"]
    data = e["data"]
    assert data["change_count"] == "150" and data["schema_version"] == "1", data
    assert "(+50 more)" in data["aggregates"] and "agg000" in data["aggregates"], data["aggregates"]
    assert "agg149" not in data["aggregates"], data["aggregates"]
    assert json.loads(data["changes"]) == a["changes"]
    assert data["changes_sha256"] == hashlib.sha256(data["changes"].encode()).hexdigest()
    assert len(e["hash"]) == 64 and c.ok("VERIFY", {"stream": "$audit"})["ok"] is True

    fields = [f"a_rather_long_field_name_number_{i:05d}" for i in range(2500)]  # ~100 KB of changes
    c.ok("SCHEMA:ALTER", {"aggregate": "agg000", "event": "t", "add": fields})
    apply(c)
    data = [x for x in audit(c) if x["type"] == "schema-migrated"][-1]["data"]
    assert "changes" not in data, len(data.get("changes", ""))
    assert data["change_count"] == "1" and data["schema_version"] == "2" and "agg000" in data["aggregates"], data
    assert len(data["changes_sha256"]) == 64 and int(data["changes_sha256"], 16) >= 0
    assert len(as_kept(show(c, "agg000")["live"])["events"]["t"]["fields"]) == 2502


# --- strict_schemas -------------------------------------------------------------------------------

def strict_config_server(how):
    if how == "eventfuld --strict-schemas":
        return Server(extra_args=["--strict-schemas"])
    if how == "eventful config --strict-schemas":
        return Server(config_args=["--strict-schemas"])
    s = Server()
    path = s.data_dir / "config.toml"
    text = path.read_text()
    assert text.count("strict_schemas = false") == 1, text
    if how == "config.toml [server]":
        text = text.replace("strict_schemas = false", "strict_schemas = true")
    else:  # top level: before the first table
        text = "strict_schemas = true\n" + text.replace("strict_schemas = false\n", "")
    path.write_text(text)
    return s


@pytest.mark.parametrize("how", ["eventfuld --strict-schemas", "eventful config --strict-schemas",
                                 "config.toml [server]", "config.toml top level"])
def test_strict_schemas_rejects_categories_without_a_live_schema(how):
    s = strict_config_server(how).start()
    try:
        c = Conn(s)
        before = store_fingerprint(c)
        for stream in ("other.1", "patient.1"):
            expect_error(c("ADD", {"stream": stream, "events": [{"type": "x"}]}),
                         f"INVALID no schema for aggregate '{stream.split('.')[0]}' (the server runs with strict_schemas)")
        stage(c, "SCHEMA:CREATE", PATIENT, pending=1)  # staged is not enough
        expect_error(c("ADD", {"stream": "patient.1", "events": [{"type": "patient-updated"}]}),
                     "INVALID no schema for aggregate 'patient' (the server runs with strict_schemas)")
        expect_error(c("ADD", {"streams": [{"stream": "other.1", "events": [{"type": "x"}]},
                                           {"stream": "patient.1", "events": [{"type": "patient-updated"}]}]}),
                     "INVALID no schema for aggregate 'other' (the server runs with strict_schemas)")
        assert store_fingerprint(c) == before
        apply(c)  # the system stream $audit is never checked: the migration is recorded
        assert [e["type"] for e in audit(c)] == ["schema-migrated"]
        mint(c, "strict", admin=False)  # other control actions write $audit as usual
        assert [e["type"] for e in audit(c)] == ["schema-migrated", "token-generated"]
        add(c, "patient.1", [{"type": "patient-updated", "data": {"status": "ok"}}])
        expect_error(c("ADD", {"stream": "patient.1", "events": [{"type": "x"}]}),
                     "INVALID unknown event type 'x' for aggregate 'patient'")
        expect_error(c("ADD", {"streams": [{"stream": "patient.1", "events": [{"type": "patient-updated"}]},
                                           {"stream": "other.1", "events": [{"type": "x"}]}]}),
                     "INVALID no schema for aggregate 'other' (the server runs with strict_schemas)")
        c.close()
        assert s.stop() == 0
        if how.startswith("eventfuld"):
            # The flag is per start: without it the same data directory accepts any category.
            s.extra_args = []
            s.start()
            c = Conn(s)
            add(c, "other.1", [{"type": "x"}])
            c.close()
            assert s.stop() == 0
    finally:
        s.cleanup()


def test_without_strict_schemas_a_category_without_a_schema_is_accepted(server, c):
    live(c, PATIENT)
    stored = add(c, "other.1", [{"type": "x", "data": "opaque"}, {"type": "y", "data": {"a": "1"}}])
    assert [e["version"] for e in stored] == [1, 2]


# --- automatic snapshots --------------------------------------------------------------------------

def snapshots(c, stream):
    listed = c.ok("AGGREGATE:SNAPSHOTS", {"stream": stream})
    for s in listed:
        assert set(s) == {"version", "root", "comment", "created_at"}, s
    return listed


def test_automatic_snapshots_are_taken_exactly_at_threshold_crossings(server, c):
    schema = {"aggregate": "acct", "events": {"set": {"fields": ["n", "owner"]}}, "snapshot_threshold": 100}

    def events(first, n):
        return [{"type": "set", "data": {"n": str(first + i), "owner": f"o{(first + i) % 7}"}} for i in range(n)]

    # acct.pre holds 98 events before the schema is live: crossings count from the live schema on.
    add(c, "acct.pre", events(1, 98))
    live(c, schema)
    stored = []
    plan = [(50, []), (48, []), (5, [103]), (96, []), (1, [200]), (250, [450]), (49, []), (1, [500]),
            (1, []), (99, [600]), (100, [700])]
    for n, new in plan:
        before = [s["version"] for s in snapshots(c, "acct.1")] if stored else []
        reply = add(c, "acct.1", events(len(stored) + 1, n))
        stored += reply
        # The ADD's reply means the snapshot exists already.
        assert [s["version"] for s in snapshots(c, "acct.1")] == before + new, (n, new)
    listed = snapshots(c, "acct.1")
    assert [s["version"] for s in listed] == [103, 200, 450, 500, 600, 700]
    for s in listed:
        assert s["comment"] == "automatic"
        assert s["root"] == merkle_root([leaf_hash(e) for e in stored[:s["version"]]])
    for v, want in [(1, None), (102, None), (103, 103), (199, 103), (200, 200), (449, 200), (450, 450),
                    (599, 500), (700, 700)]:
        st = state_of(c, "acct.1", v)
        assert st["snapshot_version"] == want and st["state"] == fold(stored[:v]), (v, st)
    assert state_of(c, "acct.1")["snapshot_version"] == 700

    reply = add(c, "acct.pre", events(99, 5))  # 98 -> 103 under the live schema
    assert [s["version"] for s in snapshots(c, "acct.pre")] == [103] and reply[-1]["version"] == 103
    # A multi-stream ADD: each stream that crosses gets its snapshot; a category without a schema none.
    add(c, "acct.2", events(1, 99))
    add(c, "plain.1", events(1, 99))
    c.ok("ADD", {"streams": [{"stream": "acct.2", "events": events(100, 2)},
                             {"stream": "plain.1", "events": events(100, 2)},
                             {"stream": "acct.3", "events": events(1, 100)}]})
    assert [s["version"] for s in snapshots(c, "acct.2")] == [101]
    assert [s["version"] for s in snapshots(c, "acct.3")] == [100]
    assert snapshots(c, "plain.1") == []
    assert state_of(c, "plain.1")["snapshot_version"] is None

    # A staged threshold is not in force; the applied one is. Manual snapshots keep working alongside.
    stage(c, "SCHEMA:ALTER", {"aggregate": "acct", "snapshot_threshold": 10}, pending=1)
    add(c, "acct.1", events(701, 15))  # 715: crosses 710 only under the staged threshold
    assert snapshots(c, "acct.1")[-1]["version"] == 700
    apply(c)
    add(c, "acct.1", events(716, 4))  # 719: no multiple of 10 crossed
    add(c, "acct.1", events(720, 1))  # 720
    add(c, "acct.1", events(721, 1))
    manual = c.ok("SNAPSHOT", {"stream": "acct.1", "comment": "by hand"})
    assert manual["version"] == 721
    assert [(s["version"], s["comment"]) for s in snapshots(c, "acct.1")][-3:] == \
        [(700, "automatic"), (720, "automatic"), (721, "by hand")]
    # Threshold 0 switches them off.
    stage(c, "SCHEMA:ALTER", {"aggregate": "acct", "snapshot_threshold": 0}, pending=1)
    apply(c)
    count = len(snapshots(c, "acct.1"))
    add(c, "acct.1", events(722, 30))
    assert len(snapshots(c, "acct.1")) == count


def test_a_long_first_fold_is_snapshotted_in_the_background_and_later_ones_inline(server, c):
    """A threshold set on a long stream: the first crossing folds more than 1,000 events, so its
    snapshot is stored shortly after the reply (by a background thread); it must hold the state at
    its version even though the stream moved on meanwhile. The next crossing folds 100 events past
    it: inline, present when the ADD is answered."""
    def events(first, n):
        return [{"type": "set", "data": {"n": str(first + i), "k": f"k{(first + i) % 13}",
                                         "gone": None if (first + i) % 5 else "x"}} for i in range(n)]

    r = server.client()
    p = r.pipeline(transaction=False)
    for first in range(0, 2500, 500):
        p.execute_command("ADD", j({"stream": "long.1", "events": events(first, 500)}))
    p.execute()
    live(c, {"aggregate": "long", "events": {"set": {"fields": ["gone", "k", "n"]}}, "snapshot_threshold": 100})
    add(c, "long.1", events(2500, 100))      # 2500 -> 2600: a fold of 2,600 events, in the background
    add(c, "long.1", events(2600, 50))       # the stream moves on at once
    # The one wait in this module: for the background snapshot, by asking (no sleeping).
    deadline = time.monotonic() + 30
    while not snapshots(c, "long.1"):
        assert time.monotonic() < deadline, "the background snapshot at 2600 never appeared"
    assert [(x["version"], x["comment"]) for x in snapshots(c, "long.1")] == [(2600, "automatic")]
    stored = c.ok("GET", {"stream": "long.1", "limit": 10000})
    for v in (2599, 2600, 2601, 2650):
        st = state_of(c, "long.1", v)
        assert st["state"] == fold(stored[:v]) and st["snapshot_version"] == (2600 if v >= 2600 else None), v
    assert snapshots(c, "long.1")[0]["root"] == merkle_root([leaf_hash(e) for e in stored[:2600]])
    add(c, "long.1", events(2650, 60))       # 2650 -> 2710: 110 events past 2600, inline
    assert [x["version"] for x in snapshots(c, "long.1")] == [2600, 2710]
    stored = c.ok("GET", {"stream": "long.1", "limit": 10000})
    assert state_of(c, "long.1")["state"] == fold(stored) and state_of(c, "long.1")["snapshot_version"] == 2710


def test_a_kill_during_a_background_snapshot_leaves_no_wrong_state():
    s = Server().start()
    try:
        c = Conn(s)
        r = s.client()
        p = r.pipeline(transaction=False)
        for first in range(0, 3000, 500):
            p.execute_command("ADD", j({"stream": "long.1", "events": [
                {"type": "set", "data": {"n": str(first + i), "k": f"k{(first + i) % 11}"}} for i in range(500)]}))
        p.execute()
        live(c, {"aggregate": "long", "events": {"set": {"fields": ["k", "n"]}}, "snapshot_threshold": 100})
        add(c, "long.1", [{"type": "set", "data": {"n": "last", "k": None}}] * 100)  # 3000 -> 3100, background
        c.close()
        s.kill()
        s.start()
        c = Conn(s)
        stored = c.ok("GET", {"stream": "long.1", "limit": 10000})
        assert len(stored) == 3100
        kept = [(x["version"], x["comment"]) for x in snapshots(c, "long.1")]
        assert kept in ([], [(3100, "automatic")]), kept
        for v in (2999, 3000, 3001, 3099, 3100):
            st = state_of(c, "long.1", v)
            assert st["state"] == fold(stored[:v]), v
            assert st["snapshot_version"] == (3100 if kept and v == 3100 else None), (v, st)
        assert c.ok("VERIFY", {})["ok"] is True
        c.close()
        assert s.stop() == 0
    finally:
        s.cleanup()


def test_state_at_every_version_of_1000_events_with_threshold_37_equals_the_fold_and_no_snapshots(server, c):
    fields = [f"f{i}" for i in range(8)]
    live(c, {"aggregate": "chart", "events": {"updated": {"fields": fields}, "touched": {"fields": []}},
             "snapshot_threshold": 37})
    rng = random.Random(37)
    versions, snap_at, total = [], [], 0
    while total < 1000:
        n = min(rng.choice([1, 1, 2, 3, 5, 8, 13, 36, 37, 38, 60, 75]), 1000 - total)
        events = []
        for i in range(n):
            if rng.random() < 0.08:
                events.append({"type": "touched"} if rng.random() < 0.5 else {"type": "touched", "data": {}})
            else:
                events.append({"type": "updated", "data": {
                    f: (None if rng.random() < 0.25 else f"{f}={total + i}" + "\u00e9" * (i % 2))
                    for f in rng.sample(fields, rng.randint(1, 4))}})
        c.ok("ADD", {"streams": [{"stream": "chart.1", "events": events}, {"stream": "nochart.1", "events": events}]})
        if total // 37 < (total + n) // 37:
            snap_at.append(total + n)
        total += n
        versions.append(total)
    with_snap = c.ok("GET", {"stream": "chart.1", "limit": 1000})
    without = c.ok("GET", {"stream": "nochart.1", "limit": 1000})
    assert len(with_snap) == len(without) == 1000
    assert [s["version"] for s in snapshots(c, "chart.1")] == snap_at and len(snap_at) >= 20
    assert snapshots(c, "nochart.1") == []

    pipe = server.client().pipeline(transaction=False)
    for v in range(0, 1001):
        pipe.execute_command("AGGREGATE:GET", j({"stream": "chart.1", "version": v}))
        pipe.execute_command("AGGREGATE:GET", j({"stream": "nochart.1", "version": v}))
    replies = [json.loads(x) for x in pipe.execute()]
    leaves = [leaf_hash(e) for e in with_snap]
    for v in range(0, 1001):
        a, b = replies[2 * v], replies[2 * v + 1]
        want = fold(with_snap[:v])
        assert a["state"] == want and b["state"] == want, v
        assert a["version"] == b["version"] == v
        assert a["root"] == merkle_root(leaves[:v]), v
        below = [s for s in snap_at if s <= v]
        assert a["snapshot_version"] == (below[-1] if below else None), (v, a["snapshot_version"])
        assert b["snapshot_version"] is None
    assert state_of(c, "chart.1") == replies[2000]


def test_damaged_automatic_snapshots_are_bypassed_with_the_same_state():
    s = LoggedServer().start()
    try:
        c = Conn(s)
        live(c, {"aggregate": "acct", "events": {"set": {"fields": ["a", "b", "n"]}}, "snapshot_threshold": 10})
        for i in range(45):
            add(c, "acct.1", [{"type": "set", "data": {"n": str(i), "a" if i % 2 else "b": str(i) if i % 5 else None}}])
        stored = c.ok("GET", {"stream": "acct.1"})
        assert [x["version"] for x in snapshots(c, "acct.1")] == [10, 20, 30, 40]
        before = [state_of(c, "acct.1", v) for v in range(46)]
        assert before[45]["snapshot_version"] == 40
        c.close()
        assert s.stop() == 0
        for version, damage in ((40, "state"), (30, "root")):
            r = subprocess.run([str(TAMPER), "snapshot", str(s.data_dir / "db"), "acct.1", str(version), damage],
                               capture_output=True, text=True, env=s.env, timeout=60)
            assert r.returncode == 0, r.stderr
        s.start()
        c = Conn(s)
        for v in range(46):
            after = state_of(c, "acct.1", v)
            want_snap = before[v]["snapshot_version"]
            if want_snap in (30, 40):  # both damaged ones are skipped, the next older one used
                want_snap = 20
            assert after == before[v] | {"snapshot_version": want_snap}, v
            assert after["state"] == fold(stored[:v])
        c.close()
        assert s.stop() == 0
        log = s.log_after_stop()
        assert "eventful: AGGREGATE:GET acct.1: ignored snapshot at version 40:" in log, log
        assert "eventful: AGGREGATE:GET acct.1: ignored snapshot at version 30:" in log, log
    finally:
        s.cleanup()


# --- AGGREGATE:LIST -------------------------------------------------------------------------------

def test_aggregate_list_type_filter_and_summary_fields(server, c):
    live(c, PATIENT)
    live(c, WARD | {"snapshot_threshold": 2})
    written = {}

    def put(stream, events):
        written.setdefault(stream, []).extend(add(c, stream, events))

    put("patient.2", [{"type": "patient-created", "data": {"name": "A"}}])
    put("patient.10", [{"type": "patient-updated", "data": {"status": "x"}}] * 3)
    put("patients.1", [{"type": "x"}])            # another category that starts alike
    put("ward.1", [{"type": "ward-opened"}] * 3)   # 0 -> 3 crosses 2: automatic snapshot at 3
    put("patient.2", [{"type": "patient-updated", "data": {"status": "y"}}])
    put("patient.2.notes", [{"type": "patient-updated"}])  # category patient too
    put("ward.2", [{"type": "ward-opened"}])
    c.ok("SNAPSHOT", {"stream": "patient.10", "comment": "manual"})
    put("patient.10", [{"type": "patient-updated"}])
    stage(c, "SCHEMA:ALTER", {"aggregate": "ward", "lock": True}, pending=1)  # staged: not locked yet

    def summary(stream):
        evs = written[stream]
        snap = snapshots(c, stream)
        return {"stream": stream, "version": len(evs), "root": merkle_root([leaf_hash(e) for e in evs]),
                "type": stream.split(".")[0], "created_at": evs[0]["added_at"], "updated_at": evs[-1]["added_at"],
                "snapshot_version": snap[-1]["version"] if snap else None, "archived": False, "locked": False}

    patients = c.ok("AGGREGATE:LIST", {"type": "patient"})
    for e in patients:
        assert set(e) == SUMMARY_KEYS, e
    assert patients == [summary(x) for x in ["patient.10", "patient.2", "patient.2.notes"]]
    assert patients[0]["snapshot_version"] == 3  # the manual one
    assert c.ok("AGGREGATE:LIST", {"type": "ward"}) == [summary("ward.1"), summary("ward.2")]
    assert c.ok("AGGREGATE:LIST", {"type": "ward"})[0]["snapshot_version"] == 3
    assert c.ok("AGGREGATE:LIST", {"type": "patients"}) == [summary("patients.1")]
    assert c.ok("AGGREGATE:LIST", {"type": "nobody"}) == []
    # type ANDed with pattern, after and limit.
    assert c.ok("AGGREGATE:LIST", {"type": "patient", "pattern": "patient.*"}) == [summary("patient.10"), summary("patient.2")]
    assert c.ok("AGGREGATE:LIST", {"type": "patient", "pattern": "ward.*"}) == []
    assert c.ok("AGGREGATE:LIST", {"type": "patient", "limit": 1}) == [summary("patient.10")]
    assert c.ok("AGGREGATE:LIST", {"type": "patient", "after": "patient.10", "limit": 1}) == [summary("patient.2")]
    assert c.ok("AGGREGATE:LIST", {"type": "patient", "after": "patient.2.notes"}) == []
    # Without a filter everything is listed, the system stream $audit too.
    everything = c.ok("AGGREGATE:LIST", {})
    assert [e["stream"] for e in everything] == sorted(["$audit", *written], key=str.encode)
    assert [e for e in everything if e["stream"] != "$audit"] == [summary(x) for x in sorted(written, key=str.encode)]

    # locked follows the live lock of the aggregate type.
    apply(c)
    assert [e["locked"] for e in c.ok("AGGREGATE:LIST", {"type": "ward"})] == [True, True]
    assert [e["archived"] for e in c.ok("AGGREGATE:LIST", {"type": "ward"})] == [False, False]
    assert [e["locked"] for e in c.ok("AGGREGATE:LIST", {"type": "patient"})] == [False] * 3
    # Errors.
    expect_error(c("AGGREGATE:LIST", {"type": 5}), "ERR")
    expect_error(c("AGGREGATE:LIST", {"typ": "patient"}), "ERR unknown key 'typ'")
