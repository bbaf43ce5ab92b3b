"""Awaits what an ``async def log_impression`` returns, outside the evaluation that produced it.

The listener is called inline (the official contract), but its coroutine runs here, each one under
a timeout, so an async listener that is slow or hangs never holds up an evaluation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from .._threads import to_worker_thread
from ..runtime.clock import SYSTEM_CLOCK
from ..transport.protocols import Clock
from .serial import SerialWorker

_LOGGER = logging.getLogger("splitio.client.listener")

QUEUE_SIZE = 10_000  # pending listener calls; beyond that they are dropped and counted
CALL_TIMEOUT = 5.0


class WorkerThreadListener:
    """Wraps a plain ``log_impression`` so that it runs in a worker thread instead of inline
    (config ``impressionListenerDelivery: "worker"``): the evaluation only creates a coroutine,
    which the listener actor awaits under its timeout, abandoning a call that hangs."""

    def __init__(self, listener: Any) -> None:
        self._listener = listener

    def log_impression(self, data: dict[str, Any]) -> Awaitable[None]:
        return _in_worker_thread(self._listener.log_impression, data)


async def _in_worker_thread(log_impression: Any, data: dict[str, Any]) -> None:
    outcome = await to_worker_thread(log_impression, data, abandon_on_cancel=True)
    if hasattr(outcome, "__await__"):
        await outcome


class ListenerActor(SerialWorker[Awaitable[Any]]):
    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(QUEUE_SIZE)
        self._clock = clock

    async def handle(self, outcome: Awaitable[Any]) -> None:
        try:
            with self._clock.deadline(CALL_TIMEOUT) as deadline:
                await outcome
        except Exception:
            _LOGGER.exception("Impression listener raised; the evaluation was not affected")
            return
        if deadline.cancelled_caught:
            _LOGGER.error("Impression listener took longer than %ss; abandoned", CALL_TIMEOUT)

    def discard(self, outcome: Awaitable[Any]) -> None:
        close = getattr(outcome, "close", None)
        if close is not None:
            close()
