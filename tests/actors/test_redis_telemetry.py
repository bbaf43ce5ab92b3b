"""Redis consumer mode's telemetry actor alone, on a fake clock and a fake sink: it sums the hot
path's latencies and failed evaluations, writes the totals every period, and keeps them for the
next write when Redis fails."""

from __future__ import annotations

from collections import Counter

import pytest

from splitio_async.models.telemetry import EXCEPTION, NOT_READY_CALL, CallRecord, bucket_index
from splitio_async.redis.sink import TELEMETRY_PERIOD, RedisTelemetry
from splitio_async.runtime.intake import Intake
from tests.actors.fakes import FakeClock, running

pytestmark = pytest.mark.anyio


class Sink:
    def __init__(self) -> None:
        self.writes: list[tuple[Counter[tuple[str, int]], Counter[str]]] = []
        self.fail = 0

    async def write_telemetry(
        self, latencies: Counter[tuple[str, int]], exceptions: Counter[str]
    ) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("Redis is down")
        self.writes.append((latencies, exceptions))


async def test_totals_are_written_every_period() -> None:
    sink, calls, clock = Sink(), Intake[CallRecord](1000, 500), FakeClock()
    telemetry = RedisTelemetry(sink, calls, clock=clock)  # type: ignore[arg-type]
    async with running(telemetry):
        calls.append(("t", 10))
        calls.append(("t", 10))
        calls.append(("tr", EXCEPTION))
        calls.append(NOT_READY_CALL)  # not a latency
        await clock.advance(TELEMETRY_PERIOD - 1)
        assert sink.writes == []
        await clock.advance(1)
    [(latencies, exceptions)] = sink.writes
    assert latencies == Counter({("t", bucket_index(10)): 2})
    assert exceptions == Counter({"tr": 1})
    assert telemetry.written == 3


async def test_what_redis_refused_is_written_with_the_next_totals() -> None:
    sink, calls, clock = Sink(), Intake[CallRecord](1000, 500), FakeClock()
    sink.fail = 1
    telemetry = RedisTelemetry(sink, calls, clock=clock)  # type: ignore[arg-type]
    async with running(telemetry):
        calls.append(("t", 10))
        await clock.advance(TELEMETRY_PERIOD)
        calls.append(("t", 10))
        await clock.advance(TELEMETRY_PERIOD)
    [(latencies, _)] = sink.writes
    assert latencies == Counter({("t", bucket_index(10)): 2})
