"""One task that works through calls queued from any thread, one at a time, in order.

The hot path (any thread of the sync shim, or the event loop) appends to a thread-safe ``Intake``
and never waits; the task is woken across threads and handles each item under whatever bound the
subclass sets. On stop, what is queued is still handled (the factory's shutdown deadline bounds
that); items left when the task is cancelled are passed to ``discard``.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskStatus

from ..runtime.intake import Intake
from ..runtime.waker import Waker

T = TypeVar("T")


class SerialWorker(Generic[T]):
    def __init__(self, queue_size: int) -> None:
        self.intake: Intake[T] = Intake(queue_size, 1)
        self._stopping = False
        self._waker: Waker | None = None

    def submit(self, item: T) -> bool:
        """Hot-path side (any thread): queue one item; False when the queue is full."""
        return self.intake.append(item)

    def stop(self) -> None:
        """Handle what is queued, then end (event loop thread)."""
        self._stopping = True
        if self._waker is not None:
            self._waker.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._waker = Waker()
        self.intake.set_waker(self._waker)
        task_status.started()
        try:
            while True:
                while batch := self.intake.drain(1):  # one at a time: the rest stays queued
                    await self.handle(batch[0])
                if self._stopping:
                    return
                await self._waker.wait()
        finally:
            self.intake.set_waker(None)
            for item in self.intake.drain():
                self.discard(item)

    async def handle(self, item: T) -> None:
        """Work on one item; never raises."""
        raise NotImplementedError

    def discard(self, item: T) -> None:
        """An item never handled (the task was cancelled first)."""
