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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

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
from ..storage.snapshot import FlagChanges, Snapshot
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


def _stale(held: int, till: int | None) -> bool:
    """A section older than what storage holds (a ``t`` of -1 always applies: official)."""
    return till is not None and till != -1 and held > till


def fresh_sections(
    changes: FlagChanges, snapshot: Snapshot, source: str
) -> FlagChanges | None:
    """What of a JSON file to apply, by the official per-section rules: the ``ff`` and ``rbs``
    sections are each left out when their ``t`` is older than the change number held (nothing
    at all when both are); what is left is upserted whatever its definitions' change numbers
    say, since in localhost mode the file is the source of truth (a definition edited back to
    an older ``changeNumber`` is applied, and logged at debug)."""
    flags_stale = _stale(snapshot.flags_change_number, changes.flags_till)
    rbs_stale = _stale(snapshot.rule_based_segments_change_number,
                       changes.rule_based_segments_till)
    if flags_stale and rbs_stale:
        _LOGGER.debug(
            "localhost file %r: both sections are older than the data held (ff t=%s < %d, "
            "rbs t=%s < %d); nothing applied", source, changes.flags_till,
            snapshot.flags_change_number, changes.rule_based_segments_till,
            snapshot.rule_based_segments_change_number,
        )
        return None
    for what, stale, till, held in (
        ("ff", flags_stale, changes.flags_till, snapshot.flags_change_number),
        ("rbs", rbs_stale, changes.rule_based_segments_till,
         snapshot.rule_based_segments_change_number),
    ):
        if stale:
            _LOGGER.debug("localhost file %r: the %r section is older than the data held "
                          "(t=%s < %d); that section is not applied", source, what, till, held)
    flags = () if flags_stale else changes.flags
    segments = () if rbs_stale else changes.rule_based_segments
    _log_older(source, "feature flag", flags, snapshot.flags)
    _log_older(source, "rule-based segment", segments, snapshot.rule_based_segments)
    return replace(
        changes,
        flags=flags,
        flags_till=None if flags_stale else changes.flags_till,
        rule_based_segments=segments,
        rule_based_segments_till=None if rbs_stale else changes.rule_based_segments_till,
        source_of_truth=True,
    )


def _log_older(
    source: str, what: str, definitions: Iterable[Split | RuleBasedSegment],
    held: Mapping[str, Split | RuleBasedSegment],
) -> None:
    for definition in definitions:
        current = held.get(definition.name)
        if current is not None and current.change_number > definition.change_number:
            _LOGGER.debug(
                "localhost file %r: %s %r goes back from changeNumber %d to %d; applied (the "
                "file is the source of truth)", source, what, definition.name,
                current.change_number, definition.change_number,
            )


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
        if self._json:
            changes = fresh_sections(changes, self._state.snapshot, self._split_file)
            if changes is None:
                return
        applied = anyio.Event()
        await self._outbox.send(ApplyFlags(changes, applied))
        await applied.wait()

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
