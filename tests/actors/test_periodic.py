"""``periodic`` and the fake clock the actor tests stand on: a step runs once per period of the
clock, sooner when woken, at the wait it asks for, until told to stop."""

from __future__ import annotations

import anyio
import pytest

from splitio_async.runtime.periodic import periodic
from splitio_async.runtime.waker import Waker
from tests.actors.fakes import FakeClock

pytestmark = pytest.mark.anyio


async def test_a_step_runs_once_per_period_of_the_clock() -> None:
    clock, runs = FakeClock(), []

    async def step() -> None:
        runs.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: periodic(step, 10.0, clock=clock))
        await clock.advance(9.9)
        assert runs == []
        await clock.advance(0.1)
        assert runs == [1010.0]
        await clock.advance(25)
        assert runs == [1010.0, 1020.0, 1030.0]
        tg.cancel_scope.cancel()


async def test_the_step_chooses_the_next_wait() -> None:
    clock, runs = FakeClock(), []
    waits = [1.0, None, 0.5]

    async def step() -> float | None:
        runs.append(clock.now() - 1000)
        return waits.pop(0) if waits else None

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: periodic(step, 10.0, clock=clock))
        await clock.advance(21.5)
        assert runs == [10.0, 11.0, 21.0, 21.5]
        tg.cancel_scope.cancel()


async def test_a_wake_runs_the_step_before_the_period_and_until_stops_the_loop() -> None:
    clock, runs, stop = FakeClock(), [], False

    async def step() -> None:
        runs.append(clock.now() - 1000)

    async with anyio.create_task_group() as tg:
        waker = Waker()
        tg.start_soon(lambda: periodic(step, 10.0, clock=clock, wake=waker, until=lambda: stop))
        await clock.advance(3)
        waker.set()
        await clock.settle()
        assert runs == [3.0]
        await clock.advance(10)  # the period counts again from the woken run
        assert runs == [3.0, 13.0]
        stop = True
        waker.set()
        await clock.settle()
        assert runs == [3.0, 13.0, 13.0]
        assert clock.sleepers == []  # the loop ended: nothing waits on the clock any more


async def test_a_deadline_cancels_only_its_own_scope_when_its_time_comes() -> None:
    clock = FakeClock()
    outcome: list[bool] = []

    async def wait_with_deadline() -> None:
        with clock.deadline(5) as scope:
            await anyio.sleep_forever()
        outcome.append(scope.cancelled_caught)

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_with_deadline)
        await clock.advance(4.9)
        assert outcome == [] and clock.sleepers == [pytest.approx(0.1)]
        await clock.advance(0.1)
        assert outcome == [True]
    assert clock.wall() == 1_700_000_005.0
