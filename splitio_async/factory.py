"""The factory: one SDK instance's lifecycle, over the actors of its mode in a task group it owns.

The mode (``modes``: standalone, localhost, testing, Redis) decides where data comes from and where
records go; the factory builds what every mode shares, starts the mode in its task group, and
owns ready / destroy. ``open_factory`` is the structured form (``async with``);
``get_factory_async`` returns a factory hosted by its own task (see ``_host``), for compatibility
with the official SDK.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio already depends on
    from exceptiongroup import BaseExceptionGroup
from anyio.abc import TaskGroup, TaskStatus

from . import modes
from ._fork import watch_fork
from ._host import start_hosted
from ._version import SDK_WIRE_VERSION, __version__
from .actors.listener import ListenerActor, WorkerThreadListener
from .client import Client
from .config import Config
from .engine.evaluator import Evaluator
from .errors import SplitError, TimeoutException, at_boundary
from .lowlevel import SEED_SNAPSHOT, EvaluationCore, Steps
from .manager import Manager, ManagerCore
from .recording import Recording
from .sdk_events import SdkEventsHub
from .status import ChangeFeed, ChangeSubscription, FactoryStatus, describe
from .storage import state as states
from .storage.state import FactoryState

if TYPE_CHECKING:
    from .actors.push import PushSupervisor

_LOGGER = logging.getLogger("splitio.client.factory")


class _LiveFactories:
    """Live factories per SDK key, for the official "multiple factories" warnings.

    The one piece of process-wide state; tests reset it with ``reset()``.
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, sdk_key: str) -> None:
        with self._lock:
            count = self._counts.get(sdk_key, 0)
            if self._counts and count > 0:
                _LOGGER.warning(
                    "factory instantiation: You already have %d %s with this SDK Key. We "
                    "recommend keeping only one instance of the factory at all times (Singleton "
                    "pattern) and reusing it throughout your application.",
                    count, "factory" if count == 1 else "factories",
                )
            elif self._counts and sdk_key not in self._counts:
                _LOGGER.warning(
                    "factory instantiation: You already have an instance of the Split factory. "
                    "Make sure you definitely want this additional instance. We recommend "
                    "keeping only one instance of the factory at all times (Singleton pattern) "
                    "and reusing it throughout your application."
                )
            self._counts[sdk_key] = count + 1

    def remove(self, sdk_key: str) -> None:
        with self._lock:
            self._counts[sdk_key] = max(0, self._counts.get(sdk_key, 0) - 1)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def totals(self) -> tuple[int, int]:
        """Live factories over all keys, and how many are redundant (telemetry ``aF``, ``rF``)."""
        with self._lock:
            counts = list(self._counts.values())
        return sum(counts), sum(max(0, count - 1) for count in counts)


live_factories = _LiveFactories()


def _instance_id(config: Config) -> str:
    if not config.ip_addresses_enabled:
        return "NA"
    if config.machine_name:
        return config.machine_name
    try:
        return socket.gethostname() or "unknown"
    except OSError:
        return "unknown"


