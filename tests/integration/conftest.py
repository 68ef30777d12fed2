import json

import pytest

from harness import Server


@pytest.fixture
def server():
    """A fresh server for one test, stopped gracefully (and checked to exit 0) afterwards."""
    s = Server().start()
    try:
        yield s
        assert s.stop() == 0, "server did not shut down cleanly:\n" + "".join(s.output)
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def shared_server():
    """One server shared by a module's read-mostly tests (each test uses its own stream names)."""
    s = Server().start()
    try:
        yield s
        assert s.stop() == 0, "server did not shut down cleanly:\n" + "".join(s.output)
    finally:
        s.cleanup()


def add(client, stream, events, version=None):
    """ADD through redis-py; returns the stored events as dicts."""
    arg = {"stream": stream, "events": events}
    if version is not None:
        arg["version"] = version
    return [json.loads(e) for e in client.execute_command("ADD", json.dumps(arg))]
