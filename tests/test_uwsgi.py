"""The uWSGI example (examples/wsgi_uwsgi) under a real uWSGI: a master and 2 preforked workers x 4
threads (``--enable-threads``; the app is loaded once in the master, no lazy-apps) against the
fake Split server on 127.0.0.1, with streaming. Every worker resumes the factory in ``@postfork``
and serves the flag, every worker receives a pushed SPLIT_UPDATE, and a graceful stop (SIGTERM,
made a graceful shutdown by the example's ``hook-master-start``) delivers every worker's
impressions and events through ``uwsgi.atexit``. Every wait is bounded (the scenario is shared
with test_gunicorn.py)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag
from tests.wsgi_servers import (
    assert_delivered,
    example_env,
    free_port,
    serving,
    stream_and_update,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uWSGI needs fork")

INI = REPO / "examples" / "wsgi_uwsgi" / "uwsgi.ini"
FLAG = "uwsgi_flag"
WORKERS = 2  # processes = 2 in the ini

# How the factory gets from the master to the workers:
# - "preforked": the example as is: preforkedInitialization, no thread runs in the master;
# - "fork-hooks": a factory running in the master (portal thread and stream of its own); uWSGI
#   must then take the GIL around fork() and run Python's at-fork handlers, which the shim's fork
#   detection relies on (--py-call-uwsgi-fork-hooks; without it the fork goes unnoticed and a
#   worker can inherit the GIL held by the master's portal thread: it hangs before serving).
MODES: dict[str, tuple[list[str], dict[str, Any], int]] = {
    "preforked": ([], {}, WORKERS),
    "fork-hooks": (["--py-call-uwsgi-fork-hooks"], {"preforkedInitialization": False},
                   WORKERS + 1),
}


def uwsgi_binary() -> str | None:
    """The uwsgi of this interpreter's environment (the ``dev`` extra installs it there)."""
    beside = Path(sys.executable).with_name("uwsgi")
    return str(beside) if beside.is_file() else shutil.which("uwsgi")


@pytest.fixture(params=list(MODES))
def uwsgi(
    request: pytest.FixtureRequest, server: FakeSplitServer, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, int]]:
    binary = uwsgi_binary()
    if binary is None:
        pytest.skip("no uwsgi binary (pip install uwsgi, or the dev extra)")
    options, config, streams = MODES[request.param]
    port = free_port()
    command = [binary, "--ini", str(INI), "--http-socket", f"127.0.0.1:{port}",
               "--virtualenv", sys.prefix, *options]
    with serving(command, example_env(server, FLAG, **config), tmp_path / "uwsgi.log",
                 signal.SIGTERM) as proc:
        yield proc, f"http://127.0.0.1:{port}", streams


def test_uwsgi_workers_stream_and_flush_on_graceful_stop(
    server: FakeSplitServer, uwsgi: tuple[subprocess.Popen[bytes], str, int]
) -> None:
    server.set_flags([rollout_flag(FLAG, (("on", 100),))])
    proc, base, streams = uwsgi

    traffic = stream_and_update(server, base, FLAG, WORKERS, streams)
    # Nothing was due yet (default refresh rates): what arrives below is the stop's flush.
    assert not server.accepted("/api/events/bulk")
    assert not server.accepted("/api/testImpressions/bulk")

    # Graceful stop: workers finish their requests, then each one's uwsgi.atexit destroys its
    # factory, which delivers what it queued.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert_delivered(server, traffic, FLAG)

