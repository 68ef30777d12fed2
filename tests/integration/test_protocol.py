"""The wire protocol as a Redis user meets it (PROTOCOL.md §1–§3, §6, §8): authentication gates,
pre-auth limits, inline and pipelined commands, malformed framing, RESP3 and the housekeeping
commands. Most assertions are on raw bytes, because client libraries hide framing mistakes and
strip error codes.
"""
import json
import re
import socket
import struct
import threading

import pytest

from harness import MASTER_KEY, RawClient, RespError, encode_command, recv_until

KEY = MASTER_KEY.encode()


def exchange_until_eof(server, data, auth=False, timeout=30):
    """Sends data on a fresh socket (after an inline AUTH if asked) and returns everything the
    server sends until it closes the connection. A server that keeps the connection open makes
    this fail with a timeout instead of passing."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        if auth:
            s.sendall(b"AUTH " + KEY + b"\r\n")
            assert recv_until(s, lambda b: b.endswith(b"\r\n")) == b"+OK\r\n"
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close before it has read everything we wanted to send
        return read_to_eof(s)
    finally:
        s.close()


def read_to_eof(sock):
    """Everything the server sends until it closes the connection (a reset counts as a close)."""
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out


def command(*args):
    return encode_command(*args)


def add_arg(stream, n=1, version=None, type_="t"):
    arg = {"stream": stream, "events": [{"type": type_} for _ in range(n)]}
    if version is not None:
        arg["version"] = version
    return json.dumps(arg)


# --- authentication ------------------------------------------------------------------------------


def test_ping_answers_before_auth_inline_and_multibulk(shared_server):
    with RawClient(shared_server, auth=False) as c:
        c.send(b"PING\r\n")
        assert c.read() == "PONG" and c.reader.last_raw == b"+PONG\r\n"
        c.send(command("PING"))
        assert c.reader.read() == "PONG" and c.reader.last_raw == b"+PONG\r\n"
        c.send(command("PING", "hello"))
        assert c.read() == b"hello" and c.reader.last_raw == b"$5\r\nhello\r\n"


@pytest.mark.parametrize("cmd", [
    ("GET", '{"stream":"noauth.a"}'),
    ("ADD", add_arg("noauth.a")),
    ("GETALL",),
    ("EVENTCOUNT",),
    ("STREAMCOUNT",),
    ("CHECKSUM",),
    ("VERIFY", "{}"),
    ("EVENT:GET", '{"id":"x"}'),
    ("AGGREGATE:LIST",),
])
def test_data_commands_before_auth_get_noauth_and_change_nothing(shared_server, cmd):
    with RawClient(shared_server, auth=False) as c:
        reply = c.call(*cmd)
        assert isinstance(reply, RespError), reply
        assert c.reader.last_raw.startswith(b"-NOAUTH "), c.reader.last_raw
        # The connection stays usable, and authenticating afterwards works.
        assert c.call("PING") == "PONG"
        assert c.call("AUTH", MASTER_KEY) == "OK"
        assert c.call("GET", '{"stream":"noauth.a"}') == []


def test_wrong_secret_gets_wrongpass_and_stays_unauthenticated(shared_server):
    with RawClient(shared_server, auth=False) as c:
        c.call("AUTH", "evk_not-a-real-key-aaaaaaaaaaaaaaaa")
        assert c.reader.last_raw.startswith(b"-WRONGPASS "), c.reader.last_raw
        c.call("EVENTCOUNT")
        assert c.reader.last_raw.startswith(b"-NOAUTH "), c.reader.last_raw
        # AUTH user secret: the user name is ignored.
        assert c.call("AUTH", "default", MASTER_KEY) == "OK"
        assert isinstance(c.call("EVENTCOUNT"), int)


def many_args(n):
    return command("PING", *["x"] * (n - 1))


@pytest.mark.parametrize("frame", [
    pytest.param(many_args(11), id="11-args-multibulk"),
    pytest.param(b"*11\r\n", id="11-args-header-only"),
    pytest.param(b"PING " + b" ".join([b"x"] * 10) + b"\r\n", id="11-args-inline"),
    pytest.param(command("PING", b"a" * (17 * 1024)), id="17KiB-bulk"),
    pytest.param(b"*2\r\n$4\r\nPING\r\n$17408\r\n", id="17KiB-bulk-declared-only"),
    pytest.param(b"PING " + b"a" * (17 * 1024) + b"\r\n", id="17KiB-inline"),
])
def test_pre_auth_limits_give_protocol_error_and_close(shared_server, frame):
    out = exchange_until_eof(shared_server, frame)
    assert out.startswith(b"-ERR Protocol error"), out[:200]
    assert out.count(b"\r\n") == 1, out[:200]  # exactly one error line, then EOF


def test_pre_auth_limits_are_inclusive_and_lifted_by_auth(shared_server):
    with RawClient(shared_server, auth=False) as c:
        # 10 arguments and a 16 KiB bulk are still fine before AUTH.
        assert isinstance(c.call("PING", *["x"] * 9), RespError)  # arity error, not a protocol error
        assert c.reader.last_raw.startswith(b"-ERR wrong number of arguments")
        big = b"b" * (16 * 1024)
        assert c.call("PING", big) == big
        assert c.call("AUTH", MASTER_KEY) == "OK"
        # After AUTH the same connection may send 11 arguments and a 17 KiB bulk.
        c.call("PING", *["x"] * 10)
        assert c.reader.last_raw.startswith(b"-ERR wrong number of arguments")
        bigger = b"c" * (17 * 1024)
        assert c.call("PING", bigger) == bigger
        c.send(b"PING " + bigger + b"\r\n")
        assert c.read() == bigger


# --- inline commands -----------------------------------------------------------------------------


def test_inline_commands_with_redis_quoting(shared_server):
    with RawClient(shared_server, auth=False) as c:
        c.send(b"PING\r\n")
        assert c.read() == "PONG"
        c.send(b"PING\n")  # telnet may send a bare newline
        assert c.read() == "PONG"
        c.send(b'AUTH "' + KEY + b'"\r\n')
        assert c.read() == "OK" and c.reader.last_raw == b"+OK\r\n"
        c.send(b"ADD '" + add_arg("inline.a", 2).encode() + b"'\r\n")
        added = c.read()
        assert isinstance(added, list) and len(added) == 2, added
        assert [json.loads(e)["version"] for e in added] == [1, 2]
        c.send(b"""GET '{"stream":"inline.a"}'\r\n""")
        got = c.read()
        assert [json.loads(e) for e in got] == [json.loads(e) for e in added]
        # Double quotes unescape \" and \xHH; the JSON arrives intact.
        c.send(b'GET "{\\"stream\\":\\"inline\\x2ea\\",\\"limit\\":1}"\r\n')
        got = c.read()
        assert [json.loads(e)["version"] for e in got] == [1]
        c.send(b"  PING   inline-extra-spaces  \r\n")
        assert c.read() == b"inline-extra-spaces"


def test_unbalanced_quotes_in_inline_command_are_a_protocol_error(shared_server):
    out = exchange_until_eof(shared_server, b'PING "abc\r\n', auth=True)
    assert out.startswith(b"-ERR Protocol error"), out
    assert out.count(b"\r\n") == 1


# --- pipelining ----------------------------------------------------------------------------------


def test_ten_thousand_pipelined_commands_reply_in_order(server):
    n = 10_000
    stream = "pipe.1"
    frames = []
    for i in range(n):
        k = i % 3
        if k == 0:
            frames.append(command("PING", f"p{i}"))
        elif k == 1:
            frames.append(command("ADD", json.dumps(
                {"stream": stream, "events": [{"type": "pipelined", "data": {"i": str(i)}}]})))
        else:
            frames.append(command("GET", json.dumps({"stream": stream, "direction": "backward", "limit": 1})))
    with RawClient(server) as c:
        sender = threading.Thread(target=c.send, args=(b"".join(frames),))
        sender.start()  # send and read at once, so neither side's buffers can deadlock us
        adds = 0
        for i in range(n):
            reply = c.read()
            k = i % 3
            if k == 0:
                assert reply == f"p{i}".encode(), (i, reply)
            elif k == 1:
                adds += 1
                assert isinstance(reply, list) and len(reply) == 1, (i, reply)
                ev = json.loads(reply[0])
                assert ev["version"] == adds and ev["data"] == {"i": str(i)}, (i, ev)
            else:
                assert isinstance(reply, list) and len(reply) == 1, (i, reply)
                ev = json.loads(reply[0])
                # Each GET sees exactly the ADDs pipelined before it, and no later one.
                assert ev["version"] == adds and ev["data"] == {"i": str(i - 1)}, (i, ev)
        sender.join()
        assert c.call("EVENTCOUNT") == adds
        assert adds == (n + 1) // 3


def test_commands_split_at_every_byte_are_assembled(shared_server):
    stream = "split.bytes"
    data = (command("ADD", add_arg(stream, 2)) + b"PING inline\r\n"
            + command("GET", json.dumps({"stream": stream})) + command("PING"))
    with RawClient(shared_server) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            c.send(data[i:i + 1])
        added = c.read()
        assert [json.loads(e)["version"] for e in added] == [1, 2]
        assert c.read() == b"inline"
        assert c.read() == added
        assert c.read() == "PONG"


def test_replies_before_a_bad_frame_are_delivered(shared_server):
    out = exchange_until_eof(shared_server, b"PING\r\n" + command("PING", "x") + b"*1\r\n$abc\r\n" + b"PING\r\n")
    assert out.startswith(b"+PONG\r\n$1\r\nx\r\n-ERR Protocol error"), out
    assert out.count(b"\r\n") == 4, out  # the PING after the bad frame is never answered


# --- malformed framing ---------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [
    pytest.param(b"*1\r\n$abc\r\n", id="non-numeric-bulk-length"),
    pytest.param(b"*x\r\n", id="non-numeric-multibulk-length"),
    pytest.param(b"*1x\r\n$4\r\nPING\r\n", id="multibulk-length-trailing-garbage"),
    pytest.param(b"*1\r\n$-5\r\n", id="negative-bulk-length"),
    pytest.param(b"*1\r\nPING\r\n", id="bulk-without-dollar"),
    pytest.param(b"*1\r\n:5\r\n", id="integer-instead-of-bulk"),
    pytest.param(b"*1\r\n$4\r\nPINGxx", id="bulk-not-terminated-by-crlf"),
])
@pytest.mark.parametrize("authenticated", [False, True], ids=["pre-auth", "authed"])
def test_malformed_framing_gets_protocol_error_then_eof(shared_server, frame, authenticated):
    out = exchange_until_eof(shared_server, frame, auth=authenticated)
    assert out.startswith(b"-ERR Protocol error: "), out
    assert out.endswith(b"\r\n") and out.count(b"\r\n") == 1, out


@pytest.mark.parametrize("declared", [999_999_999, 16 * 1024 * 1024 + 1])
def test_bulk_over_16MiB_after_auth_gets_protocol_error_then_eof(shared_server, declared):
    out = exchange_until_eof(shared_server, b"*2\r\n$4\r\nPING\r\n$%d\r\n" % declared, auth=True)
    assert out.startswith(b"-ERR Protocol error"), out
    assert out.count(b"\r\n") == 1, out


def test_command_over_1024_arguments_after_auth_gets_protocol_error(shared_server):
    out = exchange_until_eof(shared_server, b"*1025\r\n", auth=True)
    assert out.startswith(b"-ERR Protocol error"), out
    assert out.count(b"\r\n") == 1, out


def test_bulk_of_exactly_16MiB_is_accepted_after_auth(shared_server):
    payload = b"z" * (16 * 1024 * 1024)
    with RawClient(shared_server) as c:
        sender = threading.Thread(target=c.send, args=(command("PING", payload),))
        sender.start()
        reply = c.read()
        sender.join()
        assert reply == payload


def test_slow_15MiB_bulk_does_not_stall_other_clients(shared_server):
    declared = 15 * 1024 * 1024
    with RawClient(shared_server) as slow, RawClient(shared_server) as other:
        slow.send(b"*2\r\n$4\r\nPING\r\n$%d\r\n" % declared + b"s" * 1000)
        # While the slow client's bulk is incomplete, another client is served normally.
        added = other.call("ADD", add_arg("slowpoke.a", 3))
        assert [json.loads(e)["version"] for e in added] == [1, 2, 3]
        got = other.call("GET", '{"stream":"slowpoke.a"}')
        assert [json.loads(e)["version"] for e in got] == [1, 2, 3]
        assert other.call("PING") == "PONG"
        # The slow client was waiting, not dropped: finishing the bulk gets it its reply.
        sender = threading.Thread(target=slow.send, args=(b"s" * (declared - 1000) + b"\r\n",))
        sender.start()
        reply = slow.read()
        sender.join()
        assert reply == b"s" * declared


def test_garbage_client_is_dropped_while_another_client_keeps_working(shared_server):
    with RawClient(shared_server) as good, RawClient(shared_server) as bad:
        stream = "garbage.neighbour"
        good.send(command("ADD", add_arg(stream)) + command("PING"))
        bad.send(b"*\xff\xfe\x00garbage" + bytes(range(256)) + b"\r\n")
        out = read_to_eof(bad.sock)
        assert out.startswith(b"-ERR Protocol error"), out
        assert out.count(b"\r\n") == 1, out
        assert [json.loads(e)["version"] for e in good.read()] == [1]
        assert good.read() == "PONG"
        got = good.call("GET", json.dumps({"stream": stream}))
        assert [json.loads(e)["version"] for e in got] == [1]
        assert [json.loads(e)["version"] for e in good.call("ADD", add_arg(stream))] == [2]


# --- RESP3 ---------------------------------------------------------------------------------------


def test_hello_3_switches_to_resp3_on_a_raw_socket(shared_server):
    with RawClient(shared_server) as c:
        # RESP2 first: a null is $-1.
        assert c.call("EVENT:GET", '{"id":"no-such-event"}') is None
        assert c.reader.last_raw == b"$-1\r\n"
        hello = c.call("HELLO", "3")
        assert c.reader.last_raw.startswith(b"%"), c.reader.last_raw
        assert isinstance(hello, dict)
        assert hello["proto"] == 3
        assert hello["server"] == b"eventful"
        assert hello["version"] == c.call("VERSION")
        assert c.call("EVENT:GET", '{"id":"no-such-event"}') is None
        assert c.reader.last_raw == b"_\r\n"
        assert c.call("EVENT:GET", '{"hash":"' + "0" * 64 + '"}') is None
        assert c.reader.last_raw == b"_\r\n"
        # Counts stay integers, events stay bulk strings of JSON inside an array.
        added = c.call("ADD", add_arg("resp3.raw"))
        assert c.reader.last_raw.startswith(b"*1\r\n$"), c.reader.last_raw
        assert json.loads(added[0])["stream"] == "resp3.raw"
        assert isinstance(c.call("EVENTCOUNT"), int) and c.reader.last_raw.startswith(b":")
        # INFO is Redis' verbatim string with its 3-letter format, maps are '%' maps.
        info = c.call("INFO", "server")
        assert re.match(rb"=\d+\r\ntxt:# Server\r\n", c.reader.last_raw), c.reader.last_raw[:40]
        assert b"eventful_version:" in info
        docs = c.call("COMMAND", "DOCS", "GET")
        assert c.reader.last_raw.startswith(b"%1\r\n") and set(docs["get"]) >= {"summary"}
        # And back to RESP2.
        assert isinstance(c.call("HELLO", "2"), list)
        assert c.call("EVENT:GET", '{"id":"no-such-event"}') is None
        assert c.reader.last_raw == b"$-1\r\n"


def test_hello_3_with_auth_authenticates_and_sets_the_name(shared_server):
    with RawClient(shared_server, auth=False) as c:
        hello = c.call("HELLO", "3", "AUTH", "default", MASTER_KEY, "SETNAME", "resp3-client")
        assert isinstance(hello, dict) and hello["proto"] == 3
        assert isinstance(c.call("EVENTCOUNT"), int)
        assert c.call("CLIENT", "GETNAME") == b"resp3-client"


def test_hello_with_a_wrong_secret_is_wrongpass(shared_server):
    with RawClient(shared_server, auth=False) as c:
        c.call("HELLO", "3", "AUTH", "default", "evk_wrong-secret-aaaaaaaaaaaaaaaaaaaa")
        assert c.reader.last_raw.startswith(b"-WRONGPASS "), c.reader.last_raw
        c.call("EVENTCOUNT")
        assert c.reader.last_raw.startswith(b"-NOAUTH "), c.reader.last_raw


def test_redis_cli_resp3_adds_and_gets(shared_server):
    stream = "resp3.cli"
    out, rc = shared_server.cli("ADD", add_arg(stream, 2), resp3=True)
    assert rc == 0, out
    added = [json.loads(line) for line in out.splitlines()]
    assert [e["version"] for e in added] == [1, 2]
    assert all(e["stream"] == stream for e in added)
    out, rc = shared_server.cli("GET", json.dumps({"stream": stream}), resp3=True)
    assert rc == 0, out
    assert [json.loads(line) for line in out.splitlines()] == added
    out, rc = shared_server.cli("INFO", "server", resp3=True)
    assert rc == 0 and out.startswith("# Server"), out[:80]
    out, rc = shared_server.cli("EVENT:GET", '{"id":"no-such-event"}', resp3=True)
    assert rc == 0 and out.strip() == "", out  # redis-cli prints a RESP3 null as an empty line


# --- housekeeping commands -----------------------------------------------------------------------


def test_quit_replies_ok_then_closes_without_running_what_follows(shared_server):
    stream = "quit.after"
    out = exchange_until_eof(shared_server, b"QUIT\r\n" + command("ADD", add_arg(stream)), auth=True)
    assert out == b"+OK\r\n"
    with RawClient(shared_server) as c:
        assert c.call("GET", json.dumps({"stream": stream})) == []


def test_pending_adds_are_answered_before_quit_and_before_a_protocol_error(shared_server):
    """ADD replies only after the group commit; replies must still come back in request order."""
    stream = "quit.pending"
    add = command("ADD", add_arg(stream))
    with RawClient(shared_server) as c:
        c.send(add + b"PING\r\n" + add + b"QUIT\r\n" + add)
        assert [json.loads(e)["version"] for e in c.read()] == [1]
        assert c.read() == "PONG"
        assert [json.loads(e)["version"] for e in c.read()] == [2]
        assert c.read() == "OK"
        assert c.reader.at_eof()
    with RawClient(shared_server) as c:
        c.send(add + add + b"*1\r\n$x\r\n")
        assert [json.loads(e)["version"] for e in c.read()] == [3]
        assert [json.loads(e)["version"] for e in c.read()] == [4]
        assert isinstance(c.read(), RespError) and c.reader.last_raw.startswith(b"-ERR Protocol error")
        assert c.reader.at_eof()
    with RawClient(shared_server) as c:
        got = c.call("GET", json.dumps({"stream": stream}))
        assert [json.loads(e)["version"] for e in got] == [1, 2, 3, 4]  # the ADD after QUIT never ran


def test_client_vanishing_with_adds_in_flight_leaves_a_consistent_store(shared_server):
    stream = "vanish.a"
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", shared_server.port), timeout=30)
        s.sendall(b"AUTH " + KEY + b"\r\n" + command("ADD", add_arg(stream, 3)) * 5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # reset at once, before the replies
    with RawClient(shared_server) as c:
        assert c.call("PING") == "PONG"
        # Whatever was stored, the stream is gap-free and continues after it.
        added = c.call("ADD", add_arg(stream, 2))
        got = [json.loads(e) for e in c.call("GET", json.dumps({"stream": stream, "limit": 10000}))]
        assert [e["version"] for e in got] == list(range(1, len(got) + 1))
        assert len(got) % 3 == 2  # whole batches only
        # ADDs a vanished client sent before the reset may still be committed after ours (no order
        # holds across connections), so ours is somewhere in the stream, its two events adjacent.
        mine = [json.loads(e) for e in added]
        assert mine[1]["version"] == mine[0]["version"] + 1
        assert got[mine[0]["version"] - 1: mine[0]["version"] + 1] == mine
        report = json.loads(c.call("VERIFY", json.dumps({"stream": stream})))
        assert report["ok"] is True and report["version"] >= len(got)


def test_quit_before_auth_replies_ok_then_closes(shared_server):
    assert exchange_until_eof(shared_server, command("QUIT")) == b"+OK\r\n"


def test_unknown_command_is_err_with_its_name(shared_server):
    with RawClient(shared_server) as c:
        c.call("FOO")
        assert c.reader.last_raw == b"-ERR unknown command 'FOO'\r\n"
        c.send(b"FOO bar baz\r\n")
        c.read()
        assert c.reader.last_raw == b"-ERR unknown command 'FOO'\r\n"
        assert c.call("PING") == "PONG"  # the connection survives


@pytest.mark.parametrize("cmd", [
    ("GET",),
    ("ADD",),
    ("ADD", add_arg("arity.a"), "extra"),
    ("EVENTCOUNT", "x"),
    ("CHECKSUM", "{}"),
    ("SELECT",),
    ("EVENT:GET",),
])
def test_wrong_arity_is_err_wrong_number_of_arguments(shared_server, cmd):
    with RawClient(shared_server) as c:
        reply = c.call(*cmd)
        assert isinstance(reply, RespError)
        assert c.reader.last_raw.startswith(b"-ERR wrong number of arguments"), c.reader.last_raw
        assert c.call("GET", '{"stream":"arity.a"}') == []  # nothing was stored


def test_select_0_is_ok_and_other_databases_are_errors(shared_server):
    with RawClient(shared_server) as c:
        assert c.call("SELECT", "0") == "OK" and c.reader.last_raw == b"+OK\r\n"
        for db in ("1", "15", "-1", "x"):
            reply = c.call("SELECT", db)
            assert isinstance(reply, RespError) and reply.code == "ERR", (db, reply)


def test_client_setname_getname_and_id(shared_server):
    with RawClient(shared_server) as a, RawClient(shared_server) as b:
        assert a.call("CLIENT", "GETNAME") is None and a.reader.last_raw == b"$-1\r\n"
        assert a.call("CLIENT", "SETNAME", "worker-1") == "OK"
        assert a.call("CLIENT", "GETNAME") == b"worker-1"
        assert a.reader.last_raw == b"$8\r\nworker-1\r\n"
        assert b.call("CLIENT", "GETNAME") is None  # names are per connection
        ida, idb = a.call("CLIENT", "ID"), b.call("CLIENT", "ID")
        assert isinstance(ida, int) and isinstance(idb, int) and ida != idb
        assert a.call("CLIENT", "ID") == ida  # stable for the connection
        reply = a.call("CLIENT", "SETNAME", "has space")
        assert isinstance(reply, RespError) and reply.code == "ERR"
        assert a.call("CLIENT", "GETNAME") == b"worker-1"
    r = shared_server.client()
    r.client_setname("via-redis-py")
    assert r.client_getname() == "via-redis-py"
    assert isinstance(r.client_id(), int)


def test_command_count_list_and_info(shared_server):
    with RawClient(shared_server) as c:
        count = c.call("COMMAND", "COUNT")
        names = [n.decode() for n in c.call("COMMAND", "LIST")]
        assert count == len(names) == len(set(names))
        for name in ("add", "get", "getall", "ping", "auth", "checksum", "verify", "event:get"):
            assert name in names, name
        table = c.call("COMMAND")
        assert len(table) == count
        info = c.call("COMMAND", "INFO", "GET", "NOSUCHCOMMAND")
        assert len(info) == 2 and info[1] is None
        assert info[0][0] == b"get" and info[0][1] == 2  # name and arity (GET <json>)


def test_command_docs_through_redis_cli(shared_server):
    out, rc = shared_server.cli("COMMAND", "DOCS", "ADD", "GET")
    assert rc == 0, out
    lines = out.splitlines()
    assert "add" in lines and "get" in lines, out
    assert "summary" in lines, out
    out, rc = shared_server.cli("COMMAND", "DOCS", resp3=True)
    assert rc == 0 and re.search(r"^getall\b", out, re.M), out  # RESP3 maps print as "key value"


def parse_info(text):
    sections, current = {}, None
    for line in text.splitlines():
        if line.startswith("# "):
            current = sections.setdefault(line[2:].strip(), {})
        elif line.strip() and current is not None:
            key, _, value = line.partition(":")
            current[key] = value.strip()
    return sections


def test_info_has_the_contract_sections_and_keys(server):
    with RawClient(server) as c:
        c.call("ADD", add_arg("info.a", 3))
        c.call("ADD", add_arg("info.b", 2))
        text = c.call("INFO").decode()
        info = parse_info(text)
        for section in ("Server", "Clients", "Stats", "Persistence", "Eventful"):
            assert section in info, (section, text)
        srv = info["Server"]
        assert srv["eventful_version"] == c.call("VERSION").decode()
        assert int(srv["tcp_port"]) == server.port
        assert int(srv["process_id"]) == server.proc.pid
        assert int(srv["uptime_in_seconds"]) >= 0
        assert int(info["Clients"]["connected_clients"]) >= 1
        assert info["Persistence"]["loading"] == "0"
        last_id, root, count = c.call("CHECKSUM")
        ev = info["Eventful"]
        assert int(ev["events"]) == count == c.call("EVENTCOUNT") == 5
        assert int(ev["streams"]) == c.call("STREAMCOUNT") == 2
        assert ev["root"] == root.decode()
        assert re.fullmatch(r"[0-9a-f]{64}", ev["root"])
        # One section on request.
        only = parse_info(c.call("INFO", "eventful").decode())
        assert list(only) == ["Eventful"] and only["Eventful"]["root"] == ev["root"]
    # redis-py reads INFO as Redis' own format.
    r = server.client()
    assert r.info("server")["tcp_port"] == server.port


def test_info_eventful_section_has_the_treehead_public_key(shared_server):
    """§8: `# Eventful` has events, streams, root and treehead_public_key (hex)."""
    with RawClient(shared_server) as c:
        info = parse_info(c.call("INFO").decode())
        assert re.fullmatch(r"[0-9a-f]{64}", info["Eventful"].get("treehead_public_key", "")), info["Eventful"]


def test_version_uptime_and_size_shapes(shared_server):
    with RawClient(shared_server) as c:
        version = c.call("VERSION")
        assert re.fullmatch(rb"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?", version), version
        ms, human = c.call("UPTIME")
        assert isinstance(ms, int) and ms >= 0
        assert isinstance(human, bytes) and human, human
        ms2, _ = c.call("UPTIME")
        assert ms2 >= ms
        size, human = c.call("SIZE")
        assert isinstance(size, int) and size > 0
        assert isinstance(human, bytes) and human
        for cmd in ("EVENTCOUNT", "STREAMCOUNT", "EVENTCOUNTEST", "STREAMCOUNTEST"):
            n = c.call(cmd)
            assert isinstance(n, int) and n >= 0, (cmd, n)
