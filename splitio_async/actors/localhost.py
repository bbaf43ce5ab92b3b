"""The localhost source: flags (and segments) from files instead of Split's API.

Files are read and compiled in a worker thread (never on the event loop) and the result goes to
the storage actor like any other source's changes. The first load happens before the factory is
handed to the user, so a malformed file is an error at ``get_factory`` naming the file; a later bad
reload keeps the last good data, is logged once per distinct problem and shows in ``status()``
(``last_errors["localhost"]``) until a reload succeeds.

Files are read within bounds (``runtime.files``: regular files only, at most ``maxFileBytes``) and
every data error of a parser (nesting past ``jsonMaxDepth`` or the recursion limit, integers past
Python's digit limit, YAML aliases expanding past ``yamlMaxNodes``) is a ``LocalhostFileError``
naming the file: never the end of this actor, nor of the factory.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import anyio
from anyio.abc import TaskStatus

from .._threads import to_worker_thread
from ..errors import LocalhostFileError
from ..lifecycle import FactoryState
from ..limits import DATA_ERRORS, Limits, describe_data_error
from ..localhost import (
    detect_format,
    parse_legacy,
    parse_segment,
    parse_split_changes,
    parse_yaml,
)
from ..models.rule_based_segments import RuleBasedSegment, parse_rule_based_segment
from ..models.splits import Split, parse_split
from ..runtime.backoff import ProblemLog
from ..runtime.clock import SYSTEM_CLOCK
from ..runtime.files import read_bounded
from ..runtime.periodic import periodic
from ..storage.snapshot import FlagChanges, Snapshot
from ..transport.protocols import Clock
from .messages import ApplyFlags, ApplySegment, MarkReady
from .storage import StorageWriter

_LOGGER = logging.getLogger("splitio.sync.localhost")


@dataclass(slots=True)
class _Seen:
    """Digests of what was last applied, so an unchanged file is not applied again."""

    flags: str | None = None
    segments: dict[str, str] = field(default_factory=dict)
    refused: tuple[str, str] | None = None  # digest and problem of a flag file that failed


class UnusableFile(LocalhostFileError):
    """A flag file whose content cannot be used; ``digest`` identifies that content, so an
    unchanged bad file is not parsed again at every refresh (a YAML file nested a thousand
    levels deep costs PyYAML a second of CPU before it gives up)."""

    def __init__(self, path: str, problem: str, digest: str) -> None:
        super().__init__(path, problem)
        self.digest = digest


def _read(path: str, limits: Limits) -> tuple[str, str]:
    try:
        data = read_bounded(path, limits.max_file_bytes)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise LocalhostFileError(path, "file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LocalhostFileError(path, f"cannot be read ({exc})") from None
    return text, hashlib.sha256(data).hexdigest()


def _compile(raws: list[dict[str, object]], source: str) -> tuple[Split, ...]:
    flags = []
    for raw in raws:
        try:
            flags.append(parse_split(raw))
        except DATA_ERRORS as exc:
            _LOGGER.error("localhost file %r: a feature flag was skipped (%s)", source,
                          describe_data_error(exc))
    return tuple(flags)


def _compile_rbs(raws: list[dict[str, object]], source: str) -> tuple[RuleBasedSegment, ...]:
    segments = []
    for raw in raws:
        try:
            segments.append(parse_rule_based_segment(raw))
        except DATA_ERRORS as exc:
            _LOGGER.error("localhost file %r: a rule-based segment was skipped (%s)", source,
                          describe_data_error(exc))
    return tuple(segments)


def load_flags(
    path: str, previous_digest: str | None, limits: Limits | None = None,
    refused: tuple[str, str] | None = None,
) -> tuple[FlagChanges | None, str]:
    """Read and compile the flag file; None when its content has not changed. Runs in a thread.
    Every problem is a ``LocalhostFileError`` naming the file (``UnusableFile`` for its
    content; ``refused``, the digest and problem of content that failed before, is not parsed
    again)."""
    limits = limits or Limits()
    text, digest = _read(path, limits)
    if digest == previous_digest:
        return None, digest
    if refused is not None and refused[0] == digest:
        raise UnusableFile(path, refused[1], digest)
    try:
        return _parse_flags(path, text, limits), digest
    except LocalhostFileError as exc:
        raise UnusableFile(path, exc.problem, digest) from None
    except DATA_ERRORS as exc:
        raise UnusableFile(path, describe_data_error(exc, limits.json_max_depth), digest) \
            from None


def _parse_flags(path: str, text: str, limits: Limits) -> FlagChanges:
    kind = detect_format(path)
    if kind == "json":
        document = parse_split_changes(text, path, limits.json_max_depth)
        return FlagChanges(
            flags=_compile(document.flags, path),
            rule_based_segments=_compile_rbs(document.rbs, path),
            flags_till=document.flags_till,
            rule_based_segments_till=document.rbs_till,
        )
    raws = (parse_yaml(text, path, limits.yaml_max_nodes, limits.json_max_depth)
            if kind == "yaml" else parse_legacy(text, path))
    return FlagChanges(flags=_compile(raws, path), flags_till=0, replace_flags=True)


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


def load_segment(
    directory: str, name: str, limits: Limits | None = None
) -> tuple[str, list[str], list[str], int, str]:
    """Read one ``<name>.json`` segment file. Runs in a thread."""
    limits = limits or Limits()
    path = os.path.join(directory, f"{name}.json")
    text, digest = _read(path, limits)
    try:
        segment = parse_segment(text, path, limits.json_max_depth)
    except LocalhostFileError:
        raise
    except DATA_ERRORS as exc:
        raise LocalhostFileError(path, describe_data_error(exc, limits.json_max_depth)) \
            from None
    return path, segment.added, segment.removed, segment.till, digest


class LocalhostSource:
    def __init__(
        self,
        state: FactoryState,
        storage: StorageWriter,
        split_file: str,
        segment_directory: str,
        refresh: bool,
        flags_period: float,
        segments_period: float,
        limits: Limits | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._state = state
        self._storage = storage
        self._clock = clock
        self._split_file = split_file
        self._segment_directory = segment_directory
        self._refresh = refresh
        self._flags_period = flags_period
        self._segments_period = segments_period
        self._json = detect_format(split_file) == "json"
        self._seen = _Seen()
        self._limits = limits or Limits()
        self._flag_problems = ProblemLog(_LOGGER)
        self._segment_problems = ProblemLog(_LOGGER)

    @property
    def last_problem(self) -> str | None:
        """The last reload problem, until a reload succeeds (``status().last_errors``)."""
        return self._flag_problems.current or self._segment_problems.current

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Load everything once (errors propagate to the factory), then refresh if enabled."""
        await self._load_flags()
        await self._load_segments(True, self._flag_problems)
        await self._storage.apply(MarkReady())
        task_status.started()
        if not self._refresh:
            await anyio.sleep_forever()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._every, self._flags_period, self._refresh_flags,
                          self._flag_problems)
            if self._json:
                tg.start_soon(self._every, self._segments_period, self._refresh_segments,
                              self._segment_problems)

    async def _every(
        self, period: float, step: Callable[[ProblemLog], Awaitable[bool]], problems: ProblemLog
    ) -> None:
        """Reload every ``period``; a problem keeps the last good data (never ends the loop)."""

        async def reload() -> None:
            try:
                ok = await step(problems)
            except Exception as exc:  # a bug: logged (traceback once), the data stays served
                problems.problem(
                    f"localhost reload failed unexpectedly ({exc!r}); keeping the last good data",
                    logging.ERROR, exc_info=exc,
                )
                return
            if ok:
                problems.recovered("localhost files")

        await periodic(reload, period, clock=self._clock)

    async def _load_flags(self) -> None:
        try:
            changes, digest = await to_worker_thread(
                load_flags, self._split_file, self._seen.flags, self._limits, self._seen.refused
            )
        except UnusableFile as exc:
            self._seen.refused = (exc.digest, exc.problem)
            raise
        self._seen.flags, self._seen.refused = digest, None
        if changes is None:
            return
        if self._json:
            changes = fresh_sections(changes, self._state.snapshot, self._split_file)
            if changes is None:
                return
        await self._storage.apply(ApplyFlags(changes))

    async def _load_segments(self, only_new: bool, problems: ProblemLog) -> bool:
        """Load the referenced segments; False when one could not be (logged, skipped)."""
        if not self._json:
            return True
        ok = True
        snapshot = self._state.snapshot
        for name in sorted(snapshot.referenced_segments()):
            if only_new and name in snapshot.segments:
                continue
            try:
                _, added, removed, till, digest = await to_worker_thread(
                    load_segment, self._segment_directory, name, self._limits
                )
            except LocalhostFileError as exc:
                problems.problem(
                    f"Could not fetch segment: {name} {exc.problem} ({exc.path})", logging.ERROR
                )
                ok = False
                continue
            if self._seen.segments.get(name) == digest:
                continue
            held = self._state.snapshot.segment_change_numbers.get(name)
            if held is not None and till != -1 and held > till:
                continue
            self._seen.segments[name] = digest
            await self._storage.apply(
                ApplySegment(name, frozenset(added), frozenset(removed), till)
            )
        return ok

    async def _refresh_flags(self, problems: ProblemLog) -> bool:
        try:
            await self._load_flags()
        except LocalhostFileError as exc:
            problems.problem(f"{exc}; keeping the last good data", logging.ERROR)
            return False
        return await self._load_segments(True, problems)

    async def _refresh_segments(self, problems: ProblemLog) -> bool:
        return await self._load_segments(False, problems)
