"""Fetches flag and rule-based segment changes (the since/till loop) into the storage actor."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.lowlevel

from ..bounded_json import SLICE_SECONDS
from ..lifecycle import FactoryState
from ..limits import DATA_ERRORS, describe_data_error
from ..models.rule_based_segments import RuleBasedSegment, parse_rule_based_segment
from ..models.splits import Split, parse_split
from ..runtime.backoff import Backoff, ThrottledLog
from ..runtime.clock import SYSTEM_CLOCK
from ..runtime.spec_version import SpecVersion
from ..storage.snapshot import FlagChanges
from ..transport.errors import APIError
from ..transport.protocols import ChangesAPI, Clock
from .messages import ApplyFlags
from .storage import StorageWriter

_LOGGER = logging.getLogger("splitio.sync.split")

ATTEMPTS = 10  # per phase when a target change number is given (official)
T = TypeVar("T")


async def _compile(
    raws: Any, parse: Callable[[Any], T], what: str, log: ThrottledLog | None
) -> tuple[T, ...]:
    """Compile a page's objects, skipping (and logging) the unusable ones, in slices that let
    the event loop run: 20,000 flags take about a second of CPU."""
    compiled = []
    deadline = time.perf_counter() + SLICE_SECONDS
    for raw in raws if isinstance(raws, list) else ():
        try:
            compiled.append(parse(raw))
        except DATA_ERRORS as exc:
            if log is not None:
                log.log(logging.ERROR, what, "splitChanges: a %s was skipped (%s)", what,
                        describe_data_error(exc))
        if time.perf_counter() > deadline:
            await anyio.lowlevel.checkpoint()
            deadline = time.perf_counter() + SLICE_SECONDS
    return tuple(compiled)


async def _compile_flags(raws: Any, log: ThrottledLog | None = None) -> tuple[Split, ...]:
    return await _compile(raws, parse_split, "feature flag", log)


async def _compile_rbs(
    raws: Any, log: ThrottledLog | None = None
) -> tuple[RuleBasedSegment, ...]:
    return await _compile(raws, parse_rule_based_segment, "rule-based segment", log)


def _int(section: dict[str, Any], field: str, default: int) -> int:
    value = section.get(field)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


class FlagSyncer:
    def __init__(
        self,
        api: ChangesAPI,
        state: FactoryState,
        storage: StorageWriter,
        flag_sets: frozenset[str] | None,
        retry_base: float = 10.0,
        retry_cap: float = 30.0,
        spec: SpecVersion | None = None,
        clock: Clock = SYSTEM_CLOCK,
        fresh_start: bool = False,
    ) -> None:
        self._api = api
        self._clock = clock
        # no fallback to spec 1.1 unless asked: only a Split Proxy (not Split's API) may need it
        self._spec = spec if spec is not None else SpecVersion(False, clock=clock.now)
        self._state = state
        self._storage = storage
        self._sets = ",".join(sorted(flag_sets)) if flag_sets else None
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._on_page: Callable[[], None] | None = None
        self._lock = anyio.Lock()  # one sync at a time: polling and streaming share the syncer
        self._skipped = ThrottledLog(_LOGGER)
        self._fresh_start = fresh_start  # serving bootstrap data: the first fetch replaces it
        self.last_success: int | None = None  # epoch ms of the last successful fetch

    async def sync(
        self,
        till: int | None = None,
        on_page: Callable[[], None] | None = None,
        rbs_till: int | None = None,
    ) -> bool:
        """Fetch until up to date, or until ``till`` (flags) / ``rbs_till`` (rule-based
        segments) is reached, retrying with backoff and then bypassing the CDN if it lags.

        One sync at a time (polling and streaming share this syncer). Raises ``APIError`` when
        a request fails; returns False when a target was not reached.
        """
        async with self._lock:
            self._on_page = on_page
            if self._spec.legacy:
                rbs_till = None  # spec 1.1 brings no rule-based segments: fetch flags (official)
            try:
                if till is None and rbs_till is None:
                    await self._fetch_until(None, None, None)
                    return True
                if await self._attempt(till, rbs_till, bypass=None):
                    return True
                bypass = self._state.snapshot.flags_change_number
                if await self._attempt(till, rbs_till, bypass=bypass):
                    return True
            finally:
                self._on_page = None
        _LOGGER.warning("No changes fetched after %d attempts with CDN bypassed.", ATTEMPTS)
        return False

    def _reached(self, till: int | None, rbs_till: int | None) -> bool:
        snapshot = self._state.snapshot
        return (till is None or snapshot.flags_change_number >= till) and (
            rbs_till is None or self._spec.legacy  # (fell back to 1.1 during this sync)
            or snapshot.rule_based_segments_change_number >= rbs_till
        )

    async def _attempt(self, till: int | None, rbs_till: int | None, bypass: int | None) -> bool:
        backoff = Backoff(self._retry_base, self._retry_cap)
        for remaining in range(ATTEMPTS - 1, -1, -1):
            await self._fetch_until(till, rbs_till, bypass)
            if self._reached(till, rbs_till):
                return True
            if remaining:
                await self._clock.sleep(backoff.next())
        return False

    async def _fetch_until(
        self, till: int | None, rbs_till: int | None, bypass: int | None
    ) -> None:
        while True:
            if (till is not None or rbs_till is not None) and self._reached(till, rbs_till):
                return
            body, since, rb_since, fresh = await self._fetch_page(bypass)
            self.last_success = int(self._clock.wall() * 1000)
            ff, rbs = body["ff"], body.get("rbs") or {}
            ff_till = _int(ff, "t", since)
            rbs_till_seen = _int(rbs, "t", rb_since)
            changes = FlagChanges(
                flags=await _compile_flags(ff.get("d"), self._skipped),
                rule_based_segments=await _compile_rbs(rbs.get("d"), self._skipped),
                flags_till=max(ff_till, since),
                rule_based_segments_till=max(rbs_till_seen, rb_since),
                replace_flags=fresh,
            )
            # a page lands only on the data it was fetched from: were an instant update applied
            # meanwhile, this answer could be older than it, so it is fetched again instead
            expected = (None, None) if fresh else (since, rb_since)
            if not await self._storage.apply(ApplyFlags(changes, *expected)):
                continue
            self._fresh_start = False
            if self._on_page is not None:
                self._on_page()
            if ff_till == _int(ff, "s", since) and rbs_till_seen == _int(rbs, "s", rb_since):
                return

    async def _fetch_page(self, bypass: int | None) -> tuple[dict[str, Any], int, int, bool]:
        """One page in the spec in use: the body, the ``since`` and ``rbSince`` asked for, and
        whether the page replaces what is held (bootstrapped data, or the first spec 1.3 page
        after a Split Proxy fallback). A proxy refusing 1.3 is asked again at once in 1.1."""
        retry_latest = self._spec.retry_latest()
        while True:
            snapshot = self._state.snapshot
            fresh = self._fresh_start or retry_latest
            since = -1 if fresh else snapshot.flags_change_number
            rb_since = -1 if fresh else snapshot.rule_based_segments_change_number
            try:
                body = await self._api.split_changes(
                    since, rb_since, self._sets, bypass, self._spec.version
                )
            except APIError as exc:
                if not self._spec.refused(exc):
                    raise
                retry_latest = False
                continue
            return body, since, rb_since, fresh
