"""The gunicorn example (examples/wsgi_gunicorn) under a real gunicorn: 2 preforked workers x 2
threads against the fake Split server on 127.0.0.1, with streaming. Both workers serve the flag,
both receive a pushed SPLIT_UPDATE, and a graceful stop (SIGTERM) delivers every tracked event
and impression. Every wait is bounded (the scenario is shared with test_uwsgi.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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

gunicorn_config = pytest.importorskip("gunicorn.config")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="gunicorn needs fork")

CONF = REPO / "examples" / "wsgi_gunicorn" / "gunicorn.conf.py"
FLAG = "gunicorn_flag"


@pytest.fixture
def gunicorn(
    server: FakeSplitServer, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", str(CONF), "-b", f"127.0.0.1:{port}",
               "--workers", "2", "--threads", "2", "--graceful-timeout", "10"]
    if any(s.name == "control_socket_disable" for s in gunicorn_config.KNOWN_SETTINGS):
        command.append("--no-control-socket")  # gunicorn 25+: no socket under $HOME
    with serving(command, example_env(server, FLAG), tmp_path / "gunicorn.log",
                 signal.SIGTERM) as proc:
        yield proc, f"http://127.0.0.1:{port}"


def test_gunicorn_workers_stream_and_flush_on_graceful_stop(
    server: FakeSplitServer, gunicorn: tuple[subprocess.Popen[bytes], str]
) -> None:
    server.set_flags([rollout_flag(FLAG, (("on", 100),))])
    proc, base = gunicorn

    traffic = stream_and_update(server, base, FLAG, workers=2)

    # Graceful stop: every worker destroys its factory, flushing what it recorded.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert_delivered(server, traffic, FLAG)
