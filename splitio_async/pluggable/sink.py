"""Where pluggable mode's records go: through the user's wrapper, under the keys and in the
formats the official SDK's pluggable mode writes (OFFICIAL.md §6), so the Split Synchronizer
(or whatever drains the store) reads them as it reads the official SDK's.

* impressions, events: ``push_items(<p>SPLITIO.impressions | events, *json)`` per bulk, then
  ``expire(key, 3600)`` when the push created the list (its new length is what was pushed);
* impression counts: ``increment(<p>SPLITIO.impressions.count.<flag>::<hour ms>, count)`` per
  flag and hour, ``expire`` when the key is new (the answer is the count);
* unique keys: ``push_items(<p>SPLITIO.uniquekeys, *json)`` per bulk of at most 5,000 keys;
* telemetry: ``set(<p>SPLITIO.telemetry.init::<sdk>/<name>/<ip>, json)`` once, and counters
  ``increment(<p>SPLITIO.telemetry.latencies::<sdk>/<name>/<ip>/<method>/<bucket>, n)`` and
  ``...exceptions::<sdk>/<name>/<ip>/<method>``, ``expire`` when new.

Unlike the official SDK, records are written by the recorder tasks in bulks (an evaluation never
waits for the wrapper), nothing is pushed when there is nothing to push, and a wrapper failure
never loses a record: the recorder keeps what was not written and retries. A write of several
counters that fails midway raises ``PartlyWritten`` with what is left, so that a retry does not
count the written ones twice. A failed ``expire`` after a successful write is only logged: the
records are in the store, and writing them again would duplicate them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from ..actors.impression_counters import PartlyWritten
from ..models.events import Event
from ..models.impressions import Impression
from ..redis.keys import IMPRESSIONS_TTL, RedisKeys
from ..storage.synchronizer_records import RecordFormat, init_value, unique_keys_values
from ..transport.metadata import SdkMetadata
from .runner import Call

_LOGGER = logging.getLogger("splitio.storage.pluggable")


class Runner(Protocol):
    """What the sink needs of ``WrapperRunner``."""

    async def run(self, calls: Sequence[Call]) -> list[Any]: ...

    async def outcomes(self, calls: Sequence[Call]) -> list[Any]: ...


class PluggableSink:
    """Writes impressions, events, impression counts, unique keys and telemetry through the
    wrapper; raises when it fails (the recorders keep what was not written and retry)."""

    def __init__(self, runner: Runner, keys: RedisKeys, metadata: SdkMetadata) -> None:
        self._runner = runner
        self._keys = keys
        self._format = RecordFormat(metadata)
        self._counts_prefix = keys.impressions_count + "."

    async def send_impressions(self, bulk: Sequence[Impression]) -> None:
        await self._push(self._keys.impressions, [self._format.impression(i) for i in bulk])

    async def send_events(self, bulk: Sequence[Event]) -> None:
        await self._push(self._keys.events, [self._format.event(e) for e in bulk])

    async def post_impression_counts(self, body: dict[str, Any], mode: str) -> None:
        """One counter per flag and hour (``ImpressionCounters``' destination)."""
        counters = [
            (f"{self._counts_prefix}{entry['f']}::{entry['m']}", entry["rc"])
            for entry in body["pf"]
        ]
        unsent = await self._increment(counters)
        if unsent:
            raise PartlyWritten(unsent[0], {
                "pf": [entry for entry, (key, _) in zip(body["pf"], counters, strict=True)
                       if key in unsent[1]],
            })

    async def post_unique_keys(self, body: dict[str, Any]) -> None:
        await self._push(self._keys.unique_keys, unique_keys_values(body))

    async def write_init(self, active: int, redundant: int) -> None:
        """The config record, once per factory (no TTL, as official)."""
        await self._runner.run([("set", (
            f"{self._keys.telemetry_init}::{self._format.machine}",
            init_value(active, redundant, "pluggable"),
        ))])

    async def write_telemetry(
        self, latencies: Counter[tuple[str, int]], exceptions: Counter[str]
    ) -> None:
        keys, fields = self._keys, self._format
        counters = [
            (f"{keys.telemetry_latencies}::{fields.latency_field(code, bucket)}", count)
            for (code, bucket), count in sorted(latencies.items())
        ]
        counters.extend(
            (f"{keys.telemetry_exceptions}::{fields.exception_field(code)}", count)
            for code, count in sorted(exceptions.items())
        )
        unsent = await self._increment(counters)
        if unsent:
            raise PartlyWritten(unsent[0], (
                Counter({(code, bucket): count for (code, bucket), count in latencies.items()
                         if f"{keys.telemetry_latencies}::{fields.latency_field(code, bucket)}"
                         in unsent[1]}),
                Counter({code: count for code, count in exceptions.items()
                         if f"{keys.telemetry_exceptions}::{fields.exception_field(code)}"
                         in unsent[1]}),
            ))

    async def _push(self, key: str, values: list[str]) -> None:
        """Nothing is pushed for nothing (the official SDK pushes no values at all)."""
        if not values:
            return
        (length,) = await self._runner.run([("push_items", (key, *values))])
        if _number(length) == len(values):  # this push created the list
            await self._expire([key])

    async def _increment(
        self, counters: list[tuple[str, int]]
    ) -> tuple[Exception, set[str]] | None:
        """Each counter, one call each (one batch); the keys created get the TTL. On a failure,
        the first error and the keys not written (None when all were)."""
        if not counters:
            return None
        outcomes = await self._runner.outcomes([("increment", c) for c in counters])
        failures = [o for o in outcomes if isinstance(o, Exception)]
        await self._expire([key for (key, count), answer in zip(counters, outcomes, strict=True)
                            if not isinstance(answer, Exception) and _number(answer) == count])
        if not failures:
            return None
        if len(failures) == len(counters):
            raise failures[0]  # nothing written: the caller keeps it all
        return failures[0], {key for (key, _), answer in zip(counters, outcomes, strict=True)
                             if isinstance(answer, Exception)}

    async def _expire(self, keys: list[str]) -> None:
        if not keys:
            return
        try:
            await self._runner.run([("expire", (key, IMPRESSIONS_TTL)) for key in keys])
        except Exception as exc:  # written already: never written again for a TTL
            _LOGGER.warning("Could not set the TTL of %d record keys (%s: %s)",
                            len(keys), type(exc).__name__, exc)


def _number(answer: Any) -> int | None:
    try:
        return int(answer)
    except (TypeError, ValueError):
        return None
