"""What consumer mode reads from a store another process keeps up to date: the read vocabulary.

In consumer mode (Redis, pluggable storage) the SDK does not sync: the Split Synchronizer writes
the rollout data into a store and the SDK reads what each call needs. The code that decides what to
read -- the view (``storage.consumer_view``), behind the cores' ``core.remote.RemoteReads``, and
the command line -- has no I/O of its own: its steps (``core.steps``) yield a ``Reads``, "what I
need next", and are sent the ``Answers``.
Both are written in the SDK's terms, never in a store's: a back end translates.

===========================  ========================================  ============================
``Reads`` field              ``Answers`` field (same order)            meaning
===========================  ========================================  ============================
``flags`` (names)            ``flags``: definition or None each        flag by name / by names
``rule_based_segments``      ``rule_based_segments``: idem             rule-based segment by name
``segments`` + ``key``       ``memberships``: bool each                is ``key`` in the segment
``flag_sets`` (names)        ``flag_sets``: frozenset of flag names    a set's members (empty if
                                                                       the set is unknown)
``traffic_type`` (a name)    ``traffic_type``: bool                    does a flag use it (track)
``flag_names`` (True)        ``flag_names``: list of names             every flag in the store
``rule_based_segment_names`` ``rule_based_segment_names``: names       every rule-based segment
``change_numbers`` (True)    ``flags_till``, ``rule_based_segments_    the change numbers (-1 when
                             till``: int                               unknown)
``segment_contents`` (names) ``segment_contents``: (members, till)     whole segments (CLI only)
===========================  ========================================  ============================

A *definition* is what the Synchronizer stored for a flag or rule-based segment: its JSON text
(Redis) or the object already decoded (a pluggable wrapper's ``get``/``get_many``); None when the
store has no such name. The view parses and compiles it (and keeps the compiled form while the
stored value is unchanged), so a back end never parses rollout data.

Answers not asked for are left empty (``()``/None); a back end fills the ones asked for, in the
order of the names it was given. How it reads them is its own business:

* Redis (``splitio_async.redis.commands``): one command per item -- ``GET`` for definitions and
  traffic types, ``SISMEMBER`` for memberships, ``SMEMBERS`` for sets, ``KEYS`` for listings --
  all in one pipeline, so a ``Reads`` is one round trip.
* Pluggable storage (``splitio_async.pluggable.reads``, as the official SDK calls a wrapper,
  tests/pluggable/OFFICIAL.md): ``get_many`` for the flags and for the rule-based segments (the
  answer re-keyed by ``'name'``: ``get_many`` keeps no order and skips missing keys),
  ``item_contains`` per membership, ``get_many`` of each set's key, ``get(trafficType)`` is not
  None, ``get_keys_by_prefix`` for listings; one batch, concurrent for an ``async def`` wrapper.

Errors. A back end raises ``StorageUnavailable`` (from its own errors, ``__cause__`` kept) when
the store could not be read: unreachable, timed out, refused us. Anything else raised while
reading or using answers is a *data* error (a value of the wrong kind, undecodable text, a bug) and
is reported as such: ``core.remote.StorageProblems`` tells the two apart in the one log line it
writes, and either way the call that needed the data gets ``control`` with the ``exception``
label and never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Definition = str | Mapping[str, Any]  # JSON text, or the object a wrapper already decoded
NO_CHANGE_NUMBER = -1
MAX_DATA_PROBLEMS_LOGGED = 100  # distinct data problems remembered (each logged once)


class StorageUnavailable(Exception):
    """The store could not be read (unreachable, timed out, refused the SDK). Raised by a back
    end at its edge, with the store's own error as ``__cause__``."""


class Reads:
    """One batch: everything the caller needs next. A back end answers it in as few round trips
    as it can (Redis: one pipeline).

    The reads by name come first and are positional: an evaluation builds one on every call, so
    they are slots. The store-wide reads are keyword-only and rare (a ``track``, the manager, the
    warm-up): class-level defaults, set on the instance only when asked, so that building an
    evaluation's reads costs five attribute stores."""

    __slots__ = ("__dict__", "flag_sets", "flags", "key", "rule_based_segments", "segments",
                 "store_wide")

    traffic_type: str | None = None
    flag_names: bool = False
    rule_based_segment_names: bool = False
    change_numbers: bool = False
    segment_contents: Sequence[str] = ()

    def __init__(
        self,
        flags: Sequence[str] = (),
        rule_based_segments: Sequence[str] = (),
        segments: Sequence[str] = (),
        key: str = "",
        flag_sets: Sequence[str] = (),
        *,
        traffic_type: str | None = None,
        flag_names: bool = False,
        rule_based_segment_names: bool = False,
        change_numbers: bool = False,
        segment_contents: Sequence[str] = (),
    ) -> None:
        self.flags = flags
        self.rule_based_segments = rule_based_segments
        self.segments = segments  # each read as "is ``key`` a member"
        self.key = key
        self.flag_sets = flag_sets
        # whether anything beyond the reads by name is asked (a back end's fast path test)
        self.store_wide = bool(
            traffic_type is not None or flag_names or rule_based_segment_names
            or change_numbers or segment_contents
        )
        if self.store_wide:
            self.traffic_type = traffic_type
            self.flag_names = flag_names
            self.rule_based_segment_names = rule_based_segment_names
            self.change_numbers = change_numbers
            self.segment_contents = segment_contents

    def __repr__(self) -> str:
        names = ("flags", "rule_based_segments", "segments", "key", "flag_sets", "traffic_type",
                 "flag_names", "rule_based_segment_names", "change_numbers", "segment_contents")
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in names
            if getattr(self, name) not in ((), "", None, False)
        )
        return f"Reads({shown})"


class Answers:
    """What a back end read for one ``Reads``; each sequence in the order of the names asked,
    the answers not asked for empty. As in ``Reads``, the answers by name are slots and the
    store-wide ones class-level defaults that a back end sets when they were asked."""

    __slots__ = ("__dict__", "flag_sets", "flags", "memberships", "rule_based_segments")

    traffic_type: bool | None = None
    flag_names: Sequence[str] | None = None
    rule_based_segment_names: Sequence[str] | None = None
    flags_till: int = NO_CHANGE_NUMBER
    rule_based_segments_till: int = NO_CHANGE_NUMBER
    segment_contents: Sequence[tuple[frozenset[str], int]] = ()

    def __init__(
        self,
        flags: Sequence[Definition | None] = (),
        rule_based_segments: Sequence[Definition | None] = (),
        memberships: Sequence[bool] = (),
        flag_sets: Sequence[frozenset[str]] = (),
    ) -> None:
        self.flags = flags
        self.rule_based_segments = rule_based_segments
        self.memberships = memberships
        self.flag_sets = flag_sets


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the store could not be read (rather than that its data is bad)."""
    return isinstance(exc, StorageUnavailable | OSError)


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of the store's own error (a ``StorageUnavailable``'s cause), for logs and
    the status API."""
    if isinstance(exc, StorageUnavailable) and exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}"
