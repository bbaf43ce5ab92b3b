"""Bootstrap then sync: serve at once from a JSON snapshot or a last-known-good cache file, then
switch to live data when the first sync completes.

The file has the shape of a localhost JSON file (``{"ff": {"d", "s", "t"}, "rbs": {...}}``)
plus an optional ``"segments": {name: {"keys": [...], "till": cn}}`` section. Flags are taken
as the API sends them (no localhost sanitizing: a snapshot of live data must evaluate as live
data). With ``cacheFile`` the SDK writes that file itself: after the first live sync and after
changes, at most every ``WRITE_PERIOD`` seconds, atomically (temporary file + rename), and once
more at shutdown.

A snapshot is read like any foreign input (``runtime.files``: a regular file of at most
``maxFileBytes``; JSON nested at most ``jsonMaxDepth`` deep): one that cannot be used is logged
and ignored, whatever is wrong with it, and the SDK starts as if there were none.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskStatus

from .. import bounded_json
from .._threads import to_worker_thread
from ..lifecycle import FactoryState
from ..limits import DATA_ERRORS, Limits, describe_data_error
from ..models.rule_based_segments import parse_rule_based_segment
from ..models.splits import parse_split
from ..runtime.backoff import ProblemLog
from ..runtime.clock import SYSTEM_CLOCK
from ..runtime.files import read_bounded
from ..runtime.periodic import periodic
from ..status import ChangeSubscription
from ..storage.snapshot import FlagChanges, Snapshot
from ..transport.protocols import Clock
from .messages import ApplyFlags, ApplySegment, MarkReady
from .storage import StorageWriter

_LOGGER = logging.getLogger("splitio.sync.bootstrap")

WRITE_PERIOD = 5.0  # seconds between cache writes while data keeps changing
FINAL_WRITE_TIMEOUT = 2.0  # seconds the last write at shutdown may take
_UNUSABLE: tuple[type[BaseException], ...] = (OSError, *DATA_ERRORS)  # a file, its content


@dataclass(frozen=True, slots=True)
class BootstrapData:
    changes: FlagChanges
    segments: dict[str, tuple[AbstractSet[str], int]]


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    section = document.get(name)
    return section if isinstance(section, dict) else {"d": [], "t": -1}


def read_bootstrap(path: str, limits: Limits | None = None) -> BootstrapData | None:
    """Parse a snapshot file (in a worker thread). None, logged, when it is missing or unusable:
    the SDK then starts as usual."""
    limits = limits or Limits()
    try:
        document = bounded_json.parse(read_bounded(path, limits.max_file_bytes),
                                      limits.json_max_depth)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        ff, rbs = _section(document, "ff"), _section(document, "rbs")
        flags = []
        for raw in ff.get("d") or ():
            try:
                flags.append(parse_split(raw))
            except DATA_ERRORS as exc:
                _LOGGER.warning("bootstrap %s: a flag was skipped (%s)", path,
                                describe_data_error(exc))
        segments_rbs = [parse_rule_based_segment(raw) for raw in rbs.get("d") or ()
                        if isinstance(raw, dict) and isinstance(raw.get("name"), str)]
        segments: dict[str, tuple[AbstractSet[str], int]] = {}
        for name, entry in (document.get("segments") or {}).items():
            keys = entry.get("keys") if isinstance(entry, dict) else None
            if isinstance(name, str) and isinstance(keys, list):
                till = entry.get("till")
                segments[name] = (frozenset(k for k in keys if isinstance(k, str)),
                                  till if isinstance(till, int) else -1)
    except FileNotFoundError:
        return None
    except _UNUSABLE as exc:
        _LOGGER.error("bootstrap file %r cannot be used (%s); starting without it", path,
                      describe_data_error(exc, limits.json_max_depth))
        return None
    return BootstrapData(
        FlagChanges(flags=tuple(flags), rule_based_segments=tuple(segments_rbs),
                    flags_till=_till(ff), rule_based_segments_till=_till(rbs),
                    replace_flags=True),
        segments,
    )


def _till(section: dict[str, Any]) -> int:
    till = section.get("t")
    return till if isinstance(till, int) and not isinstance(till, bool) else -1


def snapshot_document(snapshot: Snapshot) -> dict[str, Any]:
    """The cache file's content: what the SDK holds, in the bootstrap format."""
    flags = [
        {**split.raw, "killed": split.killed, "defaultTreatment": split.default_treatment,
         "changeNumber": split.change_number}
        for split in snapshot.flags.values() if split.raw
    ]
    return {
        "ff": {"d": flags, "s": -1, "t": snapshot.flags_change_number},
        "rbs": {"d": [dict(r.raw) for r in snapshot.rule_based_segments.values() if r.raw],
                "s": -1, "t": snapshot.rule_based_segments_change_number},
        "segments": {
            name: {"keys": sorted(keys),
                   "till": snapshot.segment_change_numbers.get(name, -1)}
            for name, keys in snapshot.segments.items()
        },
    }


