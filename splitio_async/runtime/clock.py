"""The real clock: the ``Clock`` port over ``time`` and anyio. Actors take a ``clock`` argument
defaulting to ``SYSTEM_CLOCK``; tests pass a fake one they move by hand."""

from __future__ import annotations

import time

import anyio


class SystemClock:
    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def deadline(self, seconds: float, shield: bool = False) -> anyio.CancelScope:
        return anyio.move_on_after(seconds, shield=shield)


SYSTEM_CLOCK = SystemClock()
