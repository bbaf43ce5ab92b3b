"""The localhost source alone, on a fake clock: files loaded before the factory is handed out (a
bad file is an error naming it), then reloaded every period; a bad reload keeps the last good
data and shows until a reload succeeds."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from splitio_async.actors.localhost import LocalhostSource
from splitio_async.errors import LocalhostFileError
from splitio_async.lifecycle import READY
from tests.actors.fakes import WAIT, FakeClock, Storage, eventually, running
from tests.helpers import rollout_flag, segment_flag, write_segment, write_split_changes

pytestmark = pytest.mark.anyio

FLAGS_PERIOD, SEGMENTS_PERIOD = 5.0, 10.0


def source(storage: Storage, clock: FakeClock, tmp_path: Path) -> LocalhostSource:
    return LocalhostSource(storage.state, storage.writer, str(tmp_path / "flags.json"),
                           str(tmp_path), True, FLAGS_PERIOD, SEGMENTS_PERIOD, clock=clock)


async def advance(clock: FakeClock, seconds: float) -> None:
    """Move the clock, then wait until both reload loops sleep again (a reload reads its files
    in a worker thread, which the clock's settling does not wait for)."""
    await clock.advance(seconds)
    await eventually(lambda: len(clock.sleepers) == 2)


def treatment_of(storage: Storage, flag: str) -> str:
    return str(storage.snapshot.flags[flag].raw["conditions"][0]["partitions"][0]["treatment"])


async def test_flags_and_segments_are_loaded_before_it_reports_started(tmp_path: Path) -> None:
    write_split_changes(tmp_path / "flags.json", [segment_flag("f", "vip")])
    write_segment(tmp_path, "vip", ["a", "b"])
    storage, clock = Storage(), FakeClock()
    async with running(storage, source(storage, clock, tmp_path)):
        assert storage.state.status is READY
        assert set(storage.snapshot.flags) == {"f"}
        assert storage.snapshot.segments["vip"] == {"a", "b"}


async def test_a_bad_file_at_start_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "flags.json").write_text("{not json")
    storage, clock = Storage(), FakeClock()
    async with running(storage):
        with anyio.fail_after(WAIT), pytest.raises(LocalhostFileError, match=r"flags\.json"):
            await source(storage, clock, tmp_path).run()


async def test_a_changed_file_is_applied_at_the_next_period(tmp_path: Path) -> None:
    write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("v1", 100),))], till=1)
    storage, clock = Storage(), FakeClock()
    async with running(storage, source(storage, clock, tmp_path)):
        write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("v2", 100),))], till=2)
        await advance(clock, FLAGS_PERIOD - 0.5)
        assert treatment_of(storage, "f") == "v1"
        await advance(clock, 0.5)
        assert treatment_of(storage, "f") == "v2"


async def test_a_bad_reload_keeps_the_last_good_data_until_the_file_is_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("v1", 100),))], till=1)
    storage, clock = Storage(), FakeClock()
    localhost = source(storage, clock, tmp_path)
    async with running(storage, localhost):
        (tmp_path / "flags.json").write_text("{broken")
        await advance(clock, FLAGS_PERIOD)
        assert localhost.last_problem is not None
        await advance(clock, FLAGS_PERIOD)  # the same problem: not logged again
        assert "flags.json" in (localhost.last_problem or "")
        assert treatment_of(storage, "f") == "v1"
        write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("v3", 100),))], till=3)
        await advance(clock, FLAGS_PERIOD)
        assert localhost.last_problem is None
        assert treatment_of(storage, "f") == "v3"
    assert caplog.text.count("keeping the last good data") == 1


async def test_segments_are_reloaded_at_their_own_period(tmp_path: Path) -> None:
    write_split_changes(tmp_path / "flags.json", [segment_flag("f", "vip")])
    write_segment(tmp_path, "vip", ["a"], till=5)
    storage, clock = Storage(), FakeClock()
    async with running(storage, source(storage, clock, tmp_path)):
        write_segment(tmp_path, "vip", ["b"], till=6)
        await advance(clock, FLAGS_PERIOD)
        assert storage.snapshot.segments["vip"] == {"a"}
        await advance(clock, SEGMENTS_PERIOD - FLAGS_PERIOD)
        assert storage.snapshot.segments["vip"] == {"a", "b"}  # the file's delta, applied
