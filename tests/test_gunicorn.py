"""The gunicorn example (examples/wsgi_gunicorn) under a real gunicorn: 2 preforked workers x 2
threads against the fake Split server on 127.0.0.1, with streaming. Both workers serve the flag,
both receive a pushed SPLIT_UPDATE, and a graceful stop (SIGTERM) delivers every tracked event.
Every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag

gunicorn_config = pytest.importorskip("gunicorn.config")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="gunicorn needs fork")

CONF = REPO / "examples" / "wsgi_gunicorn" / "gunicorn.conf.py"
FLAG = "gunicorn_flag"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[str, str]:
    """(body, worker pid) of one GET (a new connection each time)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode(), response.headers["X-Worker-Pid"]


def until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def gunicorn(
    server: FakeSplitServer, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {
        **os.environ,
        "SPLIT_SDK_KEY": "SDK-KEY-0001",
        "SPLIT_SDK_URL": server.sdk_url,
        "SPLIT_EVENTS_URL": server.events_url,
        "SPLIT_AUTH_URL": server.auth_url,
        "SPLIT_STREAMING_URL": server.streaming_url,
        "SPLIT_TELEMETRY_URL": server.telemetry_url,
        "SPLIT_FLAG": FLAG,
        "SPLIT_CONFIG_JSON": json.dumps({
            "streamingEnabled": True, "machineIp": "127.0.0.1", "machineName": "test",
            "connectionTimeout": 1500,
        }),
    }
    command = [sys.executable, "-m", "gunicorn", "-c", str(CONF), "-b", f"127.0.0.1:{port}",
               "--workers", "2", "--threads", "2", "--graceful-timeout", "10"]
    if any(s.name == "control_socket_disable" for s in gunicorn_config.KNOWN_SETTINGS):
        command.append("--no-control-socket")  # gunicorn 25+: no socket under $HOME
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        sys.stdout.write(log.read_text(errors="replace")[-4000:])  # shown on failure only


def test_gunicorn_workers_stream_and_flush_on_graceful_stop(
    server: FakeSplitServer, gunicorn: tuple[subprocess.Popen[bytes], str]
) -> None:
    flag = rollout_flag(FLAG, (("on", 100),))
    server.set_flags([flag])
    proc, base = gunicorn

    # Both workers resumed the master's factory and opened their own stream.
    server.wait_for_streams(2, timeout=10)
    server.push_occupancy("control_pri", 1)

    tracked: list[str] = []

    def ping(n: int, expected: str) -> None:
        """``n`` evaluations that see ``expected``, each followed by a tracked event."""
        for i in range(n):
            assert get(f"{base}/flag?key=user{i}")[0] == expected
            key = f"{expected}-{len(tracked)}"
            assert get(f"{base}/track?key={key}")[0] == "True"
            tracked.append(key)

    ping(10, "on")

    # A pushed update with its payload and the previous change number reaches both workers.
    old = server.flags_change_number
    flag = rollout_flag(FLAG, (("off", 100),))
    cn = server.upsert_flag(flag)
    server.push_split_update(cn, flag, pcn=old)
    updated: set[str] = set()

    def both_updated() -> bool:
        body, pid = get(f"{base}/flag?key=probe")
        if body == "off":
            updated.add(pid)
        return len(updated) == 2

    until(both_updated, 10, "both workers to serve the pushed update")
    ping(10, "off")

    # Graceful stop: every worker destroys its factory, flushing what it tracked.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    delivered = {e["key"] for body in server.accepted("/api/events/bulk") for e in body
                 if e["eventTypeId"] == "page_view"}
    assert set(tracked) <= delivered, sorted(set(tracked) - delivered)
