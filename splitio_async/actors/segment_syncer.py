"""Fetches segment changes (per segment, since/till) into the storage actor, several at once."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from ..storage.state import FactoryState
from ..transport.errors import APIError
from ..transport.http import SplitAPI
from .messages import ApplySegment, StorageMessage

_LOGGER = logging.getLogger("splitio.sync.segment")

CONCURRENCY = 10  # segments fetched at once (official)


class SegmentSyncer:
    def __init__(
        self,
        api: SplitAPI,
        state: FactoryState,
        outbox: MemoryObjectSendStream[StorageMessage],
    ) -> None:
        self._api = api
        self._state = state
        self._outbox = outbox
        self._limiter = anyio.CapacityLimiter(CONCURRENCY)

    async def sync(self, name: str, till: int | None = None) -> int:
        """Fetch one segment until up to date (or past ``till``); returns its change number."""
        async with self._limiter:
            while True:
                since = self._state.snapshot.segment_change_numbers.get(name, -1)
                if till is not None and till <= since:
                    return since
                body = await self._api.segment_changes(name, since)
                added = frozenset(k for k in body.get("added") or () if isinstance(k, str))
                removed = frozenset(k for k in body.get("removed") or () if isinstance(k, str))
                new_till: int = body["till"]
                applied = anyio.Event()
                await self._outbox.send(ApplySegment(
                    name, added, removed, max(new_till, since), replace=since == -1,
                    applied=applied,
                ))
                await applied.wait()
                if new_till == body.get("since", since) or new_till <= since:
                    return new_till

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

    async def sync_new(self) -> list[tuple[str, APIError]]:
        """Fetch the segments that flags reference but storage does not hold yet."""
        snapshot = self._state.snapshot
        missing = snapshot.referenced_segments() - set(snapshot.segments)
        return await self.sync_all(missing) if missing else []
