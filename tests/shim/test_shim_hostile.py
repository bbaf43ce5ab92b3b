"""The blocking shim against a hostile Split service (tests/e2e/test_hostile_server.py has the
full list, on the async API): a gzip bomb, a 1 GB body and an endless stream line, with the
portal's event loop on asyncio and on trio. The caller's threads keep evaluating on the last
good data; the portal's loop never stalls past ``STALL_BOUND_S``; memory stays within
``RSS_BOUND_MB``; one log line; recovery."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from splitio_sync_shim import get_factory
from tests.fakes.hostile import (
    RSS_BOUND_MB,
    STALL_BOUND_S,
    LoopWatch,
    MiB,
    PeakRss,
    endless,
    gzip_bomb_body,
    sized,
)
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag

FLAGS = "/api/splitChanges"
CONFIG: dict[str, Any] = {
    "streamingEnabled": False,
    "featuresRefreshRate": 0.05,
    "segmentsRefreshRate": 0.05,
    "syncRetryBackoffBase": 0.02,
    "syncRetryBackoffMax": 0.1,
    "streamingReconnectBackoffBase": 0.02,
    "streamingKeepaliveTimeout": 1.0,
    "machineIp": "127.0.0.1",
    "machineName": "test",
}


def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for r in caplog.records
               if r.levelno >= logging.WARNING and text in r.getMessage())


class Measure:
    """Peak memory of the process and the longest stall of the portal's loop."""

    def __init__(self, factory: Any) -> None:
        self.rss = PeakRss()
        self.rss.reset()
        self.watch = LoopWatch()
        self._task = factory._portal.portal.start_task_soon(self.watch.run)  # the shim's loop

    def check(self, name: str) -> None:
        self._task.cancel()
        peak = self.rss.above_baseline_mb()
        print(f"\n[hostile] shim {name}: peak RSS +{peak:.0f} MB, longest loop stall "
              f"{self.watch.worst * 1000:.0f} ms ({self.watch.samples} samples)")
        assert self.watch.samples > 0
        assert peak < RSS_BOUND_MB
        assert self.watch.worst < STALL_BOUND_S


BODIES = {
    "gzip bomb (1 GiB unpacked)": (gzip_bomb_body, {"Content-Encoding": "gzip"}),
    "1 GB body": (lambda: sized(1000 * MiB), {"Content-Length": str(1000 * MiB)}),
}


@pytest.mark.parametrize("attack", list(BODIES))
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_huge_answers_keep_the_shim_serving_the_last_good_data(
    server: FakeSplitServer, caplog: pytest.LogCaptureFixture, backend: str, attack: str
) -> None:
    server.set_flags([rollout_flag("f", (("good", 100),))])
    factory = get_factory("SDK-KEY-0001", config=CONFIG, async_backend=backend,
                          **server.url_kwargs())
    assert factory is not None
    try:
        factory.block_until_ready(5)
        client = factory.client()
        server.wait_for_requests(FLAGS, len(server.requests_to(FLAGS)) + 2, 5)
        body, headers = BODIES[attack]
        chunks = body()
        measure = Measure(factory)
        server.serve_generated(FLAGS, chunks, headers=headers)
        before = len(server.requests_to(FLAGS))
        while len(server.requests_to(FLAGS)) < before + 3:  # evaluating all along
            assert client.get_treatment("k", "f") == "good"
            time.sleep(0.005)
        wait_until(lambda: "feature flags" in factory.status().last_errors)
        measure.check(f"{attack} [{backend}]")
        assert "httpMaxResponseBytes" in factory.status().last_errors["feature flags"]
        assert lines(caplog, "httpMaxResponseBytes") == 1
        server.clear_faults()
        server.set_flags([rollout_flag("f", (("recovered", 100),))])
        wait_until(lambda: client.get_treatment("k", "f") == "recovered")
        wait_until(lambda: "feature flags" not in factory.status().last_errors)
    finally:
        factory.destroy()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_endless_stream_line_is_cut_and_streaming_recovers(
    server: FakeSplitServer, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    server.set_flags([rollout_flag("f", (("good", 100),))])
    server.stream_keepalive = 0.2
    server.greet_streams(server.occupancy_event())
    factory = get_factory("SDK-KEY-0001", config={**CONFIG, "streamingEnabled": True},
                          async_backend=backend, **server.url_kwargs())
    assert factory is not None
    try:
        factory.block_until_ready(5)
        wait_until(lambda: factory.status().sync_mode == "streaming")
        measure = Measure(factory)
        server.greet_streams(server.occupancy_event(), endless(b"a" * MiB, prefix=b"data: "))
        server.close_streams()
        wait_until(lambda: len(server.requests_to("/event-stream")) >= 4, 20)
        server.upsert_flag(rollout_flag("f", (("polled", 100),)))
        wait_until(lambda: factory.client().get_treatment("k", "f") == "polled")
        measure.check(f"endless stream line [{backend}]")
        assert "streamingMaxLineBytes" in factory.status().last_errors["streaming"]
        assert lines(caplog, "streamingMaxLineBytes") == 1
        server.clear_faults()
        server.greet_streams(server.occupancy_event())
        wait_until(lambda: factory.status().sync_mode == "streaming"
                   and "streaming" not in factory.status().last_errors, 15)
    finally:
        factory.destroy()
