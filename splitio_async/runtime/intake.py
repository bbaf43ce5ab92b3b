"""The bounded, thread-safe buffer between the evaluation hot path and a recorder actor.

anyio memory streams may only be used from the event loop's thread, but the sync shim evaluates in
the caller's thread. ``collections.deque`` documents its appends and pops from either end as
thread-safe, so the hot path appends without taking a lock (a ``threading.Lock`` measured at
0.4 µs, about a sixth of a whole ``get_treatment``); only the rare "buffer full" path takes one,
to count what it refuses. With several producer threads the bound may be overshot by at most one
item per thread, never more. The recorder is woken (possibly across threads) when the buffer
reaches its flush threshold, not on every append.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Intake(Generic[T]):
    __slots__ = (
        "_behind_at",
        "_bytes",
        "_consumer_thread",
        "_dropped",
        "_items",
        "_lock",
        "_pressure_at",
        "_wake",
        "_wake_first",
        "_wake_pending",
        "byte_threshold",
        "capacity",
        "held",
        "threshold",
    )

    def __init__(self, capacity: int, threshold: int, byte_threshold: int | None = None) -> None:
        self.capacity = max(1, capacity)
        self.threshold = max(1, min(threshold, self.capacity))
        self.byte_threshold = byte_threshold
        self._bytes = 0
        self._dropped = 0
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._wake: Callable[[], None] | None = None
        self._consumer_thread: int | None = None
        self._wake_pending = False
        # records the recorder took and has not delivered yet (the bulk in flight among them),
        # and the queue length from which producers slow down: threshold - held
        self.held = 0
        self._behind_at = self.threshold
        # while a bulk is in flight, producers slow down only once what is queued and what the
        # recorder holds reach three quarters of the capacity: a bulk in flight with room left
        # is the normal state of a busy recorder, not a reason to yield the GIL (or checkpoint)
        # on every call
        self._pressure_at = max(1, self.capacity * 3 // 4)
        self._wake_first = False  # an idle recorder sleeps until the next record

    @property
    def dropped(self) -> int:
        """Items refused because the buffer was full."""
        return self._dropped

    def set_waker(
        self, wake: Callable[[], None] | None, consumer_thread: int | None = None
    ) -> None:
        """``wake`` is called (from any thread) when the buffer reaches its threshold;
        ``consumer_thread`` is the thread the recorder runs in (the event loop's)."""
        self._wake = wake
        self._consumer_thread = consumer_thread

    def append(self, item: T, size: int = 0) -> bool:
        """Queue ``item``; False (and counted) when the buffer is full. ``size`` (events: their
        estimated bytes) wakes the recorder once ``byte_threshold`` bytes are queued, so large
        events are flushed early rather than refused (the official SDK refuses past 5 MiB)."""
        items = self._items
        if len(items) >= self.capacity:
            with self._lock:
                self._dropped += 1
            self._wake_up()
            return False
        items.append(item)
        if size and self.byte_threshold is not None:
            self._bytes += size  # approximate under threads: it only decides when to wake
            if self._bytes >= self.byte_threshold:
                self._wake_up()
        if len(items) >= self._behind_at:
            self._behind(len(items))
        return True

    def _behind(self, queued: int) -> None:
        if self._wake_first:  # not counted as the pending wake: the threshold's comes next
            self._wake_first = False
            self._behind_at = self.threshold - self.held
            wake = self._wake
            if wake is not None:
                wake()
        elif queued >= self.threshold and not self._wake_pending:
            self._wake_up()
        elif self._consumer_thread not in (None, threading.get_ident()) and (
            self.held == 0 or queued + self.held >= self._pressure_at
        ):
            # Backpressure: the recorder was woken but has not drained yet, or a bulk's worth
            # still waits for the service, because a busy producer thread keeps the GIL.
            # Yielding it lets the recorder run, so a burst slows down a little instead of
            # filling the buffers and being dropped.
            time.sleep(0)

    def backlogged(self) -> bool:
        """A flush's worth is queued or still undelivered: a producer on the recorder's own
        event loop should yield to it (the async client checkpoints once). With a bulk in
        flight, only once it and what is queued reach three quarters of the capacity."""
        queued = len(self._items)
        return queued >= self._behind_at and (
            self.held == 0 or queued + self.held >= self._pressure_at
        )

    def set_held(self, count: int) -> None:
        """The recorder holds ``count`` records not delivered yet (recorder only)."""
        self.held = count
        self._behind_at = 1 if self._wake_first else self.threshold - count

    def wake_on_next(self) -> bool:
        """Wake the recorder at the next record rather than at its threshold, so an idle
        recorder needs no timer (recorder only). False when records are already queued: one
        appended meanwhile from another thread would not have woken it."""
        self._wake_first = True
        self._behind_at = 1
        if self._items:
            self._wake_first = False
            self._behind_at = self.threshold - self.held
            return False
        return True

    def _wake_up(self) -> None:
        wake = self._wake
        if wake is not None and not self._wake_pending:
            self._wake_pending = True  # one wake until the next drain, even when flooded
            wake()

    def drain(self, limit: int | None = None) -> list[T]:
        """Take up to ``limit`` items (all when None), oldest first. Single consumer."""
        self._wake_pending = False
        self._bytes = 0
        items = self._items
        count = len(items) if limit is None else min(limit, len(items))
        popleft = items.popleft
        return [popleft() for _ in range(count)]

    def __len__(self) -> int:
        return len(self._items)
