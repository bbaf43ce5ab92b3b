"""Bootstrap and the cache writer alone: a snapshot file (or a preforked master's data) is served
at once and says what the first live fetches must replace; the cache writer, on a fake clock,
writes what the SDK holds every ``WRITE_PERIOD`` while data keeps changing (once live data is
in), not when nothing changed, and once more when the factory stops."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from splitio_async.actors.bootstrap import WRITE_PERIOD, CacheWriter, Served, bootstrap
from splitio_async.actors.messages import ApplyFlags
from splitio_async.models.splits import parse_split
from splitio_async.status import Change, ChangeFeed
from splitio_async.storage.snapshot import FlagChanges
from tests.actors.fakes import FakeClock, Storage, eventually, running
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


async def test_a_snapshot_file_is_served_at_once_and_replaced_by_live_data(
    tmp_path: Path,
) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps({
        "ff": {"d": [rollout_flag("f", changeNumber=5)], "s": -1, "t": 5},
        "segments": {"vip": {"keys": ["a"], "till": 3}},
    }))
    storage = Storage()
    async with running(storage):
        served = await bootstrap(storage.writer, (None, str(path)))
    assert served == Served(str(path), True, frozenset({"vip"}))
    assert set(storage.snapshot.flags) == {"f"} and storage.ready_calls == 1
    assert storage.snapshot.segments["vip"] == {"a"}


async def test_a_preforked_masters_data_is_served_and_kept(tmp_path: Path) -> None:
    master = Storage()
    master.writer.apply_now(ApplyFlags(FlagChanges(
        flags=(parse_split(rollout_flag("f", changeNumber=5)),), flags_till=5)))
    storage = Storage()
    async with running(storage):
        served = await bootstrap(storage.writer, (str(tmp_path / "unused.json"),),
                                 seed=master.snapshot)
    assert served == Served("preforked master", False, frozenset())
    assert set(storage.snapshot.flags) == {"f"}


async def test_an_unusable_snapshot_is_logged_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text("[1, 2")
    storage = Storage()
    async with running(storage):
        assert await bootstrap(storage.writer, (str(path), None)) is None
    assert storage.ready_calls == 0 and "cannot be used" in caplog.text
