"""The prefork paths leave no thread behind, so a master can fork at once, even the way uWSGI
forks: a plain C ``fork()`` that skips Python's at-fork handlers. A thread still alive at that
moment (anyio's worker threads linger a few milliseconds after their loop ends) hands the child
a held shutdown lock, and the child then hangs forever in its interpreter shutdown.

Each case loads data from the fake Split server many times in a child Python process; after
each load it checks ``threading.enumerate()`` and C-forks a grandchild that exits normally.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="C fork through ctypes")

RUNS = 25
SCRIPT = r'''
import ctypes, json, os, signal, sys, threading

urls, config, backend, path, runs = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
baseline = {thread.ident for thread in threading.enumerate()}


def too_slow(signum, frame):
    raise TimeoutError


signal.signal(signal.SIGALRM, too_slow)
for run in range(runs):
    if path == "shim":
        from splitio_sync_shim import get_factory
        factory = get_factory("SDK-KEY-0001", config={**config, "preforkedInitialization": True},
                              async_backend=backend, **urls)
        assert factory.client().get_treatment("k", "f") == "control"  # waiting for resume()
    else:
        from splitio_async.prefork import preload
        preloaded = preload("SDK-KEY-0001", config, timeout=10, backend=backend, **urls)
        assert preloaded.snapshot.flags["f"].name == "f"
    left = [t.name for t in threading.enumerate() if t.ident not in baseline]
    if left:
        print(f"run {run}: threads left {left}")
        sys.exit(3)
    pid = libc.fork()  # as uWSGI forks: no Python at-fork handler runs
    if pid == 0:
        sys.exit(0)  # a normal interpreter shutdown: it waits for every non-daemon thread
    signal.setitimer(signal.ITIMER_REAL, 10)
    try:
        _, status = os.waitpid(pid, 0)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        print(f"run {run}: the forked child hung at exit")
        sys.exit(4)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        print(f"run {run}: the forked child exited with {os.waitstatus_to_exitcode(status)}")
        sys.exit(5)
print("ok", runs)
'''


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("path", ["shim", "preload"])
def test_prefork_loads_leave_no_thread_and_a_c_fork_exits_cleanly(
    server: FakeSplitServer, backend: str, path: str
) -> None:
    server.set_flags([rollout_flag("f", (("on", 100),))])
    # no machineIp/machineName: the SDK resolves the machine's address in a blocking call, the
    # kind of call that used to go to a worker thread
    config = {"streamingEnabled": False, "connectionTimeout": 2000}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT,
         json.dumps([server.url_kwargs(), config, backend, path, RUNS])],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.split() == ["ok", str(RUNS)]
