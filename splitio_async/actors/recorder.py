"""Recorder actors: drain an intake, send in bulks, retry what failed, flush on stop.

One class serves impressions and events; what differs (how raw items become what is sent, and what
else is flushed alongside, like impression counts) is passed in. Sends go to a ``RecordSink``
(Split's API, Redis, a test recorder, or the discarding sink of localhost mode).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskStatus

from .intake import Intake
from .waker import Waker

_LOGGER = logging.getLogger("splitio.recorder")

Raw = TypeVar("Raw")
Item = TypeVar("Item")


class Recorder(Generic[Raw, Item]):
    """Owns one intake. ``prepare`` turns raw items into items to send (impression modes);
    ``send`` delivers one bulk and raises on failure; ``on_flush`` runs after each flush."""

    def __init__(
        self,
        name: str,
        intake: Intake[Raw],
        prepare: Callable[[list[Raw]], list[Item]],
        send: Callable[[Sequence[Item]], Awaitable[None]],
        period: float,
        bulk_size: int,
        on_flush: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self._intake = intake
        self._prepare = prepare
        self._send = send
        self._period = period
        self._bulk_size = max(1, bulk_size)
        self._on_flush = on_flush
        self._retry: list[Item] = []
        self._stopping = False
        self._waker: Waker | None = None
        self.delivered = 0
        self.lost = 0

    def stop(self) -> None:
        """Ask for the final flush (loop thread)."""
        self._stopping = True
        if self._waker is not None:
            self._waker.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._waker = Waker()
        self._intake.set_waker(self._waker)
        task_status.started()
        try:
            while not self._stopping:
                with anyio.move_on_after(self._period):
                    await self._waker.wait()
                await self._flush(final=False)
            await self._flush(final=True)
        finally:
            self._intake.set_waker(None)
            left = len(self._retry) + len(self._intake)
            if left:
                self.lost += left
                _LOGGER.error(
                    "%s: %d records could not be delivered before shutdown", self.name, left
                )

    async def _flush(self, final: bool) -> None:
        drained = self._intake.drain()
        try:
            prepared = self._prepare(drained)
        except Exception:  # a bug here must not stop recording for good
            self.lost += len(drained)
            _LOGGER.exception("%s: %d records could not be processed", self.name, len(drained))
            prepared = []
        pending = self._retry + prepared
        self._retry = []
        for start in range(0, len(pending), self._bulk_size):
            bulk = pending[start : start + self._bulk_size]
            try:
                await self._send(bulk)
            except Exception as exc:
                _LOGGER.warning("%s: sending %d records failed (%r); will retry", self.name,
                                len(bulk), exc)
                self._retry = pending[start:]
                break
            self.delivered += len(bulk)
        if self._on_flush is not None:
            try:
                await self._on_flush(final)
            except Exception:
                _LOGGER.exception("%s: flushing the counters failed", self.name)


async def discard(items: Sequence[object]) -> None:
    """Localhost mode's destination: records are accepted and dropped, as the official SDK does."""
