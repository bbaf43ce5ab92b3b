"""Wake an actor from any thread without blocking the caller.

anyio has no public non-blocking "run soon on the loop" for foreign threads
(``from_thread.run_sync`` waits for the result), so this asks the running backend directly:
asyncio's ``call_soon_threadsafe`` or trio's ``TrioToken.run_sync_soon``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import anyio
import sniffio


def _threadsafe_scheduler() -> Callable[[Callable[[], None]], object]:
    library = sniffio.current_async_library()
    if library == "trio":
        import trio  # noqa: PLC0415 - only when running on trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    import asyncio  # noqa: PLC0415

    return asyncio.get_running_loop().call_soon_threadsafe


class Waker:
    """An event that can be set from any thread; create it inside the event loop."""

    def __init__(self) -> None:
        self._loop_thread = threading.get_ident()
        self._event = anyio.Event()
        self._again = False  # woken again while the event was still set
        self._schedule = _threadsafe_scheduler()
        self._divert: Callable[[], None] | None = None

    def divert(self, callback: Callable[[], None] | None) -> None:
        """While set, a wake schedules ``callback`` on the loop thread (soon, never inside the
        caller) instead of setting the event: the actor is busy awaiting something else and
        can still be asked to do a short synchronous step meanwhile."""
        self._divert = callback

    def __call__(self) -> None:
        divert = self._divert
        if divert is not None:
            with contextlib.suppress(RuntimeError):  # loop closing: the final drain takes them
                self._schedule(divert)
            return
        if threading.get_ident() == self._loop_thread:
            self._set_current()
            return
        with contextlib.suppress(RuntimeError):  # loop closing: the final drain takes the items
            self._schedule(self._set_current)

    def _set_current(self) -> None:
        """Set whichever event is current (loop thread). A wake while it is still set is kept
        for the next ``wait``: two wakes before a wait are two wake-ups, so an idle recorder
        woken at a record and then at its threshold, both before it ran, still flushes at the
        threshold instead of after a period."""
        if self._event.is_set():
            self._again = True
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event = anyio.Event()
        if self._again:
            self._again = False
            self._event.set()

    def set(self) -> None:
        """Loop-thread shortcut (stop requests and timers)."""
        self._event.set()
