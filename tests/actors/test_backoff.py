"""What the actors retry and log with: exponential backoff with jitter and a cap, problems
logged once per cycle, and floods of one kind of message logged once a minute (on a fake
clock). Plain sync tests: nothing here awaits."""

from __future__ import annotations

import logging

import pytest

from splitio_async.runtime.backoff import Backoff, ProblemLog, ThrottledLog
from tests.actors.fakes import FakeClock

LOGGER = logging.getLogger("splitio.test.backoff")


def test_waits_double_up_to_the_cap_each_jittered_to_half_or_more() -> None:
    backoff = Backoff(1.0, 8.0)
    for _ in range(50):
        backoff.reset()
        waits = [backoff.next() for _ in range(6)]
        for wait, ceiling in zip(waits, (1, 2, 4, 8, 8, 8), strict=True):
            assert ceiling / 2 <= wait <= ceiling


def test_reset_starts_over_from_the_base() -> None:
    backoff = Backoff(2.0, 100.0)
    for _ in range(5):
        backoff.next()
    backoff.reset()
    assert 1.0 <= backoff.next() <= 2.0


def test_a_problem_is_logged_once_per_cycle(caplog: pytest.LogCaptureFixture) -> None:
    problems = ProblemLog(LOGGER)
    for _ in range(3):
        problems.problem("Redis is down")
    problems.problem("Redis is slow", logging.ERROR)
    assert problems.current == "Redis is slow"
    problems.recovered("Redis")
    assert problems.current is None
    problems.problem("Redis is down")
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER.name]
    assert messages == ["Redis is down", "Redis is slow", "Redis: recovered", "Redis is down"]


def test_a_recovery_that_may_not_last_keeps_the_problems_seen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    problems = ProblemLog(LOGGER)
    problems.problem("stream cut")
    problems.recovered("streaming", forget=False)
    problems.problem("stream cut")
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER.name]
    assert messages == ["stream cut"]


def test_a_flood_is_logged_once_a_minute_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    throttled = ThrottledLog(LOGGER, 60.0, clock=clock.now)
    for _ in range(1000):
        throttled.log(logging.WARNING, "garbage", "Ignoring a streaming message: %s", "junk")
    throttled.log(logging.WARNING, "other", "Another kind")
    clock.jump(61)
    throttled.log(logging.WARNING, "garbage", "Ignoring a streaming message: %s", "junk")
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER.name]
    assert messages == [
        "Ignoring a streaming message: junk", "Another kind",
        "Ignoring a streaming message: junk (999 more like this in the last 61 s)",
    ]
    assert throttled.suppressed == 999
