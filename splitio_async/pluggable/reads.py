"""The read vocabulary (``storage.reads``) in calls to a storage wrapper, and their answers back.

Each read is made with the method the official SDK uses for it (OFFICIAL.md §5), so a wrapper
written for ``splitio_client`` works unchanged; all the calls of one ``Reads`` are one batch for
the runner (concurrent with an ``async def`` wrapper):

=========================  ====================================================  =============
read                       wrapper call                                          answer
=========================  ====================================================  =============
flags                      ``get_many([SPLITIO.split.<flag>, ...])``, one call    by ``name``
rule-based segments        ``get_many([SPLITIO.rbsegment.<name>, ...])``          by ``name``
membership                 ``item_contains(SPLITIO.segment.<s>, key)``            a bool
flag set                   ``get_many([SPLITIO.flagSet.<set>])`` per set          its names
traffic type               ``get(SPLITIO.trafficType.<tt>)``                      not None
flag names                 ``get_keys_by_prefix(SPLITIO.split.)``                 the names
rule-based segment names   ``get_keys_by_prefix(SPLITIO.rbsegment.)``             the names
change numbers             ``get(SPLITIO.splits.till)``, ``get(...rbsegments.till)``  ints
segment contents           ``get_items(SPLITIO.segment.<s>)``, ``get(<...>.till)``    (CLI only)
=========================  ====================================================  =============

``get_many`` keeps no order and may leave missing keys out (or answer ``None`` for them, as a
plain ``MGET`` does): its definitions are matched to the names asked by their ``name``, so a
missing one is "not found" for that name only. Nothing is asked for nothing (the official SDK
calls ``get_many([])`` on every evaluation). A definition comes back deserialised (a dict) or as
JSON text; the view compiles it. A listing keeps only the keys that really start with the prefix
(the official tests' wrapper matches substrings).

Errors: whatever a wrapper call raises means the store could not be read
(``StorageUnavailable``, the wrapper's error as its cause); an answer that cannot be used is a
data error (logged once per problem by the cores).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..redis.keys import RedisKeys
from ..storage.reads import NO_CHANGE_NUMBER, Answers, Definition, Reads, StorageUnavailable
from .runner import Call, WrapperRunner


def calls(keys: RedisKeys, reads: Reads) -> list[Call]:
    """The wrapper calls that read ``reads``, in the order ``answers`` expects them."""
    batch: list[Call] = []
    if reads.flags:
        batch.append(("get_many", ([keys.split_prefix + name for name in reads.flags],)))
    if reads.rule_based_segments:
        prefix = keys.rbs_prefix
        batch.append(("get_many", ([prefix + name for name in reads.rule_based_segments],)))
    prefix, key = keys.segment_prefix, reads.key
    batch.extend(("item_contains", (prefix + name, key)) for name in reads.segments)
    batch.extend(("get_many", ([keys.flag_set(name)],)) for name in reads.flag_sets)
    if reads.store_wide:
        batch.extend(_store_wide_calls(keys, reads))
    return batch


def _store_wide_calls(keys: RedisKeys, reads: Reads) -> list[Call]:
    batch: list[Call] = []
    if reads.traffic_type is not None:
        batch.append(("get", (keys.traffic_type(reads.traffic_type),)))
    if reads.flag_names:
        batch.append(("get_keys_by_prefix", (keys.split_prefix,)))
    if reads.rule_based_segment_names:
        batch.append(("get_keys_by_prefix", (keys.rbs_prefix,)))
    if reads.change_numbers:
        batch += [("get", (keys.splits_till,)), ("get", (keys.rbs_till,))]
    for name in reads.segment_contents:
        batch += [("get_items", (keys.segment(name),)), ("get", (keys.segment(name) + ".till",))]
    return batch


def answers(keys: RedisKeys, reads: Reads, replies: list[Any]) -> Answers:
    """The wrapper's ``replies`` to ``calls(keys, reads)`` as answers."""
    taken = iter(replies)
    flags = _by_name(next(taken), reads.flags) if reads.flags else ()
    rbs = (
        _by_name(next(taken), reads.rule_based_segments) if reads.rule_based_segments else ()
    )
    found = Answers(
        flags, rbs, [bool(next(taken)) for _ in reads.segments],
        [_names(next(taken)) for _ in reads.flag_sets],
    )
    if reads.store_wide:
        _store_wide_answers(keys, reads, taken, found)
    return found