def write_cache(path: str, document: dict[str, Any]) -> None:
    """Atomic write (in a worker thread): readers never see half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".splitio-cache-", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, separators=(",", ":"))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def seed_data(snapshot: Snapshot) -> BootstrapData:
    """Live data another factory already holds (a preforked master's), as bootstrap data."""
    return BootstrapData(
        FlagChanges(
            flags=tuple(snapshot.flags.values()),
            rule_based_segments=tuple(snapshot.rule_based_segments.values()),
            flags_till=snapshot.flags_change_number,
            rule_based_segments_till=snapshot.rule_based_segments_change_number,
            replace_flags=True,
        ),
        {name: (keys, snapshot.segment_change_numbers.get(name, -1))
         for name, keys in snapshot.segments.items()},
    )


@dataclass(frozen=True, slots=True)
class Served:
    """What ``bootstrap`` served: from where, and what the first live fetches must replace
    whole (the syncers take it at construction)."""

    source: str
    replace_flags: bool
    replace_segments: frozenset[str]


async def bootstrap(
    storage: StorageWriter,
    paths: tuple[str | None, ...],
    seed: Snapshot | None = None,
    limits: Limits | None = None,
) -> Served | None:
    """Serve from the first usable snapshot in ``paths`` at once: the factory is ready now, and
    the first live fetch of each kind replaces the bootstrap data whole.

    ``seed`` (live data handed over in a preforked worker) is served the same way, but being
    live it is kept and only updated by deltas."""
    data: BootstrapData | None = seed_data(seed) if seed is not None else None
    used: str | None = "preforked master" if seed is not None else None
    for path in paths if data is None else ():
        if path:
            data = await to_worker_thread(read_bootstrap, path, limits)
            if data is not None:
                used = path
                break
    if data is None:
        return None
    await storage.apply(ApplyFlags(data.changes))
    for name, (keys, till) in data.segments.items():
        await storage.apply(ApplySegment(name, keys, frozenset(), till, replace=True))
    await storage.apply(MarkReady())
    _LOGGER.info("Serving %d flags from %s until the first live sync",
                 len(data.changes.flags), used)
    assert used is not None
    if seed is not None:
        return Served(used, False, frozenset())
    return Served(used, True, frozenset(data.segments))


class CacheWriter:
    """Writes the cache file after the first live sync and whenever data changed."""

    def __init__(
        self, state: FactoryState, path: str, changes: ChangeSubscription,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._state = state
        self._clock = clock
        self._path = path
        self._changes = changes
        self._dirty = True
        self._problems = ProblemLog(_LOGGER)
        self.writes = 0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch)
                await periodic(self._write_if_needed, WRITE_PERIOD, clock=self._clock)
        finally:
            with self._clock.deadline(FINAL_WRITE_TIMEOUT, shield=True):
                await self._write_if_needed()

    async def _watch(self) -> None:
        async for _ in self._changes:
            self._dirty = True

    async def _write_if_needed(self) -> None:
        if not self._dirty or not self._state.snapshot.flags_change_number > 0:
            return
        self._dirty = False
        document = snapshot_document(self._state.snapshot)
        try:
            await to_worker_thread(write_cache, self._path, document)
        except _UNUSABLE as exc:  # never the end of the factory
            self._dirty = True
            self._problems.problem(f"cache file {self._path!r} could not be written "
                                   f"({describe_data_error(exc)})")
            return
        self._problems.recovered("cache file")
        self.writes += 1
