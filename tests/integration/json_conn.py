"""A raw-socket RESP connection for the aggregate/schema/archive tests: JSON arguments encoded,
JSON bulk replies decoded, error replies kept exact (RespError with their code)."""
import json

from harness import MASTER_KEY, RawClient, RespError


def j(obj):
    return json.dumps(obj, separators=(",", ":"))


def decode(reply):
    """Bulk strings holding JSON are decoded; errors stay RespError; arrays are decoded itemwise."""
    if isinstance(reply, list):
        return [decode(r) for r in reply]
    if isinstance(reply, bytes):
        try:
            return json.loads(reply)
        except ValueError:
            return reply.decode()
    return reply


class Conn:
    """One raw-socket connection (exact replies), authenticated with `secret` (master by default)."""

    def __init__(self, server, secret=MASTER_KEY):
        self.server = server
        self.rc = RawClient(server, auth=False)
        if secret is not None:
            assert self.rc.call("AUTH", secret) == "OK"

    def __call__(self, name, *args):
        return decode(self.rc.call(name, *[a if isinstance(a, str) else j(a) for a in args]))

    def ok(self, name, *args):
        reply = self(name, *args)
        assert not isinstance(reply, RespError), (name, args, reply)
        return reply

    def close(self):
        self.rc.close()


def expect_error(reply, expected, what=""):
    """`expected` is a whole error line (the documented text, which the server may follow with an
    explanation after a space), or only its code (one word) where the text is not contracted."""
    assert isinstance(reply, RespError), f"{what}: expected -{expected}, got {reply!r}"
    if " " in expected:
        assert str(reply) == expected or str(reply).startswith(expected + " "), \
            f"{what}: expected -{expected}, got -{reply}"
        if str(reply) != expected:
            print(f"note: -{expected} is sent as -{reply}")
    else:
        assert reply.code == expected, f"{what}: expected code {expected}, got -{reply}"
