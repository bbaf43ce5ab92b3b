"""The telemetry actor alone, on a fake clock: it drains the hot path's call records when woken
or every few seconds, posts usage every period and once more at stop, posts the config once
after ready, and keeps a usage body it could not post for the next period."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from splitio_async.actors.telemetry import DRAIN_PERIOD, TelemetryActor
from splitio_async.lifecycle import FactoryState
from splitio_async.models.telemetry import (
    EXCEPTION,
    NOT_READY_CALL,
    CallRecord,
    ConfigSettings,
    RecordingStats,
)
from splitio_async.runtime.intake import Intake
from tests.actors.fakes import WAIT, FakeClock, running

pytestmark = pytest.mark.anyio

PERIOD = 3600.0


class TelemetryAPI:
    def __init__(self) -> None:
        self.configs: list[dict[str, Any]] = []
        self.usages: list[dict[str, Any]] = []
        self.fail_usage = 0

    async def post_telemetry_config(self, body: dict[str, Any]) -> None:
        self.configs.append(body)

    async def post_telemetry_usage(self, body: dict[str, Any]) -> None:
        if self.fail_usage:
            self.fail_usage -= 1
            raise OSError("refused")
        self.usages.append(body)


def actor(api: TelemetryAPI, intake: Intake[CallRecord], clock: FakeClock) -> TelemetryActor:
    settings = ConfigSettings(True, {"sp": 30, "se": 30, "im": 300, "ev": 10, "te": 60}, {},
                              10, 10, "NONE", False, False, 0, 0)
    return TelemetryActor(api, intake, FactoryState(), settings, PERIOD,
                          lambda: RecordingStats(1, 2, 3, 4, 5), lambda: (1, 0), clock=clock)


async def test_usage_is_posted_every_period_and_at_stop() -> None:
    api, intake, clock = TelemetryAPI(), Intake[CallRecord](1000, 500), FakeClock()
    telemetry = actor(api, intake, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(telemetry.run)
        intake.append(("t", 10))
        intake.append(("tr", EXCEPTION))
        await clock.advance(PERIOD - DRAIN_PERIOD)
        assert api.usages == []
        await clock.advance(DRAIN_PERIOD)
        assert len(api.usages) == 1
        intake.append(("ts", 2000))
        await clock.advance(PERIOD)
        with anyio.fail_after(WAIT):
            await telemetry.flush_final()
    first, middle, last = api.usages
    assert first["mL"]["t"][0] == 1 and first["mE"]["tr"] == 1
    assert middle["mL"]["ts"][2] == 1  # 2000 µs: (1500, 2250]
    assert sum(map(sum, last["mL"].values())) == 0
    assert (last["iQ"], last["iDe"], last["iDr"], last["eQ"], last["eD"]) == (1, 2, 3, 4, 5)
    assert not api.configs  # never ready: no config


async def test_calls_arriving_are_drained_every_few_seconds_and_idle_it_sleeps() -> None:
    api, intake, clock = TelemetryAPI(), Intake[CallRecord](1000, 500), FakeClock()

    async def post_while_called(body: dict[str, Any]) -> None:
        api.usages.append(body)
        intake.append(("t", 10))  # a call made while the usage post is in flight

    api.post_telemetry_usage = post_while_called  # type: ignore[method-assign]
    async with running(actor(api, intake, clock)):
        assert clock.sleepers == [PERIOD]  # idle: nothing until the post
        await clock.advance(PERIOD)
        assert len(api.usages) == 1 and len(intake) == 1
        assert clock.sleepers == [DRAIN_PERIOD]  # calls arrive: drained within seconds
        await clock.advance(DRAIN_PERIOD)
        assert len(intake) == 0 and clock.sleepers == [PERIOD - DRAIN_PERIOD]


async def test_a_usage_post_that_failed_goes_out_with_the_next() -> None:
    api, intake, clock = TelemetryAPI(), Intake[CallRecord](1000, 500), FakeClock()
    api.fail_usage = 1
    telemetry = actor(api, intake, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(telemetry.run)
        intake.append(("t", 10))
        await clock.advance(PERIOD)  # refused
        assert api.usages == []
        await clock.advance(PERIOD)
        tg.cancel_scope.cancel()
    assert api.usages[0]["mL"]["t"][0] == 1


async def test_the_config_is_posted_once_when_told_ready() -> None:
    api, intake, clock = TelemetryAPI(), Intake[CallRecord](1000, 500), FakeClock()
    telemetry = actor(api, intake, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(telemetry.run)
        intake.append(NOT_READY_CALL)
        telemetry.record_block_until_ready_timeout()
        telemetry.record_ready(1500.4)
        telemetry.record_ready(1500.4)
        await clock.settle()
        assert len(api.configs) == 1
        with anyio.fail_after(WAIT):
            await telemetry.flush_final()
    [config] = api.configs
    assert (config["nR"], config["bT"], config["tR"], config["iM"]) == (1, 1, 1500, 2)
    assert len(api.usages) == 1


async def test_a_filling_intake_wakes_the_actor_before_the_drain_period() -> None:
    api, intake, clock = TelemetryAPI(), Intake[CallRecord](100, 50), FakeClock()
    async with running(actor(api, intake, clock)):
        for _ in range(3):
            for _ in range(60):
                intake.append(("t", 10))
            await clock.settle()  # woken at 50: drained, waiting again; no time passed
            assert len(intake) == 0
    assert intake.dropped == 0
