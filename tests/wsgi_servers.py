"""Shared by the tests that run a WSGI example under a real preforking server (test_gunicorn.py,
test_uwsgi.py): the example app's environment, the server process in its own process group, and
the scenario (every worker streams, sees a pushed update, and delivers what it recorded when the
server stops gracefully). Everything listens on 127.0.0.1 and every wait is bounded."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag


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


def example_env(server: FakeSplitServer, flag: str, **config: Any) -> dict[str, str]:
    """The environment of the example app (examples/wsgi_gunicorn/app.py), streaming from
    ``server``; ``config``: more SDK config keys."""
    return {
        **os.environ,
        "SPLIT_SDK_KEY": "SDK-KEY-0001",
        "SPLIT_SDK_URL": server.sdk_url,
        "SPLIT_EVENTS_URL": server.events_url,
        "SPLIT_AUTH_URL": server.auth_url,
        "SPLIT_STREAMING_URL": server.streaming_url,
        "SPLIT_TELEMETRY_URL": server.telemetry_url,
        "SPLIT_FLAG": flag,
        "SPLIT_CONFIG_JSON": json.dumps({
            "streamingEnabled": True, "machineIp": "127.0.0.1", "machineName": "test",
            "connectionTimeout": 1500, **config,
        }),
    }


@contextlib.contextmanager
def serving(
    command: list[str], env: dict[str, str], log: Path, stop: signal.Signals
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server in its own process group (output to ``log``). Afterwards: ``stop`` it if it
    still runs, then SIGKILL whatever is left of the group (a master that took more than 10 s,
    orphaned workers), so no process outlives the test; the end of the log is printed (shown on
    failure only)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(stop)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the master's leftover workers, if any
        if proc.poll() is None:
            proc.wait(5)
        sys.stdout.write(log.read_text(errors="replace")[-4000:])


class Traffic:
    """Requests to the example app that remember which worker recorded what."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.impressions: dict[str, str] = {}  # evaluated key -> worker pid
        self.events: dict[str, str] = {}  # tracked key -> worker pid

    def evaluate(self, key: str) -> tuple[str, str]:
        treatment, pid = get(f"{self.base}/flag?key={key}")
        self.impressions[key] = pid
        return treatment, pid

    def track(self, key: str) -> str:
        body, pid = get(f"{self.base}/track?key={key}")
        assert body == "True"
        self.events[key] = pid
        return pid

    def ping(self, expected: str, workers: int, each: int = 3) -> None:
        """Evaluations that see ``expected`` and tracked events, until every worker has served
        ``each`` of both (which worker accepts a connection is up to the server)."""
        evaluated: Counter[str] = Counter()
        tracked: Counter[str] = Counter()

        def everyone_served() -> bool:
            key = f"{expected}-{len(self.events)}"
            treatment, pid = self.evaluate(key)
            assert treatment == expected, (pid, treatment)
            evaluated[pid] += 1
            tracked[self.track(key)] += 1
            return all(len(served) == workers and min(served.values()) >= each
                       for served in (evaluated, tracked))

        until(everyone_served, 10, f"{workers} workers to serve {each} requests each")


def stream_and_update(
    server: FakeSplitServer, base: str, flag_name: str, workers: int, streams: int | None = None
) -> Traffic:
    """The flag is "on" in every worker, then a pushed SPLIT_UPDATE turns it "off" in every
    worker; each worker evaluates and tracks before and after. ``streams``: how many SSE
    connections to wait for (default one per worker)."""
    traffic = Traffic(base)
    # Every worker resumed the master's factory and opened its own stream.
    server.wait_for_streams(workers if streams is None else streams, timeout=10)
    server.push_occupancy("control_pri", 1)
    traffic.ping("on", workers)

    # A pushed update with its payload and the previous change number reaches every worker.
    old = server.flags_change_number
    flag = rollout_flag(flag_name, (("off", 100),))
    cn = server.upsert_flag(flag)
    server.push_split_update(cn, flag, pcn=old)
    updated: set[str] = set()

    def all_updated() -> bool:
        body, pid = get(f"{base}/flag?key=probe")
        if body == "off":
            updated.add(pid)
        return len(updated) == workers

    until(all_updated, 10, "every worker to serve the pushed update")
    traffic.ping("off", workers)
    return traffic


def assert_delivered(server: FakeSplitServer, traffic: Traffic, flag_name: str) -> None:
    """Every worker's events and impressions reached the server (after the graceful stop)."""
    events = {e["key"] for body in server.accepted("/api/events/bulk") for e in body
              if e["eventTypeId"] == "page_view"}
    missing = {key: pid for key, pid in traffic.events.items() if key not in events}
    assert not missing, f"events lost (key: worker pid): {missing}"
    impressions = {i["k"] for body in server.accepted("/api/testImpressions/bulk")
                   for group in body if group["f"] == flag_name for i in group["i"]}
    missing = {key: pid for key, pid in traffic.impressions.items() if key not in impressions}
    assert not missing, f"impressions lost (key: worker pid): {missing}"
