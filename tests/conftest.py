"""Shared fixtures: both anyio backends, a blocking-call detector, and clean global state.

Rules for every test module: no sleeps where an event can be awaited, a bound on anything that
waits (``anyio.fail_after``), loopback addresses only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from blockbuster import BlockBuster, blockbuster_ctx

from splitio_async import SplitFactory
from splitio_async.lifecycle import live_factories
from tests.fakes.split_server import FakeSplitServer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CONFORMANCE = SHARED / "conformance"


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {"debug": True}), id="asyncio"),
        pytest.param(("trio", {}), id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _blockbuster() -> Iterator[BlockBuster]:
    """Fail any blocking call made inside a running asyncio loop (the SDK's or the test's)."""
    with blockbuster_ctx("splitio_async") as detector:
        yield detector


@pytest.fixture(autouse=True)
def _reset_live_factories() -> Iterator[None]:
    live_factories.reset()
    yield
    live_factories.reset()


@pytest.fixture(autouse=True)
def _splitio_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="splitio")


@pytest.fixture
def server() -> Iterator[FakeSplitServer]:
    """A fresh fake Split server on 127.0.0.1 (tests/fakes/split_server.py)."""
    with FakeSplitServer() as fake:
        yield fake


@pytest.fixture
async def factories() -> AsyncIterator[list[SplitFactory]]:
    """Factories a test appends here are destroyed after it, whatever happened."""
    started: list[SplitFactory] = []
    yield started
    for factory in started:
        with anyio.fail_after(10):
            await factory.destroy()
