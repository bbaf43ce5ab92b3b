"""The cache writer alone, on a fake clock: it writes what the SDK holds every ``WRITE_PERIOD``
while data keeps changing (once live data is in), not when nothing changed, and once more when
the factory stops."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from splitio_async.actors.bootstrap import WRITE_PERIOD, CacheWriter
from splitio_async.actors.messages import ApplyFlags
from splitio_async.models.splits import parse_split
from splitio_async.status import Change, ChangeFeed
from splitio_async.storage.snapshot import FlagChanges
from tests.actors.fakes import FakeClock, Storage, eventually
from tests.helpers import rollout_flag

pytestmark = pytest.mark.anyio


def held_flags(path: Path) -> set[str]:
    return {flag["name"] for flag in json.loads(path.read_text())["ff"]["d"]}


async def test_the_cache_is_written_each_period_while_data_changes(tmp_path: Path) -> None:
    storage, clock, feed = Storage(), FakeClock(), ChangeFeed()
    path = tmp_path / "cache.json"
    writer = CacheWriter(storage.state, str(path), feed.subscribe(), clock)
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        await clock.advance(WRITE_PERIOD)
        assert writer.writes == 0  # no live data yet
        storage.writer.apply_now(ApplyFlags(FlagChanges(
            flags=(parse_split(rollout_flag("f", changeNumber=5)),), flags_till=5)))
        await clock.advance(WRITE_PERIOD)
        await eventually(lambda: writer.writes == 1)
        assert held_flags(path) == {"f"}
        await clock.advance(3 * WRITE_PERIOD)
        await eventually(lambda: len(clock.sleepers) == 1)
        assert writer.writes == 1  # nothing changed since
        storage.writer.apply_now(ApplyFlags(FlagChanges(
            flags=(parse_split(rollout_flag("g", changeNumber=6)),), flags_till=6)))
        tg.cancel_scope.cancel()  # the factory stops: one last write
    feed.close()
    assert writer.writes == 1  # the change was never published to the feed: not dirty


async def test_a_change_published_since_the_last_write_is_written_at_stop(
    tmp_path: Path,
) -> None:
    storage, clock, feed = Storage(), FakeClock(), ChangeFeed()
    path = tmp_path / "cache.json"
    writer = CacheWriter(storage.state, str(path), feed.subscribe(), clock)
    storage.writer.apply_now(ApplyFlags(FlagChanges(
        flags=(parse_split(rollout_flag("f", changeNumber=5)),), flags_till=5)))
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        await clock.advance(WRITE_PERIOD)
        await eventually(lambda: writer.writes == 1 and len(clock.sleepers) == 1)
        storage.writer.apply_now(ApplyFlags(FlagChanges(
            flags=(parse_split(rollout_flag("g", changeNumber=6)),), flags_till=6)))
        feed.publish(Change("flags", frozenset({"g"}), 6))
        await clock.settle()
        tg.cancel_scope.cancel()  # before the period is over
    feed.close()
    assert writer.writes == 2 and held_flags(path) == {"f", "g"}
