"""Typed messages that flow into the storage actor. They carry data only: a sender that needs
the reply (the new snapshot is published, or the message was refused) asks for it through
``StorageWriter.apply``."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from ..storage.snapshot import FlagChanges


@dataclass(frozen=True, slots=True)
class ApplyFlags:
    """Flag and rule-based segment changes. ``expect_flags`` / ``expect_rbs``: apply only if
    the snapshot still holds these change numbers (compare and set): a page fetched since a
    change number, or an instant update that follows one, must not land over a change applied
    while it was in flight. Refused, the sender fetches again from what is held."""

    changes: FlagChanges
    expect_flags: int | None = None
    expect_rbs: int | None = None


@dataclass(frozen=True, slots=True)
class ApplySegment:
    name: str
    added: AbstractSet[str]  # a frozenset, or a segment's members handed over whole
    removed: frozenset[str]
    till: int
    replace: bool = False
    # a fetched segment: dropped if no flag references it by the time it is applied (a flag
    # change may have made it unused while it was in flight; it must not come back)
    if_referenced: bool = False


@dataclass(frozen=True, slots=True)
class KillFlag:
    name: str
    default_treatment: str
    change_number: int


@dataclass(frozen=True, slots=True)
class MarkReady:
    """The source has delivered its first complete data set."""


StorageMessage = ApplyFlags | ApplySegment | KillFlag | MarkReady
