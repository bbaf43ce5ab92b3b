"""Typed messages that flow into the storage actor. A message that needs a reply carries an
``applied`` event, set once the new snapshot is published."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import anyio

from ..storage.snapshot import FlagChanges


@dataclass(frozen=True, slots=True)
class ApplyFlags:
    changes: FlagChanges
    applied: anyio.Event | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ApplySegment:
    name: str
    added: AbstractSet[str]  # a frozenset, or a segment's members handed over whole
    removed: frozenset[str]
    till: int
    replace: bool = False
    applied: anyio.Event | None = field(default=None, compare=False)
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

    applied: anyio.Event | None = field(default=None, compare=False)


StorageMessage = ApplyFlags | ApplySegment | KillFlag | MarkReady
