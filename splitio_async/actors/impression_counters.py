"""What the impressions mode only counts, sent on the impressions recorder's flushes: impression
counts and unique keys, to Split's API or (consumer mode) to Redis."""

from __future__ import annotations

from typing import Any, Protocol

from ..engine.impressions import ImpressionsStrategy
from ..models.wire import unique_keys_bodies
from ..runtime.clock import SYSTEM_CLOCK
from ..transport.protocols import Clock

COUNTS_PERIOD = 1800.0  # impression counts (official)
UNIQUE_KEYS_PERIOD = 900.0  # unique keys (official)


class PartlyWritten(Exception):
    """A destination wrote some of what it was given, one piece at a time, and not the rest
    (``unsent``, in the shape it was given): only that is kept for the retry, so what was
    written is never counted twice."""

    def __init__(self, cause: Exception, unsent: Any) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.unsent = unsent


class CountsDestination(Protocol):
    """Split's API, or the store of a consumer mode (Redis, a pluggable wrapper); may raise
    ``PartlyWritten``."""

    async def post_impression_counts(self, body: dict[str, Any], mode: str) -> None: ...

    async def post_unique_keys(self, body: dict[str, Any]) -> None: ...


class ImpressionCounters:
    """Sends what the impressions mode only counted: counts every 30 min, unique keys every
    15 min or past 30,000 pairs, both at shutdown. A failed send is merged back and retried."""

    def __init__(
        self, api: CountsDestination, strategy: ImpressionsStrategy, mode: str,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._api = api
        self._strategy = strategy
        self._mode = mode
        self._clock = clock
        now = clock.now()
        self._counts_due = now + COUNTS_PERIOD
        self._keys_due = now + UNIQUE_KEYS_PERIOD
        self.counts_sent = 0
        self.unique_keys_sent = 0

    async def flush(self, final: bool) -> None:
        now = self._clock.now()
        if final or now >= self._counts_due:
            await self._send_counts()
            self._counts_due = now + COUNTS_PERIOD
        if final or now >= self._keys_due or self._strategy.unique_keys_due:
            await self._send_unique_keys()
            self._keys_due = now + UNIQUE_KEYS_PERIOD

    async def _send_counts(self) -> None:
        counts = self._strategy.pop_counts()
        if not counts:
            return
        body = {"pf": [{"f": flag, "m": hour, "rc": count} for flag, hour, count in counts]}
        try:
            await self._api.post_impression_counts(body, self._mode)
        except PartlyWritten as exc:
            self._strategy.restore_counts(
                [(entry["f"], entry["m"], entry["rc"]) for entry in exc.unsent["pf"]]
            )
            self.counts_sent += sum(count for _, _, count in counts) - sum(
                entry["rc"] for entry in exc.unsent["pf"])
            raise
        except Exception:
            self._strategy.restore_counts(counts)
            raise
        self.counts_sent += sum(count for _, _, count in counts)

    async def _send_unique_keys(self) -> None:
        keys = self._strategy.pop_unique_keys()
        bodies = unique_keys_bodies(keys)
        for index, body in enumerate(bodies):
            try:
                await self._api.post_unique_keys(body)
            except Exception:
                for rest in bodies[index:]:
                    for entry in rest["keys"]:
                        self._strategy.restore_unique_keys(entry["f"], entry["ks"])
                raise
            self.unique_keys_sent += sum(len(entry["ks"]) for entry in body["keys"])
