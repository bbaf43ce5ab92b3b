"""The manager's logic, for both APIs and every mode: what flags exist, as ``SplitView`` tuples
with the official field order.

In memory modes it reads the current snapshot; over a ``Remote`` store (Redis consumer mode) it
returns the steps that read the store, fresh at each call (a failed read gives the empty answer,
logged once, and a success ends the logged problem, as an evaluation's does).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from .. import lifecycle as states
from ..lifecycle import FactoryState
from ..models.splits import Split
from ..validation import validate_flag_name
from .remote import Remote
from .steps import Steps

_LOGGER = logging.getLogger("splitio.client.manager")


class PrerequisiteView(NamedTuple):
    """A flag's prerequisite: the flag it depends on and the treatments that satisfy it."""

    feature_flag_name: str
    treatments: list[str]


class SplitView(NamedTuple):
    """What the manager tells of one flag (the official ``SplitView``'s fields and order)."""

    name: str
    traffic_type: str | None
    killed: bool
    treatments: list[str]
    change_number: int
    configs: dict[str, str | None]
    default_treatment: str
    sets: list[str]
    impressions_disabled: bool
    prerequisites: list[PrerequisiteView]


def split_view(split: Split) -> SplitView:
    """The manager's view of ``split``."""
    return SplitView(
        split.name,
        split.traffic_type,
        split.killed,
        split.treatments,
        split.change_number,
        dict(split.configurations),
        split.default_treatment,
        sorted(split.sets),
        split.impressions_disabled,
        [PrerequisiteView(p.feature_flag_name, list(p.treatments)) for p in split.prerequisites],
    )


class ManagerCore:
    """The manager's three calls; their answers may be steps over a remote store (see the module
    docstring). Never raise."""

    __slots__ = ("_remote", "_state")

    def __init__(self, state: FactoryState, remote: Remote | None = None) -> None:
        self._state = state
        self._remote = remote

    def split_names(self) -> list[str] | Steps[list[str]]:
        """The names of every flag."""
        if not self._usable("split_names"):
            return []
        if self._remote is not None:
            return self._read_names(self._remote)
        return list(self._state.snapshot.flags)

    def splits(self) -> list[SplitView] | Steps[list[SplitView]]:
        """Every flag's view."""
        if not self._usable("splits"):
            return []
        if self._remote is not None:
            return self._read_all(self._remote)
        return [split_view(s) for s in self._state.snapshot.flags.values()]

    def split(self, feature_flag_name: Any) -> SplitView | Steps[SplitView | None] | None:
        """The view of one flag, None if there is none by that name (or the name is invalid,
        logged)."""
        if not self._usable("split"):
            return None
        name = validate_flag_name(feature_flag_name, "split", trim=False)
        if name is None:
            return None
        if self._remote is not None:
            return self._read_one(self._remote, name)
        return self._view_of(self._state.snapshot.flags.get(name), name)

    def _read_names(self, remote: Remote) -> Steps[list[str]]:
        names = yield from remote.problems.read(remote.reads.flag_names())
        return names or []

    def _read_all(self, remote: Remote) -> Steps[list[SplitView]]:
        flags = yield from remote.problems.read(remote.reads.all_flags())
        return [split_view(flag) for flag in flags or ()]

    def _read_one(self, remote: Remote, name: str) -> Steps[SplitView | None]:
        found = yield from remote.problems.read(remote.reads.flag(name))
        if found is None and remote.problems.current is not None:
            return None  # not read (logged), rather than missing
        return self._view_of(found, name)

    def _usable(self, method: str) -> bool:
        status = self._state.status
        if status is states.DESTROYED:
            _LOGGER.error("Client has already been destroyed - no calls possible.")
            return False
        if status is states.WAITING_FORK:
            _LOGGER.error("Client is not ready - no calls possible")
            return False
        if status is not states.READY:
            _LOGGER.warning(
                "%s: The SDK is not ready, results may be incorrect. Make sure to wait for SDK "
                "readiness before using this method", method,
            )
        return True

    def _view_of(self, found: Split | None, name: str) -> SplitView | None:
        if found is None:
            if self._state.status is states.READY:
                _LOGGER.warning(
                    'split: you passed "%s" that does not exist in this environment, please '
                    "double check what Feature flags exist in the Split user interface.", name,
                )
            return None
        return split_view(found)