def _store_wide_answers(
    keys: RedisKeys, reads: Reads, replies: Iterator[Any], found: Answers
) -> None:
    if reads.traffic_type is not None:
        found.traffic_type = next(replies) is not None  # the key exists (official)
    if reads.flag_names:
        found.flag_names = keys.flag_names(_under(next(replies), keys.split_prefix))
    if reads.rule_based_segment_names:
        found.rule_based_segment_names = keys.rule_based_segment_names(
            _under(next(replies), keys.rbs_prefix)
        )
    if reads.change_numbers:
        found.flags_till, found.rule_based_segments_till = (
            _number(next(replies)), _number(next(replies))
        )
    found.segment_contents = [
        (_names(next(replies), flat=True), _number(next(replies)))
        for _ in reads.segment_contents
    ]


class PluggableReader:
    """Answers reads through the wrapper: translated, run as one batch by the runner (on the
    event loop, or in the calling thread for a blocking wrapper), translated back."""

    __slots__ = ("_runner", "keys")

    def __init__(self, keys: RedisKeys, runner: WrapperRunner) -> None:
        self.keys = keys
        self._runner = runner

    async def read(self, reads: Reads) -> Answers:
        batch = calls(self.keys, reads)
        try:
            replies = await self._runner.run(batch)
        except Exception as exc:
            raise StorageUnavailable(_failed(exc)) from exc
        return answers(self.keys, reads, replies)

    def read_blocking(self, reads: Reads) -> Answers:
        batch = calls(self.keys, reads)
        try:
            replies = self._runner.run_blocking(batch)
        except Exception as exc:
            raise StorageUnavailable(_failed(exc)) from exc
        return answers(self.keys, reads, replies)


def _failed(exc: Exception) -> str:
    return f"the storage wrapper failed: {type(exc).__name__}: {exc}"


def _by_name(values: Any, names: Iterable[str]) -> list[Definition | None]:
    """The definitions of a ``get_many`` answer, in the order of ``names``."""
    found: dict[str, Definition] = {}
    for value in values or ():
        definition = _decoded(value)
        if isinstance(definition, Mapping):
            name = definition.get("name")
            if isinstance(name, str):
                found[name] = definition
    return [found.get(name) for name in names]


def _decoded(value: Any) -> Any:
    """A definition as an object: JSON text is decoded (text that is not JSON names nothing,
    so it is found for no name: the flags it was meant for are not found)."""
    if isinstance(value, bytes | str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _names(value: Any, flat: bool = False) -> frozenset[str]:
    """The names of a flag set's ``get_many`` answer (a list of collections of names), or of a
    ``get_items`` answer (``flat``)."""
    if not value:
        return frozenset()
    if flat:
        return frozenset(str(item) for item in value)
    names: set[str] = set()
    for collection in value:
        if isinstance(collection, bytes | str):
            collection = _decoded(collection)
        if isinstance(collection, Iterable) and not isinstance(collection, str | Mapping):
            names.update(str(name) for name in collection)
    return frozenset(names)


def _under(keys: Any, prefix: str) -> list[str]:
    return [key for key in keys or () if isinstance(key, str) and key.startswith(prefix)]


def _number(value: Any) -> int:
    try:
        return int(value) if value is not None else NO_CHANGE_NUMBER
    except (TypeError, ValueError):
        return NO_CHANGE_NUMBER
