"""One daemon thread per factory running its event loop, reached through an anyio portal.

Only lifecycle calls (start, block_until_ready, destroy, subscriptions) cross into it; evaluations
run in the caller's thread. The thread is a daemon so a forgotten ``destroy()`` never keeps the
interpreter alive.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

T = TypeVar("T")


def _warm_up() -> None:
    """Import anyio's asyncio backend now rather than inside the first ``get_factory`` call,
    where it would add about 50 ms to the factory's time to ready (the async API pays it at
    ``anyio.run``/``asyncio.run`` time, before any SDK call)."""
    with contextlib.suppress(ImportError):
        importlib.import_module("anyio._backends._asyncio")


_warm_up()


class PortalThread:
    def __init__(self, backend: str = "asyncio") -> None:
        self._backend = backend
        self._started = threading.Event()
        self._portal: BlockingPortal | None = None
        self._shutdown: anyio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="splitio-portal", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        try:
            anyio.run(self._serve, backend=self._backend)
        except BaseException as exc:  # reported to the thread that called start()
            self._error = exc
        finally:
            self._started.set()

    async def _serve(self) -> None:
        self._shutdown = anyio.Event()
        async with BlockingPortal() as portal:
            self._portal = portal
            self._started.set()
            await self._shutdown.wait()

    @property
    def portal(self) -> BlockingPortal:
        assert self._portal is not None, "the portal thread is not running"
        return self._portal

    def call(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.portal.call(func, *args)

    def call_sync(self, func: Callable[..., T], *args: Any) -> T:
        return self.portal.call(func, *args)

    def request_stop(self) -> None:
        """From the loop thread: end the loop once every portal task has finished."""
        if self._shutdown is not None:
            self._shutdown.set()

    def stop(self, timeout: float | None = None) -> None:
        """From any other thread: end the loop and wait for the thread."""
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            if self._shutdown is not None and not self._shutdown.is_set():
                with contextlib.suppress(RuntimeError):  # stopping on its own meanwhile
                    self.call_sync(self.request_stop)
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