class SplitFactory:
    """One SDK instance. ``client()`` and ``manager()`` are plain calls; lifecycle calls await.

    The factory owns the lifecycle (ready, destroy, the task group of ``run``) and what every
    mode shares (the SDK-events hub, the listener, the recorders); its mode (``modes``) provides
    the evaluation and manager cores, its actors, its recorders' sink and its status."""

    def __init__(self, sdk_key: str, config: Config, urls: dict[str, str | None]) -> None:
        self._sdk_key = sdk_key
        self._config = config
        mode = modes.select(sdk_key, config)
        self._state = FactoryState(localhost=mode.local_data)
        self._hub = SdkEventsHub()
        self._recording = Recording(config)
        self._listener = ListenerActor() if config.impression_listener is not None else None
        core = EvaluationCore(
            self._state,
            Evaluator(config.fallbacks),
            self._recording.impressions,
            self._recording.events,
            config.labels_enabled,
            WorkerThreadListener(config.impression_listener)
            if config.listener_in_worker and config.impression_listener is not None
            else config.impression_listener,
            self._listener.submit if self._listener is not None else None,
            _instance_id(config),
        )
        self._ready = anyio.Event()
        self._settled = anyio.Event()  # ready, or destroyed: block_until_ready has its answer
        self._stop_requested = anyio.Event()
        self._stopped = anyio.Event()
        self._host: Any = None
        self._running = False
        self._changes = ChangeFeed()
        # paused (WAITING_FORK) in the child if the process forks while it runs (prefork.py);
        # the sync shim turns it off: it has its own fork handling and resume()
        self.pause_on_fork = True
        self._created = time.monotonic()
        self._mode = mode(modes.Parts(
            sdk_key, config, urls, self._state, core, self._hub, self._changes,
            self._recording, self._mark_ready, config.raw.get(SEED_SNAPSHOT),
            live_factories.totals, self._created,
        ))

    # ------------------------------------------------------------------ public API

    @property
    def ready(self) -> bool:
        return self._state.status is states.READY

    @property
    def destroyed(self) -> bool:
        return self._state.status is states.DESTROYED

    def client(self) -> Client:
        return Client(self, self._mode.core)

    def manager(self) -> Manager:
        return Manager(self._mode.manager_core, self.run_steps)

    async def block_until_ready(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait for the first complete data set; raise TimeoutException after ``timeout`` s.

        After ``destroy()`` it returns at once if the factory had become ready (official: the
        ready flag stays set) and raises TimeoutException at once otherwise."""
        if not self.settled():
            with anyio.move_on_after(timeout):
                await self._settled.wait()
            if not self.settled():
                _LOGGER.error("Exception initializing SDK")
                self._mode.note_ready_timeout()
                raise TimeoutException(
                    "SDK Initialization: time of %d exceeded" % (timeout or 0)  # noqa: UP031
                )

    def settled(self) -> bool:
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
        if self._state.status is not states.DESTROYED:
            self._state.status = states.DESTROYED
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
        )

    def changes(self) -> ChangeSubscription:
        """Flag and segment changes as they are applied: ``async for change in
        factory.changes()``. Async API only (call it in the factory's event loop); each
        subscriber buffers 100 changes, dropping the oldest when full (counted in ``dropped``);
        iteration ends when the factory is destroyed."""
        return self._changes.subscribe()

    @property
    def push(self) -> PushSupervisor | None:
        """Streaming's supervisor in standalone mode (observability), else None."""
        return self._mode.push

    @property
    def last_error(self) -> str | None:
        """A problem that stopped syncing for good (e.g. the SDK key was refused), else None."""
        return self._mode.last_error

    @property
    def bootstrapped_from(self) -> str | None:
        """The bootstrap or cache file whose data was served before live data, if any."""
        return self._mode.bootstrapped_from

    # ------------------------------------------------------------------ calls that need I/O

    async def run_steps(self, steps: Steps[Any]) -> Any:
        """Run a Redis call's steps on this event loop (see ``consumer``)."""
        return await self._mode.run_steps(steps)

    def run_steps_blocking(self, steps: Steps[Any]) -> Any:
        """Run a Redis call's steps in the calling thread (the sync shim's threads, sync
        OpenFeature resolution) with the blocking client."""
        return self._mode.run_steps_blocking(steps)

    def manager_core(self) -> ManagerCore:
        return self._mode.manager_core

    # ------------------------------------------------------------------ internals for the shim

    @property
    def core(self) -> EvaluationCore:
        return self._mode.core

    @property
    def state(self) -> FactoryState:
        return self._state

    @property
    def events_hub(self) -> SdkEventsHub:
        return self._hub

    def delivery_counts(self) -> dict[str, int]:
        """Per kind (impressions, events): records delivered, dropped at a bound (a full buffer,
        or too many still waiting for the service) and lost at the shutdown deadline."""
        return self._recording.delivery_counts()

    # ------------------------------------------------------------------ lifecycle

    def _mark_ready(self) -> None:
        if self._state.status is states.NOT_INITIALIZED:
            self._state.status = states.READY
            self._ready.set()
            self._settled.set()
            self._mode.note_ready((time.monotonic() - self._created) * 1000)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run every actor until ``destroy()``; raises a start-up error before ``started``."""
        error: BaseException | None = None
        self._running = True
        watch_fork(self)
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
            if self._state.status is not states.DESTROYED:
                self._state.status = states.DESTROYED
                live_factories.remove(self._sdk_key)
            self._changes.close()
            self._settled.set()
            self._stopped.set()
        if error is not None:
            raise error

    async def _start(self, tg: TaskGroup) -> None:
        await tg.start(self._hub.run)
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


def build_factory(
    sdk_key: Any, config: dict[str, Any] | None, urls: dict[str, str | None]
) -> SplitFactory | None:
    """Validate the key and config and build the (not yet running) factory, in the event loop."""
    if not _validate_sdk_key(sdk_key):
        return None
    factory = SplitFactory(sdk_key, Config.from_dict(config), urls)
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
    factory = build_factory(sdk_key, config, {
        "sdk": sdk_api_base_url, "events": events_api_base_url, "auth": auth_api_base_url,
        "streaming": streaming_api_base_url, "telemetry": telemetry_api_base_url,
    })
    if factory is None:
        return None
    try:
        factory._host = await start_hosted(factory.run)
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
    factory = build_factory(sdk_key, config, {
        "sdk": urls.get("sdk_api_base_url"), "events": urls.get("events_api_base_url"),
        "auth": urls.get("auth_api_base_url"), "streaming": urls.get("streaming_api_base_url"),
        "telemetry": urls.get("telemetry_api_base_url"),
    })
    if factory is None:
        raise ValueError("open_factory: the sdk_key must be a non-empty string")
    startup_error: Exception | None = None
    try:
        async with anyio.create_task_group() as tg:
            try:
                await tg.start(factory.run)
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
