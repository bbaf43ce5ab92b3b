"""What consumer mode knows of the store the Split Synchronizer keeps (Redis, pluggable storage),
and how it gathers an evaluation's data in one round trip. No I/O here: the methods are steps
(generators) that yield what they need to read -- in the storage-neutral vocabulary of
``storage.reads`` -- and are sent the answers, so the same code serves the asyncio client, the
trio client and the blocking shim, over any back end.

Why one round trip is possible: an evaluation needs the flag, the flags it depends on, the
rule-based segments it reads and the key's membership of the segments they all reference, and
only the flag's definition says which. The view remembers the last definition it saw of every
flag and rule-based segment (fresh or not), so it can ask for the whole closure at once: the
definitions it must (re)read and every membership the old definitions imply. If the answer shows
a definition that now needs something more (rare: a flag was edited), it asks again for what is
missing. Nothing stale is ever used: with the local cache off, every definition and membership an
evaluation uses was read during that call; with it on, nothing older than its TTL.

The local cache (Redis: ``redisLocalCacheEnabled``, ``redisLocalCacheTTL``) covers flags,
rule-based segments, segment memberships (per segment and key), flag-set members and traffic
types; a call whose needs are all cached makes no round trip. A definition read again unchanged
keeps its compiled form, so reading is cheap even with the cache off.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ..core.steps import Steps
from ..models.rule_based_segments import RuleBasedSegment, parse_rule_based_segment
from ..models.splits import Split, parse_split
from .reads import Answers, Definition, Reads
from .snapshot import FlagChanges, Snapshot, apply_flag_changes, apply_segment_change

_LOGGER = logging.getLogger("splitio.storage.redis")

T = TypeVar("T")

MEMBERSHIPS_CACHED = 100_000  # (segment, key) answers kept; the oldest go first
CLOSURES_CACHED = 1_000

Closure = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # flags, rbs, segments


class Gathered:
    """An evaluation's data (the evaluator's ``EvaluationData``): the view's compiled flags and
    rule-based segments (each needed one read within the freshness bound) and the memberships
    of the key being evaluated."""

    __slots__ = ("_members", "_rbs", "flags")

    def __init__(
        self, flags: Mapping[str, Split], rbs: Mapping[str, RuleBasedSegment],
        members: Mapping[str, bool],
    ) -> None:
        self.flags = flags
        self._rbs = rbs
        self._members = members

    def in_segment(self, segment_name: str, key: str) -> bool:
        return self._members.get(segment_name, False)

    def rule_based_segment(self, name: str) -> RuleBasedSegment | None:
        return self._rbs.get(name)


class _Plan:
    """What reading everything some flags need takes, while no definition changes (the cache-off
    steady state: only the key differs from call to call)."""

    __slots__ = ("flags", "generation", "rule_based_segments", "segments")

    def __init__(self, generation: int, closure: Closure) -> None:
        self.generation = generation
        self.flags, self.rule_based_segments, self.segments = closure


class _Gathering:
    """One gathering's progress: what it read (and when), and the memberships it knows."""

    __slots__ = ("flags", "key", "members", "now", "rule_based_segments", "sets")

    def __init__(self, now: float, key: str | None) -> None:
        self.now = now
        self.key = key
        self.flags: set[str] = set()
        self.rule_based_segments: set[str] = set()
        self.sets: dict[str, frozenset[str]] = {}
        self.members: dict[str, bool] = {}


