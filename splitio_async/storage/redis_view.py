"""What Redis consumer mode knows of the Synchronizer's cache, and how it gathers an evaluation's
data in one round trip. No I/O here: the methods are generators that yield batches of commands
and receive their replies (a "sans-I/O" protocol), so the same code serves the asyncio client, the
trio client (a worker thread) and the blocking shim (the caller's own thread).

Why one round trip is possible: an evaluation needs the flag, the flags it depends on, the
rule-based segments it reads and the key's membership of the segments they all reference, and
only the flag's definition says which. The view remembers the last definition it saw of every
flag and rule-based segment (fresh or not), so it can ask for the whole closure at once: the
definitions it must (re)read and every membership the old definitions imply. If the answer shows
a definition that now needs something more (rare: a flag was edited), it asks again for what is
missing. Nothing stale is ever used: with the local cache off, every definition and membership an
evaluation uses was read during that call; with it on, nothing older than ``redisLocalCacheTTL``.

The local cache (``redisLocalCacheEnabled``, ``redisLocalCacheTTL``) covers flags, rule-based
segments, segment memberships (per segment and key), flag-set members and traffic types; a call
whose needs are all cached makes no round trip. A definition re-read with the same JSON text as
before keeps its compiled form, so reading is cheap even with the cache off.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ..core.steps import Batch, Steps
from ..models.rule_based_segments import RuleBasedSegment, parse_rule_based_segment
from ..models.splits import Split, parse_split
from ..redis.keys import RedisKeys

_LOGGER = logging.getLogger("splitio.storage.redis")

T = TypeVar("T")

MEMBERSHIPS_CACHED = 100_000  # (segment, key) answers kept; the oldest go first
CLOSURES_CACHED = 1_000


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


class RedisView:
    """The cache and knowledge of one factory; safe to share between threads (dict operations
    are atomic; eviction takes a lock for its few steps)."""

    def __init__(
        self, keys: RedisKeys, cache_ttl: float | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.keys = keys
        self._ttl = cache_ttl if cache_ttl and cache_ttl > 0 else 0.0
        self._clock = clock
        self.flags: dict[str, Split] = {}  # the last good definition read of each flag
        self.rule_based_segments: dict[str, RuleBasedSegment] = {}
        self._flag_reads: dict[str, tuple[float, str | None]] = {}  # name -> (read at, JSON)
        self._rbs_reads: dict[str, tuple[float, str | None]] = {}
        self._members: dict[tuple[str, str], tuple[float, bool]] = {}
        self._sets: dict[str, tuple[float, frozenset[str]]] = {}
        self._traffic_types: dict[str, tuple[float, bool]] = {}
        self._closures: dict[tuple[str, ...], tuple[int, tuple[str, ...], tuple[str, ...],
                                                      tuple[str, ...]]] = {}
        # what repeated calls for the same flags need, while it is all cached: (generation,
        # good until, segments, the data itself when it does not depend on the key)
        self._memos: dict[tuple[str, ...], tuple[int, float, tuple[str, ...],
                                                  Gathered | None]] = {}
        self._plans: dict[tuple[str, ...], tuple[int, tuple[str, ...], tuple[str, ...],
                                                  tuple[str, ...], Batch]] = {}
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

    def _memorize(
        self, names: tuple[str, ...], generation: int,
        closure: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]],
    ) -> None:
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

    def gather(
        self, names: Sequence[str], matching_key: str | None, flag_sets: Sequence[str] = ()
    ) -> Steps[tuple[Gathered, list[str]]]:
        """The data to evaluate ``names`` (plus the members of ``flag_sets``) for
        ``matching_key``, and the flag names to evaluate (``names`` then the sets' members,
        sorted). One batch in the steady state; none when everything is cached. Without a
        ``matching_key`` (an invalid one), no membership is read."""
        now = self._clock()
        fresh = self._fresh
        read_flags: set[str] = set()
        read_rbs: set[str] = set()
        read_sets: dict[str, frozenset[str]] = {}
        members: dict[str, bool] = {}
        keys = self.keys
        if not self._ttl and not flag_sets and matching_key is not None:
            # cache off, the steady state: the batch for these flags is known, only the key
            # changes; read it all, and fall through only if a definition changed meanwhile
            names = tuple(names)
            plan = self._plans.get(names)
            if plan is None or plan[0] != self._generation:
                plan = self._plan(names)
            generation, flags, rbs, segment_keys, reads = plan
            planned = reads + [("sismember", key, matching_key) for key in segment_keys]
            replies = yield planned
            for at, name in enumerate(flags):
                self._store_flag(name, _optional_text(replies[at]), now)
            for at, name in enumerate(rbs, len(flags)):
                self._store_rbs(name, _optional_text(replies[at]), now)
            for at, key in enumerate(segment_keys, len(reads)):
                members[key[len(keys.segment_prefix):]] = bool(replies[at])
            if self._generation == generation:
                return Gathered(self.flags, self.rule_based_segments, members), list(names)
            read_flags.update(flags)
            read_rbs.update(rbs)
        while True:
            roots = list(names)
            if flag_sets:
                found: set[str] = set()
                for name in flag_sets:
                    known = read_sets.get(name)
                    if known is None:
                        cached = self._sets.get(name)
                        known = cached[1] if cached is not None else frozenset()
                    found |= known
                roots.extend(sorted(found - set(names)))
            generation = self._generation
            flags, rbs, segments = self._closure(tuple(roots))
            batch: Batch = []
            want_sets = [s for s in flag_sets if s not in read_sets and not fresh(
                self._sets.get(s), now)]
            want_flags = [n for n in flags if n not in read_flags and not fresh(
                self._flag_reads.get(n), now)]
            want_rbs = [n for n in rbs if n not in read_rbs and not fresh(
                self._rbs_reads.get(n), now)]
            want_segments: list[str] = []
            for segment in segments if matching_key is not None else ():
                if segment in members:
                    continue
                cached_member = self._members.get((segment, matching_key))  # type: ignore[arg-type]
                if fresh(cached_member, now):
                    assert cached_member is not None
                    members[segment] = cached_member[1]
                else:
                    want_segments.append(segment)
            if not (want_sets or want_flags or want_rbs or want_segments):
                if self._ttl and not flag_sets:
                    self._memorize(tuple(names), generation, (flags, rbs, segments))
                if flag_sets:
                    for name in flag_sets:
                        if name not in read_sets:
                            cached_set = self._sets.get(name)
                            read_sets[name] = cached_set[1] if cached_set else frozenset()
                return Gathered(self.flags, self.rule_based_segments, members), roots
            batch.extend(("smembers", keys.flag_set(s)) for s in want_sets)
            batch.extend(("get", keys.split(n)) for n in want_flags)
            batch.extend(("get", keys.rule_based_segment(n)) for n in want_rbs)
            batch.extend(("sismember", keys.segment(s), matching_key) for s in want_segments)
            replies = yield batch
            at = 0
            for name in want_sets:
                read_sets[name] = frozenset(_text(m) for m in replies[at] or ())
                self._sets[name] = (now, read_sets[name])
                at += 1
            for name in want_flags:
                self._store_flag(name, _optional_text(replies[at]), now)
                read_flags.add(name)
                at += 1
            for name in want_rbs:
                self._store_rbs(name, _optional_text(replies[at]), now)
                read_rbs.add(name)
                at += 1
            for segment in want_segments:
                member = bool(replies[at])
                members[segment] = member
                if self._ttl and matching_key is not None:
                    self._remember_member((segment, matching_key), (now, member))
                at += 1

    def _plan(self, names: tuple[str, ...]) -> tuple[
        int, tuple[str, ...], tuple[str, ...], tuple[str, ...], Batch
    ]:
        """What reading everything ``names`` needs takes: (generation, flags, rule-based
        segments, segment keys, the definitions' reads)."""
        generation = self._generation
        flags, rbs, segments = self._closure(names)
        keys = self.keys
        reads: Batch = [("get", keys.split(n)) for n in flags]
        reads += [("get", keys.rule_based_segment(n)) for n in rbs]
        plan = (generation, flags, rbs, tuple(keys.segment(s) for s in segments), reads)
        if len(self._plans) >= CLOSURES_CACHED:
            self._plans.clear()
        self._plans[names] = plan
        return plan

    def _closure(
        self, roots: tuple[str, ...]
    ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """Every flag, rule-based segment and segment that evaluating ``roots`` reads, as far
        as the known definitions tell (cached until a definition changes)."""
        cached = self._closures.get(roots)
        if cached is not None and cached[0] == self._generation:
            return cached[1], cached[2], cached[3]
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
        self._closures[roots] = (generation, *result)
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

    def _store_flag(self, name: str, text: str | None, now: float) -> None:
        previous = self._flag_reads.get(name)
        self._flag_reads[name] = (now, text)
        if previous is not None and previous[1] == text:
            return  # same JSON as last time: keep the compiled flag (or its absence)
        self._generation += 1
        split = _parse(text, parse_split, "feature flag", name) if text is not None else None
        if split is None:
            self.flags.pop(name, None)
        else:
            self.flags[name] = split

    def _store_rbs(self, name: str, text: str | None, now: float) -> None:
        previous = self._rbs_reads.get(name)
        self._rbs_reads[name] = (now, text)
        if previous is not None and previous[1] == text:
            return
        self._generation += 1
        segment = (
            _parse(text, parse_rule_based_segment, "rule-based segment", name)
            if text is not None else None
        )
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
        if self._fresh(cached, now):
            assert cached is not None
            return cached[1]
        replies = yield [("get", self.keys.traffic_type(name))]
        try:
            exists = int(replies[0] or 0) > 0
        except (TypeError, ValueError):
            exists = False
        if self._ttl:
            self._traffic_types[name] = (now, exists)
        return exists

    def all_flags(self) -> Steps[list[Split]]:
        """Every flag in the cache (the manager), read fresh: ``KEYS`` then the definitions."""
        names = yield from self.flag_names()
        if not names:
            return []
        now = self._clock()
        replies = yield [("get", self.keys.split(name)) for name in names]
        for name, reply in zip(names, replies, strict=True):
            self._store_flag(name, _optional_text(reply), now)
        return [self.flags[name] for name in names if name in self.flags]

    def flag_names(self) -> Steps[list[str]]:
        replies = yield [("keys", self.keys.flags_pattern)]
        return sorted(self._flag_names(replies[0]))

    def _flag_names(self, keys_reply: Any) -> list[str]:
        """The flag names in the answer to ``KEYS SPLITIO.split.*``."""
        return [n for n in (self.keys.flag_name(_text(k)) for k in keys_reply or ()) if n]

    def flag(self, name: str) -> Steps[Split | None]:
        replies = yield [("get", self.keys.split(name))]
        self._store_flag(name, _optional_text(replies[0]), self._clock())
        return self.flags.get(name)

    def warm_up(self) -> Steps[int]:
        """Read every flag and rule-based segment once, so that even the first evaluation of a
        flag knows its dependencies (one round trip from the first call). Returns the number of
        flags found; raises if Redis cannot be read (the factory is then not ready)."""
        replies = yield [("keys", self.keys.flags_pattern), ("keys", self.keys.rbs_pattern)]
        flag_names = self._flag_names(replies[0])
        rbs_prefix = self.keys.rbs_prefix
        rbs_names = [
            _text(k)[len(rbs_prefix):] for k in replies[1] or () if _text(k).startswith(rbs_prefix)
        ]
        if not flag_names and not rbs_names:
            return 0
        now = self._clock()
        replies = yield [("get", self.keys.split(n)) for n in flag_names] + [
            ("get", self.keys.rule_based_segment(n)) for n in rbs_names
        ]
        for index, name in enumerate(flag_names):
            self._store_flag(name, _optional_text(replies[index]), now)
        for index, name in enumerate(rbs_names, start=len(flag_names)):
            self._store_rbs(name, _optional_text(replies[index]), now)
        # what the flag sets probably hold, from the flags' own ``sets``: knowledge for the
        # first flag-set call to ask for its flags at once (never served: marked as stale)
        members: dict[str, set[str]] = {}
        for split in self.flags.values():
            for flag_set in split.sets:
                members.setdefault(flag_set, set()).add(split.name)
        for flag_set, names in members.items():
            self._sets.setdefault(flag_set, (float("-inf"), frozenset(names)))
        return len(flag_names)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(text: str, parse: Callable[[Any], T], what: str, name: str) -> T | None:
    """Compile a definition; a corrupted one is logged once (the view remembers the text, so
    the same bad JSON is not parsed or logged again) and treated as missing."""
    try:
        return parse(json.loads(text))
    except Exception as exc:
        _LOGGER.error("Could not parse %s %s (%s); it evaluates to control", what, name, exc)
        return None
