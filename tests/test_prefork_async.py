"""The async API in preforked servers: data preloaded once in the master (no thread, no loop
left), each forked worker starts its own factory from it in its own event loop, ready before any
request, then syncs deltas and records on its own. A factory running when its process forks is
paused in the child instead of serving frozen data. Forks happen in a child Python process."""

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

PRELOAD = r'''
import json, os, sys, threading, time
import anyio
from splitio_async.prefork import preload
urls, config, backend = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
preloaded = preload("SDK-KEY-0001", config, timeout=5, backend=backend, **urls)
print("master threads", threading.active_count())
sys.stdout.flush()

def say(*words):  # one write per line: workers print at once (PYTHONUNBUFFERED splits print)
    os.write(1, (" ".join(map(str, words)) + "\n").encode())

async def worker(n):
    async with preloaded.open_factory() as factory:
        say(f"worker{n} ready at once", factory.ready)
        client = factory.client()
        say(f"worker{n}", await client.get_treatment("k", "f"))
        with anyio.fail_after(10):
            while await client.get_treatment("k", "f") != "off":  # the master changes it
                await anyio.sleep(0.02)
        say(f"worker{n} updated")
        await client.track("k", "user", f"from_worker{n}", 1)

children = []
for n in range(2):
    pid = os.fork()
    if pid == 0:
        anyio.run(worker, n, backend=backend)
        sys.stdout.flush()
        os._exit(0)
    children.append(pid)
sys.stdin.readline()  # the test changes the flag, then lets the workers go on
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
print("exit codes", codes)
'''

UNANNOUNCED = r'''
import json, os, sys
import anyio
from splitio_async import open_factory
urls, config = json.loads(sys.argv[1]), json.loads(sys.argv[2])

async def main():
    async with open_factory("SDK-KEY-0001", config, **urls) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        print("parent", await client.get_treatment("k", "f"))
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            print("child", await client.get_treatment("k", "f"), factory.status().ready)
            sys.stdout.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        print("parent after fork", await client.get_treatment("k", "f"))

anyio.run(main, backend=sys.argv[3])
'''


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_workers_start_from_preloaded_data_and_sync_on_their_own(
    server: FakeSplitServer, backend: str
) -> None:
    server.set_flags([rollout_flag("f", (("on", 100),))])
    process = subprocess.Popen(
        [sys.executable, "-c", PRELOAD, json.dumps(server.url_kwargs()), json.dumps(FAST),
         backend],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPO,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        lines = [process.stdout.readline().strip() for _ in range(5)]
    except BaseException:
        process.kill()
        process.communicate()
        raise
    if "master threads 1" not in lines:
        process.kill()
        raise AssertionError(f"{lines} {process.communicate()[1][-3000:]}")
    for n in range(2):
        assert f"worker{n} ready at once True" in lines
        assert f"worker{n} on" in lines
    server.set_flags([rollout_flag("f", (("off", 100),))])
    out, errors = process.communicate("go\n", timeout=60)
    assert process.returncode == 0, errors[-3000:]
    assert "exit codes [0, 0]" in out
    assert "worker0 updated" in out and "worker1 updated" in out
    events = sorted(e["eventTypeId"] for body in server.accepted("/api/events/bulk") for e in body)
    assert events == ["from_worker0", "from_worker1"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_running_async_factory_is_paused_in_a_forked_child(
    server: FakeSplitServer, backend: str
) -> None:
    server.set_flags([rollout_flag("f", (("on", 100),))])
    done = subprocess.run(
        [sys.executable, "-c", UNANNOUNCED, json.dumps(server.url_kwargs()), json.dumps(FAST),
         backend],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines == ["parent on", "child control False", "parent after fork on"]
    assert "forked while an async factory was running" in done.stderr
