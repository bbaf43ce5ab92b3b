"""The localhost source: flags (and segments) from files instead of Split's API.

Files are read and compiled in a worker thread (never on the event loop) and the result goes to
the storage actor like any other source's changes. The first load happens before the factory is
handed to the user, so a malformed file is an error at ``get_factory`` naming the file; a later bad
reload keeps the last good data and is logged once per distinct problem.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from .._threads import to_worker_thread
from ..errors import LocalhostFileError
from ..localhost import (
    detect_format,
    parse_legacy,
    parse_segment,
    parse_split_changes,
    parse_yaml,
)
from ..models.rule_based_segments import RuleBasedSegment, parse_rule_based_segment
from ..models.splits import Split, parse_split
from ..storage.snapshot import FlagChanges
from ..storage.state import FactoryState
from .messages import ApplyFlags, ApplySegment, MarkReady, StorageMessage

_LOGGER = logging.getLogger("splitio.sync.localhost")


@dataclass(slots=True)
class _Seen:
    """Digests of what was last applied, so an unchanged file is not applied again."""

    flags: str | None = None
    segments: dict[str, str] = field(default_factory=dict)
    last_error: str | None = None


def _read(path: str) -> tuple[str, str]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise LocalhostFileError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalhostFileError(path, f"cannot be read ({exc})") from None
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def _compile(raws: list[dict[str, object]], source: str) -> tuple[Split, ...]:
    flags = []
    for raw in raws:
        try:
            flags.append(parse_split(raw))
        except ValueError as exc:
            _LOGGER.error("localhost file %r: a feature flag was skipped (%s)", source, exc)
    return tuple(flags)


def _compile_rbs(raws: list[dict[str, object]], source: str) -> tuple[RuleBasedSegment, ...]:
    segments = []
    for raw in raws:
        try:
            segments.append(parse_rule_based_segment(raw))
        except (ValueError, KeyError, TypeError) as exc:
            _LOGGER.error("localhost file %r: a rule-based segment was skipped (%s)", source, exc)
    return tuple(segments)


def load_flags(path: str, previous_digest: str | None) -> tuple[FlagChanges | None, str]:
    """Read and compile the flag file; None when its content has not changed. Runs in a thread."""
    text, digest = _read(path)
    if digest == previous_digest:
        return None, digest
    kind = detect_format(path)
    if kind == "json":
        document = parse_split_changes(text, path)
        return FlagChanges(
            flags=_compile(document.flags, path),
            rule_based_segments=_compile_rbs(document.rbs, path),
            flags_till=document.flags_till,
            rule_based_segments_till=document.rbs_till,
        ), digest
    raws = parse_yaml(text, path) if kind == "yaml" else parse_legacy(text, path)
    return FlagChanges(flags=_compile(raws, path), flags_till=0, replace_flags=True), digest


def load_segment(directory: str, name: str) -> tuple[str, list[str], list[str], int, str]:
    """Read one ``<name>.json`` segment file. Runs in a thread."""
    path = os.path.join(directory, f"{name}.json")
    text, digest = _read(path)
    segment = parse_segment(text, path)
    return path, segment.added, segment.removed, segment.till, digest


class LocalhostSource:
    def __init__(
        self,
        state: FactoryState,
        outbox: MemoryObjectSendStream[StorageMessage],
        split_file: str,
        segment_directory: str,
        refresh: bool,
        flags_period: float,
        segments_period: float,
    ) -> None:
        self._state = state
        self._outbox = outbox
        self._split_file = split_file
        self._segment_directory = segment_directory
        self._refresh = refresh
        self._flags_period = flags_period
        self._segments_period = segments_period
        self._json = detect_format(split_file) == "json"
        self._seen = _Seen()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Load everything once (errors propagate to the factory), then refresh if enabled."""
        async with self._outbox:
            await self._load_flags()
            await self._load_segments(only_new=True)
            ready = anyio.Event()
            await self._outbox.send(MarkReady(ready))
            await ready.wait()
            task_status.started()
            if not self._refresh:
                await anyio.sleep_forever()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._every, self._flags_period, self._refresh_flags)
                if self._json:
                    tg.start_soon(self._every, self._segments_period, self._refresh_segments)

    async def _every(self, period: float, step: object) -> None:
        while True:
            await anyio.sleep(period)
            await step()  # type: ignore[operator]

    async def _load_flags(self) -> None:
        changes, digest = await to_worker_thread(
            load_flags, self._split_file, self._seen.flags
        )
        self._seen.flags = digest
        if changes is None:
            return
        if self._json and not self._is_newer(changes):
            return
        applied = anyio.Event()
        await self._outbox.send(ApplyFlags(changes, applied))
        await applied.wait()

    def _is_newer(self, changes: FlagChanges) -> bool:
        """A JSON file older than what storage holds is ignored (a ``till`` of -1 applies)."""
        snapshot = self._state.snapshot

        def stale(held: int, till: int | None) -> bool:
            return till is not None and till != -1 and held > till

        return not (
            stale(snapshot.flags_change_number, changes.flags_till)
            and stale(snapshot.rule_based_segments_change_number,
                      changes.rule_based_segments_till)
        )

    async def _load_segments(self, only_new: bool) -> None:
        if not self._json:
            return
        snapshot = self._state.snapshot
        for name in sorted(snapshot.referenced_segments()):
            if only_new and name in snapshot.segments:
                continue
            try:
                _, added, removed, till, digest = await to_worker_thread(
                    load_segment, self._segment_directory, name
                )
            except LocalhostFileError as exc:
                self._log_once(f"Could not fetch segment: {name} {exc.problem} ({exc.path})")
                continue
            if self._seen.segments.get(name) == digest:
                continue
            held = self._state.snapshot.segment_change_numbers.get(name)
            if held is not None and till != -1 and held > till:
                continue
            self._seen.segments[name] = digest
            applied = anyio.Event()
            await self._outbox.send(
                ApplySegment(name, frozenset(added), frozenset(removed), till, applied=applied)
            )
            await applied.wait()

    async def _refresh_flags(self) -> None:
        try:
            await self._load_flags()
            await self._load_segments(only_new=True)
        except LocalhostFileError as exc:
            self._log_once(f"{exc}; keeping the last good data")
            return
        self._seen.last_error = None

    async def _refresh_segments(self) -> None:
        await self._load_segments(only_new=False)

    def _log_once(self, problem: str) -> None:
        if problem != self._seen.last_error:
            self._seen.last_error = problem
            _LOGGER.error("%s", problem)
