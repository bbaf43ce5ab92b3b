"""Fetches segment changes (per segment, since/till) into the storage actor, several at once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from collections.abc import Set as AbstractSet

import anyio

from ..lifecycle import FactoryState
from ..runtime.backoff import Backoff
from ..runtime.clock import SYSTEM_CLOCK
from ..transport.errors import APIError
from ..transport.protocols import ChangesAPI, Clock
from .messages import ApplySegment
from .storage import StorageWriter

_LOGGER = logging.getLogger("splitio.sync.segment")

CONCURRENCY = 10  # segments fetched at once (official)
ATTEMPTS = 10  # per phase when a target change number is given (official)


def _keys(raw: object) -> frozenset[str]:
    """Segment keys from a response: 10,000-key lists are common, so the check is C-speed."""
    if not isinstance(raw, list):
        return frozenset()
    try:
        keys = frozenset(raw)
    except TypeError:  # unhashable junk in the list
        return frozenset(k for k in raw if isinstance(k, str))
    if all(map(str.__instancecheck__, keys)):
        return keys
    return frozenset(k for k in keys if isinstance(k, str))


class SegmentSyncer:
    def __init__(
        self,
        api: ChangesAPI,
        state: FactoryState,
        storage: StorageWriter,
        retry_base: float = 10.0,
        retry_cap: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
        fresh_names: AbstractSet[str] = frozenset(),
    ) -> None:
        self._api = api
        self._clock = clock
        self._state = state
        self._storage = storage
        self._limiter = anyio.CapacityLimiter(CONCURRENCY)
        self._locks: dict[str, anyio.Lock] = {}
        self._fresh_names = set(fresh_names)  # bootstrapped segments: replaced on first fetch
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self.last_success: int | None = None  # epoch ms of the last successful fetch

    async def sync(
        self, name: str, till: int | None = None,
        on_first_page: Callable[[str], None] | None = None,
    ) -> int:
        """Fetch one segment until up to date; with ``till`` (a streaming notification) until
        it reaches that change number, retrying with backoff and then bypassing the CDN.
        ``on_first_page(name)`` runs once the first page is applied (the segment is loaded;
        what follows only confirms that nothing changed meanwhile)."""
        lock = self._locks.setdefault(name, anyio.Lock())
        async with self._limiter, lock:
            if till is None:
                return await self._fetch_until(name, None, None, on_first_page)
            for bypass in (False, True):
                backoff = Backoff(self._retry_base, self._retry_cap)
                for remaining in range(ATTEMPTS - 1, -1, -1):
                    cn = self._state.snapshot.segment_change_numbers.get(name, -1)
                    reached = await self._fetch_until(name, till, cn if bypass else None)
                    if reached >= till:
                        return reached
                    if remaining:
                        await self._clock.sleep(backoff.next())
            _LOGGER.warning("Segment %s: no change %d after the CDN was bypassed.", name, till)
            return self._state.snapshot.segment_change_numbers.get(name, -1)

    async def _fetch_until(
        self, name: str, till: int | None, bypass: int | None,
        on_first_page: Callable[[str], None] | None = None,
    ) -> int:
        while True:
            since = self._state.snapshot.segment_change_numbers.get(name, -1)
            if name in self._fresh_names:  # bootstrapped: fetch it whole and replace it
                self._fresh_names.discard(name)
                since = -1
            elif till is not None and till <= since:
                return since
            body = await self._api.segment_changes(name, since, bypass)
            self.last_success = int(self._clock.wall() * 1000)
            added = _keys(body.get("added"))
            removed = _keys(body.get("removed"))
            new_till: int = body["till"]
            answered_since = body.get("since", since)
            # the answer's key list (8 MB of pointers per million keys) is not kept while the
            # page is applied and confirmed: its keys live on in ``added`` alone
            del body
            await self._storage.apply(ApplySegment(
                name, added, removed, max(new_till, since), replace=since == -1,
                if_referenced=True,
            ))
            if on_first_page is not None:
                on_first_page(name)
                on_first_page = None
            if new_till == answered_since or new_till <= since:
                return max(new_till, since)

    async def sync_all(self, names: Iterable[str]) -> list[tuple[str, APIError]]:
        """Fetch every named segment, ``CONCURRENCY`` at a time; returns the failures."""
        failures: list[tuple[str, APIError]] = []

        async def one(name: str) -> None:
            try:
                await self.sync(name)
            except APIError as exc:
                failures.append((name, exc))

        async with anyio.create_task_group() as tg:
            for name in sorted(set(names)):
                tg.start_soon(one, name)
        return failures

    async def sync_alongside(
        self, work: Callable[[Callable[[], None]], Awaitable[object]],
        on_loaded: Callable[[], None] | None = None,
    ) -> list[tuple[str, APIError]]:
        """Run ``work(kick)`` (a flag sync) and fetch every segment the flags reference, starting
        each as soon as a page that references it is applied (``kick``) instead of after the
        last page: start-up then overlaps flag and segment round trips. ``on_loaded()`` runs
        once the flags' first page and the first page of every segment it references are
        applied: everything is loaded, the remaining requests only confirm it is current."""
        failures: list[tuple[str, APIError]] = []
        started: set[str] = set()
        loaded: set[str] = set()
        flags_paged = False

        def check_loaded() -> None:
            nonlocal on_loaded
            if on_loaded is not None and flags_paged and started <= loaded:
                on_loaded()
                on_loaded = None

        def first_page(name: str) -> None:
            loaded.add(name)
            check_loaded()

        async def one(name: str) -> None:
            try:
                await self.sync(name, on_first_page=first_page)
            except APIError as exc:
                failures.append((name, exc))

        error: APIError | None = None
        async with anyio.create_task_group() as tg:

            def kick() -> None:
                nonlocal flags_paged
                for name in sorted(self._state.snapshot.referenced_segments() - started):
                    started.add(name)
                    tg.start_soon(one, name)
                flags_paged = True
                check_loaded()

            try:
                await work(kick)
            except APIError as exc:  # the flags failed: raised as is, not in a group
                error = exc
                tg.cancel_scope.cancel()
            else:
                kick()
        if error is not None:
            raise error
        return failures

    async def sync_new(self) -> list[tuple[str, APIError]]:
        """Fetch the segments that flags reference but storage does not hold yet."""
        snapshot = self._state.snapshot
        missing = snapshot.referenced_segments() - set(snapshot.segments)
        return await self.sync_all(missing) if missing else []
