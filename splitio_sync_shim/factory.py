"""``get_factory``: the async factory hosted on a portal thread, with blocking lifecycle calls.

Preforked servers (gunicorn, uWSGI, Celery): a forked child inherits the factory's data but not
its portal thread, so it would serve frozen data and record nothing. The factory hears of the fork
(``splitio_async.prefork``'s one fork registry) and tells the shim, which pauses it in the official
WAITING_FORK state: evaluations give ``control`` and log "Client is not ready" until
``factory.resume()`` is called in the child (gunicorn ``post_fork``, uWSGI ``@postfork``, Celery
``worker_process_init``). Failing loudly beats silently stale flags. The shim never writes the
factory's status: it asks the factory for each transition. ``preforkedInitialization: True``
loads the data in the master without leaving any thread running, for the same hooks to resume.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from splitio_async import FactoryStatus, SplitError, SplitFactory, get_factory_async
from splitio_async.lowlevel import (
    at_boundary,
    internals,
    require,
)
from splitio_async.prefork import Preloaded, run_without_threads

from ._portal import PortalThread
from .client import Client
from .manager import Manager

_LOGGER = logging.getLogger("splitio.client.factory")
# a new hosted factory (same key, config and URLs) started from a snapshot, for resume()
Rebuild = Callable[[Any], "SyncSplitFactory | None"]


class SyncSplitFactory:
    """Blocking facade over one ``splitio_async.SplitFactory``."""

    def __init__(
        self, factory: SplitFactory, portal: PortalThread | None,
        rebuild: Rebuild,
    ) -> None:
        self._rebuild = rebuild  # a new hosted factory (same key, config and URLs) for resume()
        # the clients and managers handed out, rebound to the new factory by resume()
        self._facades: weakref.WeakSet[Client | Manager] = weakref.WeakSet()
        self._host(factory, portal)
        # The portal thread is a daemon, so a process that exits without destroy() would lose
        # what is queued: flush at interpreter exit instead (bounded by destroyTimeout).
        self._at_exit = _exit_hook(weakref.ref(self))
        atexit.register(self._at_exit)

    def _host(self, factory: SplitFactory, portal: PortalThread | None) -> None:
        self._factory = factory
        self._internals = internals(factory)
        self._portal = portal
        self._internals.on_fork(self._forked)
        for facade in list(self._facades):
            facade.bind(factory)

    @property
    def waiting_for_fork(self) -> bool:
        """Whether the factory waits for ``resume()`` (in a forked worker, or loaded with
        ``preforkedInitialization``)."""
        return self._internals.waiting_for_fork

    def resume(self) -> None:
        """In a forked worker: start syncing and recording again, from the data the process
        already holds (then call ``block_until_ready``)."""
        if not self.waiting_for_fork:
            _LOGGER.warning("Cannot call resume")
            return
        fresh = self._rebuild(self._internals.state.snapshot)
        if fresh is None:
            return
        atexit.unregister(fresh._at_exit)
        for hook in self._factory.hooks:  # those added with add_hook are not in the config
            if hook not in fresh.hooks:
                fresh.add_hook(hook)
        self._host(fresh._factory, fresh._portal)

    def _forked(self) -> None:
        """In the child of a fork (no portal thread there): wait for ``resume()``, loudly."""
        if not self._internals.pause_for_fork():
            return
        self._portal = None
        _LOGGER.error(
            "splitio: this process was forked; the SDK is paused until factory.resume() is "
            "called in the child (gunicorn post_fork, uWSGI @postfork, Celery "
            "worker_process_init)"
        )

    @property
    def ready(self) -> bool:
        """Whether the first complete data set is in (and the factory not destroyed since)."""
        return self._factory.ready

    @property
    def destroyed(self) -> bool:
        """Whether ``destroy()`` was called."""
        return self._factory.destroyed

    def client(self) -> Client:
        """A client whose calls run in the caller's thread. Never raises; a client of a factory
        that is not ready or destroyed answers ``control``."""
        client = Client(self)
        self._facades.add(client)
        return client

    def manager(self) -> Manager:
        """A manager (what flags exist), answering in the caller's thread. Never raises."""
        manager = Manager(self)
        self._facades.add(manager)
        return manager

    def add_hook(self, hook: Any) -> bool:
        """Register an evaluation hook (see ``splitio_async.hooks``), from any thread; clients
        created before see it from their next call. False (logged) when ``hook`` has none of
        the hook methods."""
        return self._factory.add_hook(hook)

    @property
    def hooks(self) -> tuple[Any, ...]:
        """The registered evaluation hooks, in the order they run."""
        return self._factory.hooks

    def block_until_ready(self, timeout: float | None = None) -> None:
        """Block until ready; raises TimeoutException after ``timeout`` seconds. Returns at once
        while waiting for a fork (official)."""
        if self._factory.ready or self._portal is None:
            return
        if self._internals.settled():  # ready before destroy(); raises if it never was
            return
        self._portal.call(self._factory.block_until_ready, timeout)

    def subscribe(self, sdk_event: Any, callback: Any) -> None:
        """What ``client.on`` does: subscribe ``callback`` to an ``SdkEvent`` in the portal's
        event loop (sync callbacks run in a worker thread). Never raises: an invalid event or
        callback is logged and ignored; nothing happens once the factory is destroyed."""
        if self._portal is not None and self._portal.alive:
            self._portal.call_sync(self._internals.events_hub.subscribe, sdk_event, callback)

    def destroy(self, destroyed_event: threading.Event | None = None) -> None:
        """Flush and stop. With an event: return at once and set it when done; without: block."""
        atexit.unregister(self._at_exit)
        if self._portal is None or not self._portal.alive:
            if self.waiting_for_fork:
                self._internals.destroy_in_child()
            if destroyed_event is not None:
                destroyed_event.set()
            return
        portal = self._portal

        async def finish() -> None:
            try:
                await self._factory.destroy()
            finally:
                portal.request_stop()
                if destroyed_event is not None:
                    destroyed_event.set()

        if destroyed_event is not None:
            portal.portal.start_task_soon(finish)
            return
        with contextlib.suppress(RuntimeError):  # already stopping: destroy is idempotent
            portal.call(finish)
        portal.stop()

    @property
    def last_error(self) -> str | None:
        """A problem that stopped syncing for good (e.g. the SDK key was refused), else None."""
        return self._factory.last_error

    @property
    def bootstrapped_from(self) -> str | None:
        """The bootstrap or cache file whose data was served before live data, if any."""
        return self._factory.bootstrapped_from

    @property
    def async_factory(self) -> SplitFactory:
        """The async factory this facade hosts (for integrations such as the OpenFeature
        provider; its coroutines must run in the portal's event loop)."""
        return self._factory

    def delivery_counts(self) -> dict[str, int]:
        """Per kind (impressions, events): records delivered, dropped at a bound and lost at
        the shutdown deadline (see ``splitio_async.SplitFactory.delivery_counts``)."""
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
    loop of the portal thread; everything else is the official signature.

    ``preforkedInitialization: True``: the data is loaded here, in the calling thread, and no
    thread is left running; the factory waits for ``resume()`` in each forked worker."""
    config = dict(config or {})
    if async_backend == "trio":
        require("trio", 'async_backend="trio"')

    def rebuild(snapshot: Any) -> SyncSplitFactory | None:
        return _hosted(sdk_key, config, async_backend, urls, seed=snapshot)

    if config.get("preforkedInitialization"):
        return _preforked(sdk_key, config, async_backend, urls, rebuild)
    return _hosted(sdk_key, config, async_backend, urls, rebuild)


def _hosted(
    sdk_key: Any, config: dict[str, Any], backend: str, urls: dict[str, str | None],
    rebuild: Rebuild | None = None, seed: Any = None,
) -> SyncSplitFactory | None:
    """A factory hosted on a new portal thread; with ``seed`` (a forked worker's ``resume()``),
    started from the data the process already holds."""
    portal = PortalThread(backend)
    portal.start()

    async def build() -> SplitFactory | None:
        if seed is not None:
            return await Preloaded(sdk_key, config, urls, seed).get_factory_async()
        return await get_factory_async(sdk_key, config, **urls)

    try:
        factory = portal.call(build)
        if factory is None:
            portal.stop()
            return None
    except SplitError as exc:  # e.g. a malformed localhost file: the message says it all
        portal.stop()
        raise at_boundary(exc) from None
    except BaseException:
        portal.stop()
        raise
    return SyncSplitFactory(factory, portal, rebuild or (lambda snapshot: None))


def _preforked(
    sdk_key: Any, config: dict[str, Any], backend: str, urls: dict[str, str | None],
    rebuild: Rebuild,
) -> SyncSplitFactory | None:
    """Sync once in a temporary event loop in this thread, keep the data, leave no thread."""

    async def load() -> SplitFactory | None:
        factory = await get_factory_async(sdk_key, config, **urls)
        if factory is not None:
            await factory.block_until_ready(None)
            await factory.destroy()
        return factory

    try:
        factory = run_without_threads(load, backend)
    except SplitError as exc:
        raise at_boundary(exc) from None
    if factory is None:
        return None
    internals(factory).keep_for_fork()  # the kept data waits for resume() in a worker
    return SyncSplitFactory(factory, None, rebuild)
