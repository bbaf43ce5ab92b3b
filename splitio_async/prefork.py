"""The async API in preforked servers (gunicorn or uvicorn with several workers, Celery...).

An event loop cannot cross a fork, so an async factory cannot be created in the master and used
in the workers. What can cross is data: ``preload`` syncs once in the master, in a temporary
event loop, and keeps only the immutable snapshot (no thread, no socket, no task is left). Each
worker then starts its own factory from it, inside its own loop (an ASGI lifespan startup, a
Celery ``worker_process_init`` handler that runs a loop): the factory is ready at once with the
master's data and keeps it current from then on by deltas (``since`` = the master's change
numbers), like the blocking shim's ``resume()``.

    preloaded = preload("SDK_KEY", config)               # master: gunicorn --preload, module level

    async def lifespan(app):                               # each worker
        async with preloaded.open_factory() as factory:
            app.state.split = factory.client()
            yield

A factory that was running when its process forked is paused in the child (status
WAITING_FORK, evaluations give ``control`` with an error log): its loop and connections stay with
the parent, and silently frozen flags would be worse. ``forks`` is the one record of what a fork
must change in the child: the factories running in this process (each told by
``lowlevel.FactoryInternals.after_fork_in_child``, which the sync shim extends to drop its portal
thread) and
the module state a child must not inherit (a lock another thread held).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._optional import require
from ._threads import run_without_threads as run_without_threads
from .lowlevel import internals
from .storage.snapshot import Snapshot

if TYPE_CHECKING:
    from .factory import SplitFactory

__all__ = ("Preloaded", "preload")


class ForkRegistry:
    """What the child of a fork must change: the running factories of this process (held
    weakly) and resets of module state (held for good). One ``os.register_at_fork`` hook calls
    ``after_fork_in_child`` for the whole package, the sync shim included."""

    def __init__(self) -> None:
        self._factories: weakref.WeakSet[SplitFactory] = weakref.WeakSet()
        self._resets: list[Callable[[], None]] = []

    def watch(self, factory: SplitFactory) -> None:
        """A factory starts running in this process."""
        self._factories.add(factory)

    def reset_in_child(self, reset: Callable[[], None]) -> None:
        """Call ``reset`` in every forked child (e.g. to replace a lock another thread held)."""
        self._resets.append(reset)

    def after_fork_in_child(self) -> None:
        for reset in list(self._resets):
            reset()
        for factory in list(self._factories):
            internals(factory).after_fork_in_child()


forks = ForkRegistry()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=forks.after_fork_in_child)


@dataclass(frozen=True)
class Preloaded:
    """Data synced once in a master process, to start every worker's factory from."""

    sdk_key: str
    config: dict[str, Any]
    urls: dict[str, str | None]
    snapshot: Snapshot = field(repr=False)

    def _config(self) -> dict[str, Any]:
        return {**self.config, "preforkedInitialization": False}

    @asynccontextmanager
    async def open_factory(self) -> AsyncIterator[SplitFactory]:
        """A factory owned by this block, ready at once with the preloaded data."""
        from .factory import owned_factory, service_urls  # noqa: PLC0415 - imports this module

        async with owned_factory(self.sdk_key, self._config(), service_urls(self.urls),
                                 seed=self.snapshot) as factory:
            yield factory

    async def get_factory_async(self) -> SplitFactory | None:
        """The official-style entry point: end it with ``await factory.destroy()``."""
        from .factory import service_urls, start_factory  # noqa: PLC0415 - imports this module

        return await start_factory(self.sdk_key, self._config(), service_urls(self.urls),
                                   seed=self.snapshot)


def preload(
    sdk_key: str, config: dict[str, Any] | None = None, *, timeout: float | None = None,
    backend: str = "asyncio", **urls: str | None,
) -> Preloaded:
    """Sync once in a temporary event loop of the calling thread (no loop may be running in
    it) and return the data; raises ``TimeoutException`` after ``timeout`` seconds. No thread
    started meanwhile is left running, so the process can fork at once."""
    from .factory import open_factory  # noqa: PLC0415 - the factory imports this module

    config = dict(config or {})
    if backend == "trio":
        require("trio", 'backend="trio"')

    async def load() -> Snapshot:
        async with open_factory(sdk_key, {**config, "preforkedInitialization": False},
                                **urls) as factory:
            await factory.block_until_ready(timeout)
            return internals(factory).state.snapshot

    snapshot = run_without_threads(load, backend)
    return Preloaded(sdk_key, config, dict(urls), snapshot)
