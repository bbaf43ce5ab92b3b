"""``periodic``: the one loop behind every "every N seconds" of the SDK (polling, file reloads,
recorder flushes, telemetry posts, cache writes), like LaunchDarkly's ``RepeatingTask``.

Time comes from a ``Clock``, so a test drives the loop by moving a fake clock instead of
sleeping. A step decides its own next wait: failing steps retry sooner with backoff, steps with
a deadline of their own wait exactly until it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..transport.protocols import Clock
from .clock import SYSTEM_CLOCK
from .waker import Waker


async def periodic(
    step: Callable[[], Awaitable[float | None]],
    period: float,
    *,
    clock: Clock = SYSTEM_CLOCK,
    wake: Waker | None = None,
    until: Callable[[], bool] | None = None,
    idle: Callable[[], bool] | None = None,
) -> None:
    """Wait ``period`` seconds (less when ``wake`` is set meanwhile), run ``step``, and again,
    until ``until()`` is true before a wait, or the caller is cancelled.

    ``step`` returns the wait before its next run: ``None`` for ``period``. It handles its own
    failures: an exception it raises ends the loop. ``idle()``, asked before a wait of a whole
    period, says there is nothing to do until ``wake`` is set: then the loop sets no timer
    until it is (an idle factory does not wake up every period for nothing)."""
    wait = period
    while until is None or not until():
        if wake is None:
            await clock.sleep(wait)
        else:
            if idle is not None and wait == period and idle():
                await wake.wait()  # nothing to do until woken: no timer meanwhile
                if until is not None and until():
                    return
            with clock.deadline(wait):
                await wake.wait()
        next_wait = await step()
        wait = period if next_wait is None else next_wait
