"""The bounded, thread-safe buffer between the evaluation hot path and a recorder actor.

anyio memory streams may only be used from the event loop's thread, but the sync shim evaluates in
the caller's thread. So the hot path appends to a deque under a lock held for that O(1) step only,
counts what a full buffer refuses, and wakes the recorder (possibly across threads) only when the
buffer reaches its flush threshold, not on every append.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Intake(Generic[T]):
    __slots__ = ("_items", "_lock", "_wake", "_wake_pending", "capacity", "dropped", "threshold")

    def __init__(self, capacity: int, threshold: int) -> None:
        self.capacity = max(1, capacity)
        self.threshold = max(1, min(threshold, self.capacity))
        self.dropped = 0
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._wake: Callable[[], None] | None = None
        self._wake_pending = False

    def set_waker(self, wake: Callable[[], None] | None) -> None:
        """Called (from any thread) when the buffer reaches its threshold."""
        self._wake = wake

    def append(self, item: T) -> bool:
        """Queue ``item``; False (and counted) when the buffer is full."""
        with self._lock:
            size = len(self._items)
            if size >= self.capacity:
                self.dropped += 1
                full = True
            else:
                self._items.append(item)
                full = False
        if (full or size + 1 >= self.threshold) and not self._wake_pending:
            wake = self._wake
            if wake is not None:
                self._wake_pending = True  # one wake until the next drain, even when flooded
                wake()
        return not full

    def drain(self, limit: int | None = None) -> list[T]:
        """Take up to ``limit`` items (all when None), oldest first."""
        with self._lock:
            self._wake_pending = False
            if limit is None or limit >= len(self._items):
                items = list(self._items)
                self._items.clear()
                return items
            return [self._items.popleft() for _ in range(limit)]

    def __len__(self) -> int:
        return len(self._items)
