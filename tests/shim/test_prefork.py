"""Preforked servers: the master loads data without leaving a thread, each forked worker resumes
and syncs and records on its own; a fork the SDK was not told about pauses it loudly instead of
serving frozen data. Forks happen in a child Python process, never in the test runner."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.e2e.test_standalone import FAST
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag

pytestmark = pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")

SCRIPT = r'''
import json, os, sys, threading
from splitio_sync_shim import get_factory
urls, config, preforked = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3] == "1"
config["preforkedInitialization"] = preforked
factory = get_factory("SDK-KEY-0001", config=config, **urls)
client = factory.client()
if preforked:
    portals = [t for t in threading.enumerate() if t.name == "splitio-portal"]
    print("master portals", len(portals))
    print("master waiting", client.get_treatment("k", "f"))
    factory.block_until_ready(1)  # returns at once while waiting for the fork
else:
    factory.block_until_ready(5)
    print("master", client.get_treatment("k", "f"))
sys.stdout.flush()
pid = os.fork()
if pid == 0:
    print("child before resume", client.get_treatment("k", "f"))
    factory.resume()
    factory.block_until_ready(5)
    print("child", client.get_treatment("k", "f"))
    client.track("k", "user", "from_child", 1)
    factory.destroy()
    sys.stdout.flush()
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(status))
if not preforked:
    factory.destroy()
'''


def _run(server: FakeSplitServer, preforked: bool) -> tuple[list[str], str]:
    config = {**FAST, "impressionsMode": "DEBUG"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(server.url_kwargs()), json.dumps(config),
         "1" if preforked else "0"],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines(), done.stderr


def test_preforked_master_leaves_no_thread_and_workers_resume(server: FakeSplitServer) -> None:
    server.set_flags([rollout_flag("f", (("on", 100),))])
    lines, _ = _run(server, preforked=True)
    assert "master portals 0" in lines
    assert "master waiting control" in lines
    assert "child before resume control" in lines
    assert "child on" in lines
    assert "child exit 0" in lines
    events = [e["eventTypeId"] for body in server.accepted("/api/events/bulk") for e in body]
    assert events == ["from_child"]


def test_an_unannounced_fork_pauses_loudly_until_resume(server: FakeSplitServer) -> None:
    server.set_flags([rollout_flag("f", (("on", 100),))])
    lines, errors = _run(server, preforked=False)
    assert "master on" in lines
    assert "child before resume control" in lines  # never frozen data served silently
    assert "this process was forked" in errors
    assert "child on" in lines
    assert "child exit 0" in lines
    events = [e["eventTypeId"] for body in server.accepted("/api/events/bulk") for e in body]
    assert events == ["from_child"]
