"""Recorder actors: drain an intake, send in bulks, retry what failed, flush everything on stop.

One class serves impressions and events; what differs (how raw items become what is sent, where
they go, and what else is flushed alongside, like impression counts) is passed in. Nothing is
dropped silently: a failed bulk is kept and retried with backoff (what was accepted is never sent
again), what a full buffer refuses is counted, and what is still undelivered when the shutdown
deadline cancels the final flush is counted and logged.

A bulk the service *refuses* (a 4xx other than 401, 403, 408 and 429, or one that cannot even
be encoded) is not retried as a whole: one bad record must not hold back thousands of good
ones. It is split in halves, each sent on its own, down to the single records that are refused;
those are dropped (counted in ``dropped`` and logged), the others delivered. A factory whose
service never answered at all (``give_up``) does not retry its final flush until the deadline:
what is left is counted as lost at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskStatus

from ..runtime.backoff import Backoff, ProblemLog
from ..runtime.clock import SYSTEM_CLOCK
from ..runtime.intake import Intake
from ..runtime.periodic import periodic
from ..runtime.waker import Waker
from ..transport.protocols import Clock

_LOGGER = logging.getLogger("splitio.recorder")

Raw = TypeVar("Raw")
Item = TypeVar("Item")

FINAL_RETRY_CAP = 1.0  # during the final flush, retry at least every second until the deadline
_RETRYABLE_4XX = (401, 403, 408, 429)  # the key, a timeout, a rate limit: not the records


def refused(exc: BaseException) -> bool:
    """The service refused the records themselves (or they cannot be encoded): retrying the
    same bulk can never succeed."""
    if isinstance(exc, ValueError | TypeError):
        return True
    status = getattr(exc, "status", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in _RETRYABLE_4XX


class Recorder(Generic[Raw, Item]):
    """Owns one intake. ``prepare`` turns raw items into items to send (impression modes);
    ``send`` delivers one bulk and raises on failure; ``on_flush(final)`` runs after each flush
    and raises if what it had to send could not be sent (it is retried like a bulk)."""

    def __init__(
        self,
        name: str,
        intake: Intake[Raw],
        prepare: Callable[[list[Raw]], list[Item]],
        send: Callable[[Sequence[Item]], Awaitable[None]],
        period: float,
        bulk_size: int,
        on_flush: Callable[[bool], Awaitable[None]] | None = None,
        max_pending: int | None = None,
        retry_base: float = 1.0,
        retry_cap: float = 30.0,
        give_up: Callable[[], bool] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.name = name
        self._clock = clock
        self._intake = intake
        self._prepare = prepare
        self._send = send
        self._period = period
        self._bulk_size = max(1, bulk_size)
        self._on_flush = on_flush
        self._max_pending = max_pending
        self._pending: list[Item] = []
        self._sending = False
        self._backoff = Backoff(retry_base, retry_cap)
        self._problems = ProblemLog(_LOGGER)
        self._stopping = False
        self._waker: Waker | None = None
        self._give_up = give_up
        self._resolved = 0  # records of the bulk in flight delivered or dropped so far
        self.delivered = 0
        self.dropped = 0  # refused by the service, or because undelivered ones filled the bound
        self.lost = 0  # still undelivered when the shutdown deadline passed
        self.received = 0  # records taken from the intake (after the impressions mode's dedup)
        self.failures = 0  # sends that failed (a bulk or the counters): each one is retried
        self.last_success: int | None = None  # epoch ms of the last flush that sent everything

    @property
    def pending(self) -> int:
        """Records taken from the intake and not delivered yet."""
        return len(self._pending)

    @property
    def last_problem(self) -> str | None:
        """The last sending problem since the last successful flush."""
        return self._problems.current

    def stop(self) -> None:
        """Ask for the final flush (loop thread)."""
        self._stopping = True
        if self._waker is not None:
            self._waker.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._waker = Waker()
        self._intake.set_waker(self._waker, threading.get_ident())
        task_status.started()
        try:
            await periodic(self._flush_now, self._period, clock=self._clock, wake=self._waker,
                           until=lambda: self._stopping, idle=self._idle)
            await self._final_flush()
        finally:
            self._intake.set_waker(None)
            left = len(self._pending) + len(self._intake)
            if self._send is discard:  # localhost mode: going nowhere, so nothing is lost
                left = 0
            if left:
                self.lost += left
                _LOGGER.error(
                    "%s: %d records could not be delivered before the shutdown deadline",
                    self.name, left,
                )

    def _idle(self) -> bool:
        """Nothing to send and nothing due: the intake wakes us at its next record. Only where
        nothing else is flushed alongside (events; impression counts have their own dues)."""
        return (
            self._on_flush is None and not self._pending and self._intake.wake_on_next()
        )

    async def _flush_now(self) -> float | None:
        """A flush woken by the period or the intake; after a failure, the next comes sooner,
        with backoff."""
        return None if await self._flush(final=False) else min(self._period, self._backoff.next())

    async def _final_flush(self) -> None:
        """Retry until everything is delivered; the factory's shutdown deadline cancels us
        (or, at once, a service that never answered: nothing suggests it will now)."""
        while not await self._flush(final=True):
            if self._give_up is not None and self._give_up():
                return
            await self._clock.sleep(min(self._backoff.next(), FINAL_RETRY_CAP))

    async def _flush(self, final: bool) -> bool:
        """Send what is pending; False when something failed (it stays pending)."""
        self._take_intake()
        ok = True
        sent = bool(self._pending)
        while self._pending:
            bulk = self._pending[: self._bulk_size]
            self._resolved = 0
            try:
                await self._send_draining(bulk)
            except Exception as exc:
                del self._pending[: self._resolved]
                self._hold()
                self.failures += 1
                self._problems.problem(f"{self.name}: sending failed ({exc}); will retry")
                ok = False
                break
            del self._pending[: len(bulk)]
            self._hold()
            self._take_intake()
        if self._on_flush is not None:
            try:
                await self._on_flush(final)
            except Exception as exc:
                self.failures += 1
                self._problems.problem(f"{self.name}: sending counters failed ({exc})")
                ok = False
        if ok:
            if sent:
                self.last_success = int(self._clock.wall() * 1000)
            self._backoff.reset()
            self._problems.recovered(self.name)
        return ok

    async def _send_draining(self, bulk: list[Item]) -> None:
        """Send ``bulk`` while still taking what the hot path queues meanwhile: a send can last
        longer than callers take to fill the intake (a burst of evaluations on a busy loop),
        and an intake drained only between sends drops what it cannot hold. A wake during the
        send moves the intake into the pending list (which only grows at its end, so the bulk
        in flight is untouched) from a callback on the loop thread: no task, no extra await."""
        waker = self._waker
        if waker is None:
            await self._send_isolating(bulk)
            return
        waker.divert(self._take_intake)
        self._sending = True
        self._hold()
        try:
            await self._send_isolating(bulk)
        finally:
            waker.divert(None)
            self._sending = False
            self._hold()

    def _hold(self) -> None:
        """Tell producers how far behind a send in progress is (not while waiting to retry: a
        service that is down must not slow evaluations; the bound counts what it refuses)."""
        self._intake.set_held(len(self._pending) if self._sending else 0)

    async def _send_isolating(self, bulk: list[Item]) -> None:
        """Send ``bulk``; if the service refuses it, send halves, down to the single records
        it refuses, which are dropped. ``_resolved`` counts the leading records done with
        (delivered or dropped), so a failure midway keeps exactly the others pending."""
        try:
            await self._send(bulk)
        except Exception as exc:
            if not refused(exc):
                raise
            if len(bulk) == 1:
                self.dropped += 1
                self._resolved += 1
                self._problems.problem(
                    f"{self.name}: the service refused records ({exc}); they were dropped "
                    "(the others were delivered)", logging.ERROR,
                )
                return
            half = len(bulk) // 2
            await self._send_isolating(bulk[:half])
            await self._send_isolating(bulk[half:])
            return
        self.delivered += len(bulk)
        self._resolved += len(bulk)

    def _take_intake(self) -> None:
        """Move what the hot path queued into the pending list, within its bound."""
        drained = self._intake.drain()
        if not drained:
            return
        try:
            prepared = self._prepare(drained)
        except Exception:  # a bug here must not stop recording for good
            self.lost += len(drained)
            _LOGGER.exception("%s: %d records could not be processed", self.name, len(drained))
            return
        room = (
            len(prepared) if self._max_pending is None
            else max(0, self._max_pending - len(self._pending))
        )
        if room < len(prepared):
            self.dropped += len(prepared) - room
            self._problems.problem(
                f"{self.name}: {len(prepared) - room} records dropped: the service has not "
                f"accepted the previous {len(self._pending)} yet", logging.ERROR,
            )
        self.received += len(prepared)
        self._pending.extend(prepared[:room])
        self._hold()


async def discard(items: Sequence[object]) -> None:
    """Localhost mode's destination: records are accepted and dropped, as the official SDK does."""
