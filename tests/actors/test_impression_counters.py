"""The impression counters alone (the impressions recorder's flush hook), on a fake clock: what
the impressions mode only counted goes out every 30 minutes (counts) and every 15 minutes or past
30,000 keys (unique keys), and at shutdown; a failed send is merged back for the next one."""

from __future__ import annotations

from typing import Any

import pytest

from splitio_async.actors.impression_counters import (
    COUNTS_PERIOD,
    UNIQUE_KEYS_PERIOD,
    ImpressionCounters,
)
from splitio_async.engine.impressions import ImpressionsStrategy
from splitio_async.transport.errors import APIError
from tests.actors.fakes import FakeClock

pytestmark = pytest.mark.anyio

HOUR_MS = 3_600_000


class Destination:
    def __init__(self) -> None:
        self.counts: list[dict[str, Any]] = []
        self.keys: list[dict[str, Any]] = []
        self.fail = 0

    async def post_impression_counts(self, body: dict[str, Any], mode: str) -> None:
        if self.fail:
            self.fail -= 1
            raise APIError("testImpressions/count: HTTP 503", 503)
        self.counts.append(body)

    async def post_unique_keys(self, body: dict[str, Any]) -> None:
        self.keys.append(body)


def counted(strategy: ImpressionsStrategy, key: str, flag: str = "f") -> None:
    """One evaluation in NONE mode: counted and its key tracked, never sent."""
    strategy.process([(key, flag, "on", "rule", 1, None, 5 * HOUR_MS + 1, None, False)])


async def test_counts_and_unique_keys_go_out_at_their_own_periods() -> None:
    clock, destination, strategy = FakeClock(), Destination(), ImpressionsStrategy("NONE")
    counters = ImpressionCounters(destination, strategy, "NONE", clock)
    counted(strategy, "k1")
    counted(strategy, "k2")
    await clock.advance(UNIQUE_KEYS_PERIOD - 1)
    await counters.flush(final=False)
    assert destination.counts == [] and destination.keys == []
    await clock.advance(1)
    await counters.flush(final=False)
    assert destination.keys == [{"keys": [{"f": "f", "ks": ["k1", "k2"]}]}]
    assert destination.counts == []
    await clock.advance(COUNTS_PERIOD - UNIQUE_KEYS_PERIOD)
    await counters.flush(final=False)
    assert destination.counts == [{"pf": [{"f": "f", "m": 5 * HOUR_MS, "rc": 2}]}]
    assert (counters.counts_sent, counters.unique_keys_sent) == (2, 2)


async def test_a_failed_count_is_merged_back_and_sent_with_the_next() -> None:
    clock, destination, strategy = FakeClock(), Destination(), ImpressionsStrategy("NONE")
    counters = ImpressionCounters(destination, strategy, "NONE", clock)
    counted(strategy, "k1")
    destination.fail = 1
    with pytest.raises(APIError):
        await counters.flush(final=True)
    counted(strategy, "k2")
    await counters.flush(final=True)
    assert destination.counts == [{"pf": [{"f": "f", "m": 5 * HOUR_MS, "rc": 2}]}]


async def test_the_final_flush_sends_everything_whatever_the_time() -> None:
    clock, destination, strategy = FakeClock(), Destination(), ImpressionsStrategy("NONE")
    counters = ImpressionCounters(destination, strategy, "NONE", clock)
    counted(strategy, "k1")
    await counters.flush(final=True)
    assert len(destination.counts) == 1 and len(destination.keys) == 1
