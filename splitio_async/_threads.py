"""Blocking work off the event loop, and temporary event loops that leave no thread behind.

Every blocking call the SDK makes from its event loop (reading files, building HTTP clients,
resolving the machine's address, a user's blocking listener) goes through
``to_worker_thread``, which normally hands it to anyio's worker threads.

Preforked servers load the data once in the master with ``run_without_threads`` (the shim's
``preforkedInitialization``, ``prefork.preload``). A worker thread still alive when the master
forks is the hazard there: uWSGI forks without Python's at-fork handlers, so a child inherits
the thread's held shutdown lock and hangs at exit, and anyio's worker threads linger for a few
milliseconds after the loop ends. So in such a loop ``to_worker_thread`` runs the call inline (the
loop has nothing else to serve), and the function returns only once every non-daemon thread the
loop started has ended (asyncio's default executor, used for DNS, is joined by the loop itself).
Trio resolves host names in its daemon thread cache; those threads hold nothing a forked child
needs and end on their own after ten idle seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

JOIN_TIMEOUT = 10.0  # seconds to wait for a thread the temporary loop started
_INLINE: ContextVar[bool] = ContextVar("splitio_async_inline_blocking", default=False)


async def to_worker_thread(
    func: Callable[..., T], *args: Any, abandon_on_cancel: bool = False
) -> T:
    """``func(*args)`` in a worker thread, or inline inside ``run_without_threads``."""
    if _INLINE.get():
        return func(*args)
    return await anyio.to_thread.run_sync(func, *args, abandon_on_cancel=abandon_on_cancel)


def run_without_threads(func: Callable[[], Awaitable[T]], backend: str = "asyncio") -> T:
    """Run ``func`` in a temporary event loop in the calling thread; return (or raise) only
    after every non-daemon thread started meanwhile has ended."""
    before = set(threading.enumerate())
    token = _INLINE.set(True)
    try:
        return anyio.run(func, backend=backend)
    finally:
        _INLINE.reset(token)
        for thread in set(threading.enumerate()) - before:
            if not thread.daemon:
                thread.join(JOIN_TIMEOUT)
