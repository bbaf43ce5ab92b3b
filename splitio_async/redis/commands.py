"""The read vocabulary (``storage.reads``) in Redis commands, and Redis's replies as answers.

A ``Reads`` becomes one batch -- one command per item, in a fixed order -- which the connection
sends as one pipeline (one round trip); the replies, in the same order, become the ``Answers``.
Pure: no I/O, no redis-py. The commands are redis-py method names with their arguments, which
both our RESP client (``resp``) and redis-py's clients (``connection``) run.

=========================  ==========================================  =========================
read                       command                                     answer
=========================  ==========================================  =========================
flag set                   ``SMEMBERS SPLITIO.flagSet.<set>``          the members
flag                       ``GET SPLITIO.split.<flag>``                the JSON text, or None
rule-based segment         ``GET SPLITIO.rbsegment.<name>``            the JSON text, or None
membership                 ``SISMEMBER SPLITIO.segment.<s> <key>``     1 -> True
traffic type               ``GET SPLITIO.trafficType.<tt>``            a count > 0 -> True
flag names                 ``KEYS SPLITIO.split.*``                    the names after the prefix
rule-based segment names   ``KEYS SPLITIO.rbsegment.*``                idem
change numbers             ``GET SPLITIO.splits.till``,                ints (-1 when not one)
                           ``GET SPLITIO.rbsegments.till``
segment contents           ``SMEMBERS SPLITIO.segment.<s>``,           (members, till)
                           ``GET SPLITIO.segment.<s>.till``
=========================  ==========================================  =========================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from ..storage.reads import NO_CHANGE_NUMBER, Answers, Reads
from .keys import RedisKeys

PREPARED_KEPT = 1_000  # combinations of names whose commands are kept (all dropped when full)

Command = tuple[Any, ...]  # ("get", key), ("sismember", key, member), ...
Batch = list[Command]


def commands(keys: RedisKeys, reads: Reads) -> Batch:
    """The batch that reads ``reads``, in the order ``answers`` expects its replies."""
    flag_sets, flags, rbs, segments = (
        reads.flag_sets, reads.flags, reads.rule_based_segments, reads.segments
    )
    batch: Batch = [("smembers", keys.flag_set_prefix + n) for n in flag_sets] if flag_sets else []
    if flags:
        prefix = keys.split_prefix
        batch += [("get", prefix + name) for name in flags]
    if rbs:
        prefix = keys.rbs_prefix
        batch += [("get", prefix + name) for name in rbs]
    if segments:
        prefix, key = keys.segment_prefix, reads.key
        batch += [("sismember", prefix + name, key) for name in segments]
    if reads.store_wide:
        batch += _store_wide_commands(keys, reads)
    return batch


def _store_wide_commands(keys: RedisKeys, reads: Reads) -> Batch:
    batch: Batch = []
    if reads.traffic_type is not None:
        batch.append(("get", keys.traffic_type(reads.traffic_type)))
    if reads.flag_names:
        batch.append(("keys", keys.flags_pattern))
    if reads.rule_based_segment_names:
        batch.append(("keys", keys.rbs_pattern))
    if reads.change_numbers:
        batch += [("get", keys.splits_till), ("get", keys.rbs_till)]
    for name in reads.segment_contents:
        batch += [("smembers", keys.segment(name)), ("get", keys.segment(name) + ".till")]
    return batch


def answers(keys: RedisKeys, reads: Reads, replies: list[Any]) -> Answers:
    """``replies`` to ``commands(keys, reads)`` as answers. Bulk strings come decoded (every
    client of ``connection`` decodes them), so definitions are taken as they are."""
    flags_end = len(reads.flags)
    rbs_end = flags_end + len(reads.rule_based_segments)
    if not (reads.flag_sets or reads.store_wide):  # an evaluation's reads
        return Answers(replies[:flags_end], replies[flags_end:rbs_end],
                       list(map(bool, replies[rbs_end:])))
    sets_end = len(reads.flag_sets)
    flags_end += sets_end
    rbs_end += sets_end
    members_end = rbs_end + len(reads.segments)
    found = Answers(
        replies[sets_end:flags_end], replies[flags_end:rbs_end],
        list(map(bool, replies[rbs_end:members_end])),
        [_members(reply) for reply in replies[:sets_end]],
    )
    if reads.store_wide:
        _store_wide_answers(keys, reads, iter(replies[members_end:]), found)
    return found


def _store_wide_answers(
    keys: RedisKeys, reads: Reads, replies: Iterator[Any], found: Answers
) -> None:
    if reads.traffic_type is not None:
        found.traffic_type = _count(next(replies)) > 0
    if reads.flag_names:
        found.flag_names = keys.flag_names(_texts(next(replies)))
    if reads.rule_based_segment_names:
        found.rule_based_segment_names = keys.rule_based_segment_names(_texts(next(replies)))
    if reads.change_numbers:
        found.flags_till, found.rule_based_segments_till = (
            _count(next(replies)), _count(next(replies))
        )
    found.segment_contents = [
        (_members(next(replies)), _count(next(replies))) for _ in reads.segment_contents
    ]


class RedisReader:
    """Answers reads from Redis: translated, run as one batch by ``execute`` (on the event loop)
    or ``execute_blocking`` (in the calling thread), translated back.

    An evaluation's reads repeat (the same flags, rule-based segments and segments; only the key
    changes), so the commands that do not depend on the key are kept per combination, and a
    call only adds its ``SISMEMBER``s."""

    __slots__ = ("_execute", "_execute_blocking", "_prepared", "keys")

    def __init__(
        self, keys: RedisKeys, execute: Callable[[Batch], Awaitable[list[Any]]],
        execute_blocking: Callable[[Batch], list[Any]],
    ) -> None:
        self.keys = keys
        self._execute = execute
        self._execute_blocking = execute_blocking
        self._prepared: dict[tuple[Any, ...], tuple[Batch, tuple[str, ...]]] = {}

    async def read(self, reads: Reads) -> Answers:
        return answers(self.keys, reads, await self._execute(self.commands(reads)))

    def read_blocking(self, reads: Reads) -> Answers:
        return answers(self.keys, reads, self._execute_blocking(self.commands(reads)))

    def commands(self, reads: Reads) -> Batch:
        """``commands(keys, reads)``, from what was prepared for the same names when it can."""
        if reads.flag_sets or reads.store_wide:
            return commands(self.keys, reads)
        try:
            prepared = self._prepared.get((reads.flags, reads.rule_based_segments, reads.segments))
        except TypeError:  # lists: what a gathering found missing, not an evaluation's repeat
            return commands(self.keys, reads)
        if prepared is None:
            prepared = self._prepare(reads)
        key = reads.key
        return prepared[0] + [("sismember", segment, key) for segment in prepared[1]]

    def _prepare(self, reads: Reads) -> tuple[Batch, tuple[str, ...]]:
        keys = self.keys
        prepared = (
            commands(keys, Reads(reads.flags, reads.rule_based_segments)),
            tuple(keys.segment_prefix + name for name in reads.segments),
        )
        if len(self._prepared) >= PREPARED_KEPT:
            self._prepared.clear()
        self._prepared[(reads.flags, reads.rule_based_segments, reads.segments)] = prepared
        return prepared


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _texts(reply: Any) -> list[str]:
    return [_text(item) for item in reply or ()]


def _members(reply: Any) -> frozenset[str]:
    return frozenset(_texts(reply))


def _count(reply: Any) -> int:
    """A number stored as text; -1 when absent or not a number."""
    try:
        return int(reply) if reply is not None else NO_CHANGE_NUMBER
    except (TypeError, ValueError):
        return NO_CHANGE_NUMBER
