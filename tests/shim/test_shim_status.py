"""The blocking shim's ``status()``: a plain call from any thread, same answer as the async API."""

from __future__ import annotations

from pathlib import Path

import pytest

from splitio_sync_shim import FactoryStatus, get_factory
from tests.helpers import rollout_flag, write_split_changes


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_status_from_a_plain_thread(tmp_path: Path, backend: str) -> None:
    flags = write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("on", 100),))])
    factory = get_factory("localhost", config={"splitFile": str(flags)}, async_backend=backend)
    assert factory is not None
    factory.block_until_ready(5)
    assert factory.client().get_treatment("alice", "f") == "on"
    status = factory.status()
    assert isinstance(status, FactoryStatus)
    assert (status.ready, status.mode, status.sync_mode) == (True, "localhost", "files")
    assert status.queue_depths["impressions"] == 1
    factory.destroy()
    status = factory.status()
    assert status.destroyed and status.sync_mode == "none"
    assert status.delivered["impressions"] == 1
