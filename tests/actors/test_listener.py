"""The impression listener's actor alone, on a fake clock: it awaits what ``async def``
listeners return, one at a time and in order, abandons one that hangs past ``CALL_TIMEOUT``,
logs one that raises, and at stop handles what is queued."""

from __future__ import annotations

import anyio
import pytest

from splitio_async.actors.listener import CALL_TIMEOUT, ListenerActor
from tests.actors.fakes import WAIT, FakeClock, running

pytestmark = pytest.mark.anyio


async def test_calls_are_awaited_one_at_a_time_in_order() -> None:
    done: list[int] = []

    async def listener_call(number: int) -> None:
        done.append(number)

    clock = FakeClock()
    actor = ListenerActor(clock)
    async with running(actor):
        for number in range(3):
            actor.submit(listener_call(number))
        await clock.settle()
        assert done == [0, 1, 2]


async def test_a_hanging_call_is_abandoned_after_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[str] = []

    async def hangs() -> None:
        await anyio.sleep_forever()

    async def quick() -> None:
        done.append("quick")

    clock = FakeClock()
    actor = ListenerActor(clock)
    async with running(actor):
        actor.submit(hangs())
        actor.submit(quick())
        await clock.advance(CALL_TIMEOUT - 0.1)
        assert done == []
        await clock.advance(0.1)
        assert done == ["quick"]
    assert "took longer than" in caplog.text


async def test_a_call_that_raises_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[str] = []

    async def raises() -> None:
        raise RuntimeError("listener bug")

    async def quick() -> None:
        done.append("quick")

    clock = FakeClock()
    actor = ListenerActor(clock)
    async with running(actor):
        actor.submit(raises())
        actor.submit(quick())
        await clock.settle()
    assert done == ["quick"] and "Impression listener raised" in caplog.text


async def test_stop_handles_what_is_queued_then_ends() -> None:
    done: list[int] = []

    async def listener_call(number: int) -> None:
        done.append(number)

    actor = ListenerActor(FakeClock())
    actor.submit(listener_call(1))
    actor.submit(listener_call(2))
    actor.stop()
    with anyio.fail_after(WAIT):
        await actor.run()
    assert done == [1, 2]
