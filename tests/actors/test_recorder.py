"""A recorder alone, on a fake clock and a scripted destination: it sends what the intake holds
every period, or sooner when the intake fills; keeps and retries what failed, with backoff;
isolates the records a service refuses; and flushes everything when stopped, counting what
could not be delivered."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from splitio_async.actors.recorder import FINAL_RETRY_CAP, Recorder
from splitio_async.runtime.intake import Intake
from splitio_async.transport.errors import APIError
from tests.actors.fakes import FakeClock, eventually, running

pytestmark = pytest.mark.anyio

PERIOD = 60.0


class Destination:
    """Records the bulks it accepts; ``failures`` are raised first, ``bad`` items refused."""

    def __init__(self) -> None:
        self.bulks: list[list[int]] = []
        self.failures: list[Exception] = []
        self.bad: set[int] = set()

    async def send(self, bulk: Sequence[int]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        if self.bad & set(bulk):
            raise APIError("events/bulk: HTTP 400", 400)
        self.bulks.append(list(bulk))

    @property
    def sent(self) -> list[int]:
        return [item for bulk in self.bulks for item in bulk]


def recorder(clock: FakeClock, destination: Destination, intake: Intake[int],
             **options: object) -> Recorder[int, int]:
    return Recorder("events", intake, list, destination.send, PERIOD, 3,
                    retry_base=1.0, retry_cap=8.0, clock=clock, **options)  # type: ignore[arg-type]


async def test_what_is_queued_is_sent_in_bulks_every_period() -> None:
    clock, destination, intake = FakeClock(), Destination(), Intake[int](100, 50)
    events = recorder(clock, destination, intake)
    async with running(events):
        for item in range(5):
            intake.append(item)
        await clock.advance(PERIOD - 1)
        assert destination.bulks == []
        await clock.advance(1)
        assert destination.bulks == [[0, 1, 2], [3, 4]]
    assert events.delivered == 5


async def test_a_filling_intake_wakes_the_recorder_before_the_period() -> None:
    clock, destination, intake = FakeClock(), Destination(), Intake[int](100, 4)
    async with running(recorder(clock, destination, intake)):
        for item in range(4):
            intake.append(item)
        await eventually(lambda: destination.sent == [0, 1, 2, 3])
        assert clock.now() == 1000.0  # no time passed


async def test_a_failed_bulk_is_kept_and_retried_sooner_with_backoff() -> None:
    clock, destination, intake = FakeClock(), Destination(), Intake[int](100, 50)
    events = recorder(clock, destination, intake)
    destination.failures = [APIError("events/bulk: HTTP 503", 503)] * 2
    async with running(events):
        intake.append(1)
        await clock.advance(PERIOD)
        assert destination.bulks == [] and events.pending == 1
        assert "sending failed" in (events.last_problem or "")
        [wait] = clock.sleepers
        assert 0.5 <= wait <= 1.0
        await clock.advance(wait)
        [wait] = clock.sleepers
        assert 1.0 <= wait <= 2.0
        await clock.advance(wait)
        assert destination.sent == [1] and events.last_problem is None
        assert clock.sleepers == []  # nothing left: no timer until the next record
        intake.append(2)
        await clock.settle()
        assert clock.sleepers == [PERIOD]  # back to the period


async def test_records_the_service_refuses_are_dropped_and_the_others_delivered() -> None:
    clock, destination, intake = FakeClock(), Destination(), Intake[int](100, 50)
    events = recorder(clock, destination, intake)
    destination.bad = {4}
    async with running(events):
        for item in range(6):
            intake.append(item)
        await clock.advance(PERIOD)
    assert sorted(destination.sent) == [0, 1, 2, 3, 5]
    assert (events.delivered, events.dropped) == (5, 1)


async def test_stop_flushes_everything_retrying_until_it_is_delivered() -> None:
    clock, destination, intake = FakeClock(), Destination(), Intake[int](100, 50)
    events = recorder(clock, destination, intake)
    destination.failures = [APIError("events/bulk: HTTP 503", 503)] * 3
    async with anyio.create_task_group() as tg:
        await tg.start(events.run)
        intake.append(1)
        events.stop()
        await clock.settle()
        while clock.sleepers:  # each retry within FINAL_RETRY_CAP, until delivered
            [wait] = clock.sleepers
            assert wait <= FINAL_RETRY_CAP
            await clock.advance(wait)
    assert destination.sent == [1] and events.lost == 0 and destination.failures == []


async def test_what_the_deadline_cuts_off_is_counted_as_lost() -> None:
    clock, destination, intake = FakeClock(), Destination(), Intake[int](100, 50)
    events = recorder(clock, destination, intake)
    destination.failures = [APIError("events/bulk: HTTP 503", 503)] * 100
    async with anyio.create_task_group() as tg:
        await tg.start(events.run)
        intake.append(1)
        intake.append(2)
        events.stop()
        await clock.advance(5)
        tg.cancel_scope.cancel()  # the factory's shutdown deadline
    assert events.lost == 2 and destination.sent == []


async def test_a_service_that_never_answered_is_not_waited_for_at_stop() -> None:
    clock, destination, intake = FakeClock(), Destination(), Intake[int](100, 50)
    events = recorder(clock, destination, intake, give_up=lambda: True)
    destination.failures = [APIError("events/bulk: connection refused")] * 10
    async with anyio.create_task_group() as tg:
        await tg.start(events.run)
        intake.append(1)
        events.stop()
    assert events.lost == 1


async def test_undelivered_records_past_the_bound_are_dropped_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, destination, intake = FakeClock(), Destination(), Intake[int](100, 50)
    events = recorder(clock, destination, intake, max_pending=4)
    destination.failures = [APIError("events/bulk: HTTP 503", 503)] * 10
    async with running(events):
        for item in range(6):
            intake.append(item)
        await clock.advance(PERIOD)
        assert events.pending == 4 and events.dropped == 2
    assert "events: 2 records dropped" in caplog.text


async def test_a_bug_preparing_records_loses_them_but_not_the_recorder() -> None:
    clock, destination, intake = FakeClock(), Destination(), Intake[int](100, 50)
    calls = []

    def prepare(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("bug")
        return items

    events = Recorder("events", intake, prepare, destination.send, PERIOD, 3, clock=clock)
    async with running(events):
        intake.append(1)
        await clock.advance(PERIOD)
        intake.append(2)
        await clock.advance(PERIOD)
    assert events.lost == 1 and destination.sent == [2]


async def test_an_idle_recorder_sets_no_timer_until_the_next_record() -> None:
    clock, destination, intake = FakeClock(), Destination(), Intake[int](100, 50)
    async with running(recorder(clock, destination, intake)):
        await clock.advance(10 * PERIOD)
        assert clock.sleepers == [] and destination.bulks == []
        intake.append(1)
        await clock.settle()
        assert clock.sleepers == [PERIOD]
        await clock.advance(PERIOD)
        assert destination.sent == [1] and clock.sleepers == []
