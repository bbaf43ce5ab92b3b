"""Keeps the snapshot in step with Split's API: polling, or whatever keeps it current instead.

Start-up: a full sync (flags, rule-based segments, then every referenced segment), retried with
backoff until it succeeds, then SDK_READY. Afterwards either polling alone (two loops: flags every
``featuresRefreshRate``, fetching any segment a changed flag newly references at once, and all
segments every ``segmentsRefreshRate``), or ``keep_current`` (streaming), given at construction.
It drives the synchronizer through ``SyncControl`` only: polling on or off, a full sync soon.
The synchronizer owns the polling task and the full syncs, so it never calls back into what keeps
it current. Failures keep the last good data, are retried, and are logged once per kind until the
next success. A refused SDK key stops all fetching for good.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ..lifecycle import FactoryState
from ..limits import DATA_ERRORS, describe_data_error
from ..runtime.backoff import Backoff, ProblemLog
from ..runtime.clock import SYSTEM_CLOCK
from ..runtime.periodic import periodic
from ..transport.errors import APIError, AuthError, URITooLongError
from ..transport.protocols import Clock
from .flag_syncer import FlagSyncer
from .messages import MarkReady
from .segment_syncer import SegmentSyncer
from .storage import StorageWriter

_LOGGER = logging.getLogger("splitio.sync.synchronizer")


class SyncControl(Protocol):
    """What keeps the data current (streaming) asks of the synchronizer. Plain calls that
    return at once: the synchronizer runs the work in its own tasks."""

    def start_polling(self) -> None:
        """Poll from now on (no-op while polling)."""

    def stop_polling(self) -> None:
        """Stop polling (no-op while not polling)."""

    def sync_all_soon(self) -> None:
        """A full sync as soon as possible; requests made while one runs give one more."""


KeepCurrent = Callable[[SyncControl], Awaitable[None]]
"""Runs after the first full sync until cancelled, in place of polling alone."""


class Synchronizer:
    def __init__(
        self,
        state: FactoryState,
        storage: StorageWriter,
        flags: FlagSyncer,
        segments: SegmentSyncer,
        flags_period: float,
        segments_period: float,
        on_fatal: Callable[[str], None],
        retry_base: float = 10.0,
        retry_cap: float = 30.0,
        keep_current: KeepCurrent | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._state = state
        self._clock = clock
        self._storage = storage
        self._flags = flags
        self._segments = segments
        self._flags_period = flags_period
        self._segments_period = segments_period
        self._on_fatal = on_fatal
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._keep_current = keep_current
        self._stopped = False
        self._tg: TaskGroup | None = None  # while keeping current: hosts polling and full syncs
        self._polling: anyio.CancelScope | None = None
        self._syncing = False
        self._sync_again = False
        # one problem log per activity, kept across polling restarts: ``problems()`` reads them
        self._problems = {what: ProblemLog(_LOGGER)
                          for what in ("initial sync", "feature flags", "segments")}

    def problems(self) -> dict[str, str]:
        """The last problem of each activity that has not succeeded since (any thread)."""
        return {what: log.current for what, log in self._problems.items()
                if log.current is not None}

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start syncing; reports started at once (readiness is signalled through storage).
        After the first full sync, ``keep_current`` (streaming, which falls back to polling)
        takes over, or polling alone."""
        task_status.started()
        async with anyio.create_task_group() as tg:
            loaded = anyio.Event()  # ready as soon as the data is in, not after the
            tg.start_soon(self._mark_ready_when, loaded)  # requests that only confirm it
            if not await self._initial_sync(loaded.set):
                tg.cancel_scope.cancel()
                return
            loaded.set()  # (a sync that ended without data, e.g. the 414 case: official)
        if self._keep_current is None:
            await self.poll()
            return
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                await self._keep_current(self)
            finally:
                self._tg = None

    async def _mark_ready_when(self, loaded: anyio.Event) -> None:
        await loaded.wait()
        await self._storage.apply(MarkReady())

    async def poll(self) -> None:
        """Poll flags and segments until cancelled (or until the SDK key is refused)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._every, self._flags_period, self._poll_flags, "feature flags")
            tg.start_soon(self._every, self._segments_period, self._poll_segments, "segments")

    # ------------------------------------------------------------------ SyncControl

    def start_polling(self) -> None:
        if self._polling is None and self._tg is not None:
            scope = anyio.CancelScope()
            self._polling = scope
            self._tg.start_soon(self._poll_within, scope)

    def stop_polling(self) -> None:
        if self._polling is not None:
            self._polling.cancel()
            self._polling = None

    def sync_all_soon(self) -> None:
        if self._syncing:
            self._sync_again = True
            return
        if self._tg is not None:
            self._syncing = True
            self._tg.start_soon(self._sync_all)

    async def _poll_within(self, scope: anyio.CancelScope) -> None:
        with scope:
            await self.poll()

    async def _sync_all(self) -> None:
        """Full syncs (streaming came up or went down), each retried until it succeeds, until
        no more were asked for meanwhile."""
        try:
            while True:
                self._sync_again = False
                await self._initial_sync()
                if not self._sync_again:
                    return
        finally:
            self._syncing = False

    async def _initial_sync(self, on_loaded: Callable[[], None] | None = None) -> bool:
        backoff = Backoff(self._retry_base, self._retry_cap)
        problems = self._problems["initial sync"]
        while True:
            try:
                failures = await self._segments.sync_alongside(
                    lambda kick: self._flags.sync(on_page=kick), on_loaded
                )
                if failures:
                    name, error = failures[0]
                    raise APIError(f"segment {name}: {error}", error.status)
            except URITooLongError:
                _LOGGER.error(
                    "Error fetching feature flags; the amount of flag sets provided are too big, "
                    "causing uri length error."
                )
                _LOGGER.error("URI too long exception caught, aborting retries")
                return True  # official: ready, with no data
            except AuthError as exc:
                self._fatal(exc)
                return False
            except APIError as exc:
                problems.problem(
                    f"Exception caught when trying to sync all data: {exc}", logging.ERROR
                )
                await self._clock.sleep(backoff.next())
                continue
            except DATA_ERRORS as exc:  # unusable data: like malformed JSON, not a bug
                problems.problem(
                    "Exception caught when trying to sync all data: unusable data "
                    f"({describe_data_error(exc)})", logging.ERROR,
                )
                await self._clock.sleep(backoff.next())
                continue
            except Exception as exc:  # a bug must not leave the SDK never ready, silently
                problems.problem(f"Unexpected error during a full sync; retrying: {exc!r}",
                                 logging.ERROR, exc_info=exc)
                await self._clock.sleep(backoff.next())
                continue
            problems.recovered("initial sync")
            return True

    def _fatal(self, exc: AuthError) -> None:
        message = f"{exc}. {exc.hint}; the SDK will not retry and stays not ready."
        _LOGGER.error("%s", message)
        self._on_fatal(message)
        self._stopped = True

    async def _every(
        self, period: float, step: Callable[[], Awaitable[None]], what: str
    ) -> None:
        backoff = Backoff(self._retry_base, self._retry_cap)
        problems = self._problems[what]

        async def attempt() -> float | None:
            """One poll; the wait before the next (None: the period)."""
            try:
                await step()
            except AuthError as exc:
                self._fatal(exc)  # stops the loop
                return None
            except APIError as exc:
                problems.problem(f"{what}: fetch failed: {exc}")
                return min(period, backoff.next())  # sooner than a long period, with backoff
            except DATA_ERRORS as exc:  # unusable data: like malformed JSON, not a bug
                problems.problem(f"{what}: unusable data ({describe_data_error(exc)})")
                return min(period, backoff.next())
            except Exception as exc:  # a bug must not end syncing silently
                problems.problem(f"{what}: unexpected error; retrying next period: {exc!r}",
                                 logging.ERROR, exc_info=exc)
                return None
            backoff.reset()
            problems.recovered(what)
            return None

        await periodic(attempt, period, clock=self._clock, until=lambda: self._stopped)

    async def _poll_flags(self) -> None:
        await self._flags.sync()
        failures = await self._segments.sync_new()
        if failures:
            raise failures[0][1]

    async def _poll_segments(self) -> None:
        failures = await self._segments.sync_all(self._state.snapshot.referenced_segments())
        if failures:
            raise failures[0][1]
