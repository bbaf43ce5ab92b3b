"""The factory: one SDK instance's lifecycle, over the actors of its mode in a task group it owns.

The mode (``modes``: standalone, localhost, testing, Redis) decides where data comes from and where
records go; the factory builds what every mode shares, starts the mode in its task group, and
owns ready / destroy. ``open_factory`` is the structured form (``async with``);
``get_factory_async`` returns a factory hosted by its own task (see ``_host``), for compatibility
with the official SDK.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio already depends on
    from exceptiongroup import BaseExceptionGroup
from anyio.abc import TaskGroup, TaskStatus

from . import modes
from ._host import start_hosted
from ._version import SDK_WIRE_VERSION, __version__
from .actors.hook_worker import HookWorker
from .actors.listener import ListenerActor, WorkerThreadListener
from .client import Client
from .config import Config
from .core.evaluation import EvaluationCore
from .core.hooked import hook_into
from .engine.evaluator import Evaluator
from .errors import InvalidSdkKeyError, SplitError, TimeoutException, at_boundary
from .hooks import HookRunner, hooks_from_config
from .lifecycle import DESTROYED, READY, WAITING_FORK, FactoryState, live_factories
from .manager import Manager
from .prefork import forks
from .recording import Recording
from .sdk_events import SdkEventsHub
from .status import ChangeFeed, ChangeSubscription, FactoryStatus, describe
from .storage.snapshot import Snapshot
from .transport.metadata import host_name

if TYPE_CHECKING:
    pass

_LOGGER = logging.getLogger("splitio.client.factory")


def _instance_id(config: Config) -> str:
    if not config.ip_addresses_enabled:
        return "NA"
    return config.machine_name or host_name()


class SplitFactory:
    """One SDK instance. ``client()`` and ``manager()`` are plain calls; lifecycle calls await.

    The factory owns the lifecycle (ready, destroy, the task group of ``run``) and what every
    mode shares (the SDK-events hub, the listener, the recorders); its mode (``modes``) provides
    the evaluation and manager cores, its actors, its recorders' sink and its status."""

    def __init__(
        self, sdk_key: str, config: Config, urls: dict[str, str | None],
        seed: Snapshot | None = None,
    ) -> None:
        self._sdk_key = sdk_key
        self._config = config
        mode = modes.select(sdk_key, config)
        self._state = FactoryState(localhost=mode.local_data)
        self._hub = SdkEventsHub()
        self._recording = Recording(config)
        self._listener = ListenerActor() if config.impression_listener is not None else None
        core = functools.partial(  # the mode adds its telemetry and remote store
            EvaluationCore,
            self._state,
            Evaluator(config.fallbacks),
            self._recording.impressions,
            self._recording.events,
            labels_enabled=config.labels_enabled,
            listener=WorkerThreadListener(config.impression_listener)
            if config.listener_in_worker and config.impression_listener is not None
            else config.impression_listener,
            async_listener_results=self._listener.submit if self._listener is not None else None,
            instance_id=_instance_id(config),
        )
        self._ready = anyio.Event()
        self._settled = anyio.Event()  # ready, or destroyed: block_until_ready has its answer
        self._stop_requested = anyio.Event()
        self._stopped = anyio.Event()
        self._host: Any = None
        self._running = False
        self._changes = ChangeFeed()
        # told first when the process forks while the factory runs (the sync shim's portal)
        self._fork_listener: weakref.WeakMethod[Callable[[], None]] | None = None
        self._created = time.monotonic()
        self._mode = mode(modes.Parts(
            sdk_key, config, urls, self._state, core, self._hub, self._changes,
            self._recording, self._mark_ready, seed,
            live_factories.totals, self._created,
        ))
        hooks, budget_ms = hooks_from_config(config.raw)
        self._hook_worker = HookWorker()  # runs async hooks, and plain ones gone too slow
        self._hooks = HookRunner(hooks, self._hook_worker.submit, budget_ms)
        if self._hooks:  # without hooks the core stays the plain one: nothing to pay per call
            hook_into(self._mode.core, self._hooks)

    # ------------------------------------------------------------------ public API

    @property
    def ready(self) -> bool:
        """Whether the first complete data set is in (and the factory not destroyed since)."""
        return self._state.status is READY

    @property
    def destroyed(self) -> bool:
        """Whether ``destroy()`` was called (or the factory's task group ended)."""
        return self._state.status is DESTROYED

    def client(self) -> Client:
        """A client (cheap: every client of a factory shares its core). Never raises; a client
        of a factory that is not ready or destroyed answers ``control``."""
        return Client(self, self._mode.core, self._mode.driver)

    def add_hook(self, hook: Any) -> bool:
        """Register an evaluation hook (see ``splitio_async.hooks``), from any thread; clients
        created before see it from their next call. False (logged) when ``hook`` has none of
        the hook methods."""
        if not self._hooks.add(hook):
            return False
        hook_into(self._mode.core, self._hooks)
        return True

    @property
    def hooks(self) -> tuple[Any, ...]:
        """The registered evaluation hooks, in the order they run."""
        return tuple(entry.hook for entry in self._hooks.entries)

    def manager(self) -> Manager:
        """A manager (what flags exist). Never raises."""
        return Manager(self._mode.manager_core, self._mode.driver)

    async def block_until_ready(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait for the first complete data set; raise TimeoutException after ``timeout`` s.

        After ``destroy()`` it returns at once if the factory had become ready (official: the
        ready flag stays set) and raises TimeoutException at once otherwise."""
        if not self._settled_now():
            with anyio.move_on_after(timeout):
                await self._settled.wait()
            if not self._settled_now():
                _LOGGER.error("Exception initializing SDK")
                self._mode.note_ready_timeout()
                raise TimeoutException(
                    "SDK Initialization: time of %d exceeded" % (timeout or 0)  # noqa: UP031
                )

    def _settled_now(self) -> bool:
        """Without waiting: True once ready (also after a later ``destroy()``), False while
        still loading; raises TimeoutException if destroyed before it was ever ready."""
        if self._ready.is_set():
            return True
        if self.destroyed:
            _LOGGER.error("block_until_ready: the factory was destroyed before it was ready")
            raise TimeoutException(
                "SDK Initialization: the factory was destroyed before it was ready"
            )
        return False

    async def destroy(self, destroyed_event: Any = None) -> None:
        """Stop every actor after the recorders' final flush (bounded by ``destroyTimeout``)."""
        if self._state.destroy():
            live_factories.remove(self._sdk_key)
            self._hub.clear()
            self._changes.close()
            self._stop_requested.set()
            self._settled.set()
        if not self._running:  # never started (or already gone): nothing to wait for
            self._stopped.set()
        await self._stopped.wait()
        if destroyed_event is not None and hasattr(destroyed_event, "set"):
            destroyed_event.set()

    def status(self) -> FactoryStatus:
        """A snapshot of what the factory is doing (plain call; safe from any thread)."""
        ready, destroyed = self.ready, self.destroyed
        return describe(
            ready=ready,
            destroyed=destroyed,
            mode=self._mode.status(ready, destroyed),
            snapshot=self._state.snapshot,
            recording=self._recording,
            hooks=self._hooks,
        )

    def changes(self) -> ChangeSubscription:
        """Flag and segment changes as they are applied: ``async for change in
        factory.changes()``. Async API only (call it in the factory's event loop); each
        subscriber buffers 100 changes, dropping the oldest when full (counted in ``dropped``);
        iteration ends when the factory is destroyed."""
        return self._changes.subscribe()

    @property
    def last_error(self) -> str | None:
        """A problem that stopped syncing for good (e.g. the SDK key was refused), else None."""
        return self._mode.last_error

    @property
    def bootstrapped_from(self) -> str | None:
        """The bootstrap or cache file whose data was served before live data, if any."""
        return self._mode.bootstrapped_from

    def delivery_counts(self) -> dict[str, int]:
        """Per kind (impressions, events): records delivered, dropped at a bound (a full buffer,
        or too many still waiting for the service) and lost at the shutdown deadline."""
        return self._recording.delivery_counts()

    # ------------------------------------------------------------------ forks (``prefork``)
    # (the shim and ``prefork`` reach these through ``lowlevel.FactoryInternals``)

    @property
    def _waiting_for_fork(self) -> bool:
        """Paused in a forked child, or kept for forked workers to resume from."""
        return self._state.status is WAITING_FORK

    def _after_fork_in_child(self) -> None:
        """In the child of a fork while the factory was running (``prefork.forks``): its event
        loop stayed with the parent, so it is paused (evaluations give ``control``) rather than
        left serving frozen flags; its host (the sync shim) is told instead when it asked."""
        listener = self._fork_listener() if self._fork_listener is not None else None
        if listener is not None:
            listener()
        elif self._pause_for_fork():
            _LOGGER.error(
                "splitio: this process was forked while an async factory was running; it is "
                "paused in the child (its event loop stayed with the parent). Start a factory "
                "in the child, e.g. from splitio_async.prefork.preload() data."
            )

    def _on_fork(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (held weakly: a bound method) instead of pausing the factory in the
        child of a fork; the sync shim, which hosts the factory, pauses it with its own message."""
        self._fork_listener = weakref.WeakMethod(listener)

    def _pause_for_fork(self) -> bool:
        """Pause the factory in a forked child (WAITING_FORK); False if it was not serving."""
        return self._state.pause_for_fork()

    def _keep_for_fork(self) -> bool:
        """Keep a factory stopped after loading its data (``preforkedInitialization``) waiting
        for forked workers to resume from it."""
        return self._state.keep_for_fork()

    def _destroy_in_child(self) -> None:
        """``destroy()`` in a forked child whose factory never resumed: its loop and tasks are
        in the parent, so there is nothing to stop here, only the status to end."""
        if self._state.destroy():
            live_factories.remove(self._sdk_key)

    # ------------------------------------------------------------------ lifecycle

    def _mark_ready(self) -> None:
        if self._state.become_ready():
            self._ready.set()
            self._settled.set()
            self._mode.note_ready((time.monotonic() - self._created) * 1000)

    async def _run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run every actor until ``destroy()``; raises a start-up error before ``started``."""
        error: BaseException | None = None
        self._running = True
        forks.watch(self)
        try:
            async with anyio.create_task_group() as tg:
                try:
                    await self._start(tg)
                except Exception as exc:
                    error = exc
                    tg.cancel_scope.cancel()
                else:
                    task_status.started()
                    await self._stop_requested.wait()
                    await self._shutdown(tg)
        finally:
            with anyio.CancelScope(shield=True):
                await self._mode.aclose()
            self._running = False
            if self._state.destroy():
                live_factories.remove(self._sdk_key)
            self._changes.close()
            self._settled.set()
            self._stopped.set()
        if error is not None:
            raise error

    async def _start(self, tg: TaskGroup) -> None:
        await tg.start(self._hub.run)
        await tg.start(self._hook_worker.run)
        if self._listener is not None:
            await tg.start(self._listener.run)
        sink = await self._mode.open()
        await self._recording.start(tg, sink)
        await self._mode.start(tg)

    async def _shutdown(self, tg: TaskGroup) -> None:
        """Final flush first (shielded, under the deadline), then cancel every actor."""
        self._recording.stop()
        if self._listener is not None:
            self._listener.stop()
        self._hook_worker.stop()  # runs what is queued, within the deadline
        with anyio.move_on_after(self._config.destroy_timeout, shield=True):
            await self._recording.wait_done()
            await self._mode.final_flush()
        tg.cancel_scope.cancel()


def _validate_sdk_key(sdk_key: Any) -> bool:
    if sdk_key is None:
        _LOGGER.error(
            "factory_instantiation: you passed a null sdk_key, sdk_key must be a non-empty string."
        )
        return False
    if not isinstance(sdk_key, str):
        _LOGGER.error(
            "factory_instantiation: you passed an invalid sdk_key, sdk_key must be a non-empty "
            "string."
        )
        return False
    if not sdk_key.strip():
        _LOGGER.error(
            "factory_instantiation: you passed an empty sdk_key, sdk_key must be a non-empty "
            "string."
        )
        return False
    return True


# the URL keyword arguments of the entry points, by service
URL_KEYWORDS = {
    "sdk": "sdk_api_base_url", "events": "events_api_base_url", "auth": "auth_api_base_url",
    "streaming": "streaming_api_base_url", "telemetry": "telemetry_api_base_url",
}


def service_urls(keywords: Mapping[str, str | None]) -> dict[str, str | None]:
    """The URL keyword arguments (``sdk_api_base_url=...``) by service (``sdk``, ...)."""
    return {service: keywords.get(keyword) for service, keyword in URL_KEYWORDS.items()}


def build_factory(
    sdk_key: Any, config: dict[str, Any] | None, urls: dict[str, str | None],
    *, seed: Snapshot | None = None,
) -> SplitFactory | None:
    """Validate the key and config and build the (not yet running) factory, in the event loop.
    ``seed``: the data a preforked worker starts from (``prefork``)."""
    if not _validate_sdk_key(sdk_key):
        return None
    factory = SplitFactory(sdk_key, Config.from_dict(config), urls, seed)
    live_factories.add(sdk_key)
    _LOGGER.debug("splitio_async %s (%s to Split's services)", __version__, SDK_WIRE_VERSION)
    return factory


async def get_factory_async(
    sdk_key: Any,
    config: dict[str, Any] | None = None,
    sdk_api_base_url: str | None = None,
    events_api_base_url: str | None = None,
    auth_api_base_url: str | None = None,
    streaming_api_base_url: str | None = None,
    telemetry_api_base_url: str | None = None,
) -> SplitFactory | None:
    """The official entry point: a running factory, to be ended with ``await factory.destroy()``."""
    return await start_factory(sdk_key, config, {
        "sdk": sdk_api_base_url, "events": events_api_base_url, "auth": auth_api_base_url,
        "streaming": streaming_api_base_url, "telemetry": telemetry_api_base_url,
    })


async def start_factory(
    sdk_key: Any, config: dict[str, Any] | None, urls: dict[str, str | None],
    *, seed: Snapshot | None = None,
) -> SplitFactory | None:
    """``get_factory_async`` with the URLs by service, and optionally the data to start from."""
    factory = build_factory(sdk_key, config, urls, seed=seed)
    if factory is None:
        return None
    try:
        factory._host = await start_hosted(factory._run)
    except SplitError as exc:
        raise at_boundary(exc) from None
    return factory


@asynccontextmanager
async def open_factory(
    sdk_key: str,
    config: dict[str, Any] | None = None,
    **urls: str | None,
) -> AsyncIterator[SplitFactory]:
    """The structured form: the factory's actors live in a task group this context owns, and
    leaving the block destroys the factory (final flush included)."""
    async with owned_factory(sdk_key, config, service_urls(urls)) as factory:
        yield factory


@asynccontextmanager
async def owned_factory(
    sdk_key: str, config: dict[str, Any] | None, urls: dict[str, str | None],
    *, seed: Snapshot | None = None,
) -> AsyncIterator[SplitFactory]:
    """``open_factory`` with the URLs by service, and optionally the data to start from."""
    factory = build_factory(sdk_key, config, urls, seed=seed)
    if factory is None:
        raise InvalidSdkKeyError("open_factory: the sdk_key must be a non-empty string")
    startup_error: Exception | None = None
    try:
        async with anyio.create_task_group() as tg:
            try:
                await tg.start(factory._run)
            except Exception as exc:
                startup_error = exc
            if startup_error is None:
                try:
                    yield factory
                finally:
                    with anyio.CancelScope(shield=True):
                        await factory.destroy()
    except BaseExceptionGroup as group:
        # the block's own exception, not wrapped in a group the caller never asked for
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    if startup_error is not None:
        raise at_boundary(startup_error) from None
