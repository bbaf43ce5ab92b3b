"""``get_factory``: the async factory hosted on a portal thread, with blocking lifecycle calls."""

from __future__ import annotations

import atexit
import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any

from splitio_async import FactoryStatus, SplitFactory, get_factory_async
from splitio_async.lowlevel import ManagerCore

from ._portal import PortalThread
from .client import Client
from .manager import Manager


class SyncSplitFactory:
    """Blocking facade over one ``splitio_async.SplitFactory``."""

    def __init__(self, factory: SplitFactory, portal: PortalThread) -> None:
        self._factory = factory
        self._portal = portal
        # The portal thread is a daemon, so a process that exits without destroy() would lose
        # what is queued: flush at interpreter exit instead (bounded by destroyTimeout).
        self._at_exit = _exit_hook(weakref.ref(self))
        atexit.register(self._at_exit)

    @property
    def ready(self) -> bool:
        return self._factory.ready

    @property
    def destroyed(self) -> bool:
        return self._factory.destroyed

    def client(self) -> Client:
        return Client(self, self._factory.core)

    def manager(self) -> Manager:
        return Manager(ManagerCore(self._factory.state))

    def block_until_ready(self, timeout: float | None = None) -> None:
        """Block until ready; raises TimeoutException after ``timeout`` seconds."""
        if self._factory.ready:
            return
        self._portal.call(self._factory.block_until_ready, timeout)

    def subscribe(self, sdk_event: Any, callback: Any) -> None:
        if self._portal.alive:
            self._portal.call_sync(self._factory.events_hub.subscribe, sdk_event, callback)

    def destroy(self, destroyed_event: threading.Event | None = None) -> None:
        """Flush and stop. With an event: return at once and set it when done; without: block."""
        atexit.unregister(self._at_exit)
        if not self._portal.alive:
            if destroyed_event is not None:
                destroyed_event.set()
            return

        async def finish() -> None:
            try:
                await self._factory.destroy()
            finally:
                self._portal.request_stop()
                if destroyed_event is not None:
                    destroyed_event.set()

        if destroyed_event is not None:
            self._portal.portal.start_task_soon(finish)
            return
        with contextlib.suppress(RuntimeError):  # already stopping: destroy is idempotent
            self._portal.call(finish)
        self._portal.stop()

    @property
    def async_factory(self) -> SplitFactory:
        """The async factory this facade hosts (for integrations such as the OpenFeature
        provider; its coroutines must run in the portal's event loop)."""
        return self._factory

    def delivery_counts(self) -> dict[str, int]:
        return self._factory.delivery_counts()

    def status(self) -> FactoryStatus:
        """What the factory is doing (see ``splitio_async.SplitFactory.status``); no thread hop.
        ``changes()`` has no blocking form: it needs an event loop."""
        return self._factory.status()


def _exit_hook(ref: weakref.ref[SyncSplitFactory]) -> Callable[[], None]:
    def flush() -> None:
        factory = ref()
        if factory is not None and not factory.destroyed:
            factory.destroy()

    return flush


def get_factory(
    sdk_key: Any,
    config: dict[str, Any] | None = None,
    *,
    async_backend: str = "asyncio",
    **urls: str | None,
) -> SyncSplitFactory | None:
    """The official blocking entry point. ``async_backend`` ("asyncio" or "trio") picks the event
    loop of the portal thread; everything else is the official signature."""
    portal = PortalThread(async_backend)
    portal.start()

    async def build() -> SplitFactory | None:
        return await get_factory_async(sdk_key, config, **urls)

    try:
        factory = portal.call(build)
        if factory is None:
            portal.stop()
            return None
    except BaseException:
        portal.stop()
        raise
    return SyncSplitFactory(factory, portal)