class ConsumerView:
    """The cache and knowledge of one factory; safe to share between threads (dict operations
    are atomic; eviction takes a lock for its few steps)."""

    def __init__(
        self, cache_ttl: float | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = cache_ttl if cache_ttl and cache_ttl > 0 else 0.0
        self._clock = clock
        self.flags: dict[str, Split] = {}  # the last good definition read of each flag
        self.rule_based_segments: dict[str, RuleBasedSegment] = {}
        self._flag_reads: dict[str, tuple[float, Definition | None]] = {}  # name -> (at, value)
        self._rbs_reads: dict[str, tuple[float, Definition | None]] = {}
        self._members: dict[tuple[str, str], tuple[float, bool]] = {}
        self._sets: dict[str, tuple[float, frozenset[str]]] = {}
        self._traffic_types: dict[str, tuple[float, bool]] = {}
        self._closures: dict[tuple[str, ...], tuple[int, Closure]] = {}
        # what repeated calls for the same flags need, while it is all cached: (generation,
        # good until, segments, the data itself when it does not depend on the key)
        self._memos: dict[tuple[str, ...], tuple[int, float, tuple[str, ...],
                                                  Gathered | None]] = {}
        self._plans: dict[tuple[str, ...], _Plan] = {}
        self._generation = 0  # bumped whenever a definition changes
        self._evict_lock = threading.Lock()

    @property
    def cache_enabled(self) -> bool:
        return self._ttl > 0

    # ------------------------------------------------------------------ evaluation data

    def cached(self, names: tuple[str, ...], matching_key: str) -> Gathered | None:
        """The data to evaluate ``names`` for ``matching_key`` when the local cache holds all
        of it (no I/O, no generator: the hot path of a cached call); None otherwise."""
        memo = self._memos.get(names)
        if memo is None or memo[0] != self._generation:
            return None
        now = self._clock()
        if now >= memo[1]:
            return None
        if memo[3] is not None:
            return memo[3]
        members: dict[str, bool] = {}
        ttl = self._ttl
        for segment in memo[2]:
            entry = self._members.get((segment, matching_key))
            if entry is None or now - entry[0] >= ttl:
                return None
            members[segment] = entry[1]
        return Gathered(self.flags, self.rule_based_segments, members)

    def gather(
        self, names: Sequence[str], matching_key: str | None, flag_sets: Sequence[str] = ()
    ) -> Steps[tuple[Gathered, list[str]]]:
        """The data to evaluate ``names`` (plus the members of ``flag_sets``) for
        ``matching_key``, and the flag names to evaluate (``names`` then the sets' members,
        sorted). One read in the steady state; none when everything is cached. Without a
        ``matching_key`` (an invalid one), no membership is read."""
        now = self._clock()
        if not self._ttl and not flag_sets and matching_key is not None:
            names = tuple(names)
            plan = self._plans.get(names)
            if plan is None or plan.generation != self._generation:
                plan = self._plan(names)
            answers = yield Reads(
                plan.flags, plan.rule_based_segments, plan.segments, matching_key
            )
            members = self._take_planned(plan, answers, now)
            if self._generation == plan.generation:
                return Gathered(self.flags, self.rule_based_segments, members), list(names)
            gathering = _Gathering(now, matching_key)  # a definition changed: read the rest
            gathering.flags.update(plan.flags)
            gathering.rule_based_segments.update(plan.rule_based_segments)
            gathering.members = members
        else:
            gathering = _Gathering(now, matching_key)
        while True:
            roots = self._roots(names, flag_sets, gathering)
            generation = self._generation
            closure = self._closure(tuple(roots))
            reads = self._wanted(closure, flag_sets, gathering)
            if reads is None:  # all known, fresh enough
                self._done(names, flag_sets, generation, closure, gathering)
                data = Gathered(self.flags, self.rule_based_segments, gathering.members)
                return data, roots
            self._take(reads, (yield reads), gathering)

    def _plan(self, names: tuple[str, ...]) -> _Plan:
        generation = self._generation
        plan = _Plan(generation, self._closure(names))
        if len(self._plans) >= CLOSURES_CACHED:
            self._plans.clear()
        self._plans[names] = plan
        return plan

    def _take_planned(self, plan: _Plan, answers: Answers, now: float) -> dict[str, bool]:
        """Store a planned read's definitions; the key's memberships."""
        for name, definition in zip(plan.flags, answers.flags, strict=True):
            self._store_flag(name, definition, now)
        for name, definition in zip(
            plan.rule_based_segments, answers.rule_based_segments, strict=True
        ):
            self._store_rbs(name, definition, now)
        return dict(zip(plan.segments, answers.memberships, strict=True))

    def _roots(
        self, names: Sequence[str], flag_sets: Sequence[str], gathering: _Gathering
    ) -> list[str]:
        """The flags to evaluate: ``names``, then the sets' members (as read in this gathering,
        else as last known), sorted."""
        roots = list(names)
        if flag_sets:
            found: set[str] = set()
            for name in flag_sets:
                known = gathering.sets.get(name)
                if known is None:
                    cached = self._sets.get(name)
                    known = cached[1] if cached is not None else frozenset()
                found |= known
            roots.extend(sorted(found - set(names)))
        return roots

    def _wanted(
        self, closure: Closure, flag_sets: Sequence[str], gathering: _Gathering
    ) -> Reads | None:
        """What ``closure`` (and the sets) still need read: not read in this gathering and not
        fresh in the cache (cached memberships join the gathering's); None when nothing."""
        now = gathering.now
        fresh = self._fresh
        flags, rbs, segments = closure
        want_sets = [s for s in flag_sets
                     if s not in gathering.sets and not fresh(self._sets.get(s), now)]
        want_flags = [n for n in flags
                      if n not in gathering.flags and not fresh(self._flag_reads.get(n), now)]
        want_rbs = [n for n in rbs if n not in gathering.rule_based_segments
                    and not fresh(self._rbs_reads.get(n), now)]
        want_segments: list[str] = []
        key = gathering.key
        members = gathering.members
        for segment in segments if key is not None else ():
            if segment in members:
                continue
            cached = self._members.get((segment, key))  # type: ignore[arg-type]
            if cached is not None and fresh(cached, now):
                members[segment] = cached[1]
            else:
                want_segments.append(segment)
        if not (want_sets or want_flags or want_rbs or want_segments):
            return None
        return Reads(flag_sets=want_sets, flags=want_flags, rule_based_segments=want_rbs,
                     segments=want_segments, key=key or "")

    def _take(self, reads: Reads, answers: Answers, gathering: _Gathering) -> None:
        """Store what ``reads`` brought: definitions, sets and memberships (cached when the
        local cache is on)."""
        now = gathering.now
        for name, members in zip(reads.flag_sets, answers.flag_sets, strict=True):
            gathering.sets[name] = members
            self._sets[name] = (now, members)
        for name, definition in zip(reads.flags, answers.flags, strict=True):
            self._store_flag(name, definition, now)
            gathering.flags.add(name)
        for name, definition in zip(
            reads.rule_based_segments, answers.rule_based_segments, strict=True
        ):
            self._store_rbs(name, definition, now)
            gathering.rule_based_segments.add(name)
        key = gathering.key
        for segment, member in zip(reads.segments, answers.memberships, strict=True):
            gathering.members[segment] = member
            if self._ttl and key is not None:
                self._remember_member((segment, key), (now, member))

    def _done(
        self, names: Sequence[str], flag_sets: Sequence[str], generation: int,
        closure: Closure, gathering: _Gathering,
    ) -> None:
        """A gathering complete: remember for ``cached`` what ``names`` need (cache on, no
        sets); the sets not read in this gathering count as their cached members."""
        if self._ttl and not flag_sets:
            self._memorize(tuple(names), generation, closure)
        for name in flag_sets:
            if name not in gathering.sets:
                cached_set = self._sets.get(name)
                gathering.sets[name] = cached_set[1] if cached_set else frozenset()

    def _memorize(self, names: tuple[str, ...], generation: int, closure: Closure) -> None:
        """Remember, for ``cached``, until when the definitions ``names`` need stay fresh."""
        reads = [self._flag_reads.get(n) for n in closure[0]]
        reads += [self._rbs_reads.get(n) for n in closure[1]]
        times = [read[0] for read in reads if read is not None]
        if len(times) != len(reads) or not times:
            return
        if len(self._memos) >= CLOSURES_CACHED:
            self._memos.clear()
        segments = closure[2]
        self._memos[names] = (
            generation, min(times) + self._ttl, segments,
            None if segments else Gathered(self.flags, self.rule_based_segments, {}),
        )

    def _closure(self, roots: tuple[str, ...]) -> Closure:
        """Every flag, rule-based segment and segment that evaluating ``roots`` reads, as far
        as the known definitions tell (cached until a definition changes)."""
        cached = self._closures.get(roots)
        if cached is not None and cached[0] == self._generation:
            return cached[1]
        generation = self._generation
        flags: dict[str, None] = {}
        rbs: dict[str, None] = {}
        segments: dict[str, None] = {}
        pending = list(roots)
        while pending:
            name = pending.pop()
            if name in flags:
                continue
            flags[name] = None
            split = self.flags.get(name)
            if split is None:
                continue
            pending.extend(split.dependency_names)
            segments.update(dict.fromkeys(split.segment_names))
            self._rbs_closure(split.rule_based_segment_names, rbs, segments)
        result = (tuple(flags), tuple(rbs), tuple(segments))
        if len(self._closures) >= CLOSURES_CACHED:
            self._closures.clear()
        self._closures[roots] = (generation, result)
        return result

    def _rbs_closure(
        self, names: Iterable[str], rbs: dict[str, None], segments: dict[str, None]
    ) -> None:
        pending = list(names)
        while pending:
            name = pending.pop()
            if name in rbs:
                continue
            rbs[name] = None
            segment = self.rule_based_segments.get(name)
            if segment is not None:
                segments.update(dict.fromkeys(segment.segment_names))
                pending.extend(segment.rule_based_segment_names)

    def _fresh(self, entry: tuple[float, Any] | None, now: float) -> bool:
        return entry is not None and now - entry[0] < self._ttl

    def _store_flag(self, name: str, definition: Definition | None, now: float) -> None:
        previous = self._flag_reads.get(name)
        self._flag_reads[name] = (now, definition)
        if previous is not None and previous[1] == definition:
            return  # same value as last time: keep the compiled flag (or its absence)
        self._generation += 1
        split = _parse(definition, parse_split, "feature flag", name)
        if split is None:
            self.flags.pop(name, None)
        else:
            self.flags[name] = split

    def _store_rbs(self, name: str, definition: Definition | None, now: float) -> None:
        previous = self._rbs_reads.get(name)
        self._rbs_reads[name] = (now, definition)
        if previous is not None and previous[1] == definition:
            return
        self._generation += 1
        segment = _parse(definition, parse_rule_based_segment, "rule-based segment", name)
        if segment is None:
            self.rule_based_segments.pop(name, None)
        else:
            self.rule_based_segments[name] = segment

    def _remember_member(self, key: tuple[str, str], entry: tuple[float, bool]) -> None:
        members = self._members
        members.pop(key, None)  # re-inserted last: insertion order is age order
        members[key] = entry
        if len(members) > MEMBERSHIPS_CACHED:
            with self._evict_lock:
                try:
                    while len(members) > MEMBERSHIPS_CACHED:
                        del members[next(iter(members))]
                except (RuntimeError, KeyError, StopIteration):
                    pass  # another thread changed it meanwhile; the next insert evicts

    # ------------------------------------------------------------------ other reads

    def cached_traffic_type(self, name: str) -> bool | None:
        """Whether some flag uses traffic type ``name``, if the local cache knows."""
        cached = self._traffic_types.get(name)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        return None

    def traffic_type_exists(self, name: str) -> Steps[bool]:
        """Whether some flag uses traffic type ``name`` (``track``'s check)."""
        now = self._clock()
        cached = self._traffic_types.get(name)
        if cached is not None and self._fresh(cached, now):
            return cached[1]
        answers = yield Reads(traffic_type=name)
        exists = bool(answers.traffic_type)
        if self._ttl:
            self._traffic_types[name] = (now, exists)
        return exists

    def all_flags(self) -> Steps[list[Split]]:
        """Every flag in the store (the manager), read fresh: the names, then the definitions."""
        names = yield from self.flag_names()
        if not names:
            return []
        now = self._clock()
        answers = yield Reads(flags=names)
        for name, definition in zip(names, answers.flags, strict=True):
            self._store_flag(name, definition, now)
        return [self.flags[name] for name in names if name in self.flags]

    def flag_names(self) -> Steps[list[str]]:
        answers = yield Reads(flag_names=True)
        return sorted(answers.flag_names or ())

    def flag(self, name: str) -> Steps[Split | None]:
        answers = yield Reads(flags=(name,))
        self._store_flag(name, answers.flags[0], self._clock())
        return self.flags.get(name)

    def warm_up(self) -> Steps[int]:
        """Read every flag and rule-based segment once, so that even the first evaluation of a
        flag knows its dependencies (one round trip from the first call). Returns the number of
        flags found; raises if the store cannot be read (the factory is then not ready)."""
        answers = yield Reads(flag_names=True, rule_based_segment_names=True)
        flag_names = list(answers.flag_names or ())
        rbs_names = list(answers.rule_based_segment_names or ())
        if not flag_names and not rbs_names:
            return 0
        now = self._clock()
        answers = yield Reads(flags=flag_names, rule_based_segments=rbs_names)
        for name, definition in zip(flag_names, answers.flags, strict=True):
            self._store_flag(name, definition, now)
        for name, definition in zip(rbs_names, answers.rule_based_segments, strict=True):
            self._store_rbs(name, definition, now)
        # what the flag sets probably hold, from the flags' own ``sets``: knowledge for the
        # first flag-set call to ask for its flags at once (never served: marked as stale)
        members: dict[str, set[str]] = {}
        for split in self.flags.values():
            for flag_set in split.sets:
                members.setdefault(flag_set, set()).add(split.name)
        for flag_set, names in members.items():
            self._sets.setdefault(flag_set, (float("-inf"), frozenset(names)))
        return len(flag_names)


def read_snapshot() -> Steps[Snapshot]:
    """The whole store as a snapshot (the command line's one-off read): every flag and
    rule-based segment, the change numbers, then every segment they reference."""
    view = ConsumerView(None)
    yield from view.warm_up()
    answers = yield Reads(change_numbers=True)
    snapshot, _ = apply_flag_changes(Snapshot(), FlagChanges(
        flags=tuple(view.flags.values()),
        rule_based_segments=tuple(view.rule_based_segments.values()),
        flags_till=answers.flags_till,
        rule_based_segments_till=answers.rule_based_segments_till,
    ))
    names = sorted(snapshot.referenced_segments())
    if names:
        answers = yield Reads(segment_contents=names)
        for name, (members, till) in zip(names, answers.segment_contents, strict=True):
            snapshot = apply_segment_change(snapshot, name, members, (), till)
    return snapshot


def _parse(
    definition: Definition | None, parse: Callable[[Any], T], what: str, name: str
) -> T | None:
    """Compile a definition (JSON text, or an object a wrapper decoded); a corrupted one is
    logged once (the view remembers the value, so the same bad one is not parsed or logged
    again) and treated as missing."""
    if definition is None:
        return None
    try:
        return parse(json.loads(definition) if isinstance(definition, str) else definition)
    except Exception as exc:
        _LOGGER.error("Could not parse %s %s (%s); it evaluates to control", what, name, exc)
        return None
