"""The manager: what flags exist, as ``SplitView`` tuples with the official field order."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from .models.splits import Split
from .storage import state as states
from .storage.state import FactoryState
from .validation import validate_flag_name

_LOGGER = logging.getLogger("splitio.client.manager")


class PrerequisiteView(NamedTuple):
    feature_flag_name: str
    treatments: list[str]


class SplitView(NamedTuple):
    name: str
    traffic_type: str
    killed: bool
    treatments: list[str]
    change_number: int
    configs: dict[str, str | None]
    default_treatment: str
    sets: list[str]
    impressions_disabled: bool
    prerequisites: list[PrerequisiteView]


def split_view(split: Split) -> SplitView:
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
        [PrerequisiteView(p.feature_flag_name, sorted(p.treatments)) for p in split.prerequisites],
    )


class ManagerCore:
    """The manager's logic, shared by the async manager and the shim (no I/O in memory mode)."""

    __slots__ = ("_state",)

    def __init__(self, state: FactoryState) -> None:
        self._state = state

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

    def split_names(self) -> list[str]:
        if not self._usable("split_names"):
            return []
        return list(self._state.snapshot.flags)

    def splits(self) -> list[SplitView]:
        if not self._usable("splits"):
            return []
        return [split_view(s) for s in self._state.snapshot.flags.values()]

    def split(self, feature_flag_name: Any) -> SplitView | None:
        if not self._usable("split"):
            return None
        name = validate_flag_name(feature_flag_name, "split")
        if name is None:
            return None
        found = self._state.snapshot.flags.get(feature_flag_name)
        if found is None:
            if self._state.status is states.READY:
                _LOGGER.warning(
                    'split: you passed "%s" that does not exist in this environment, please '
                    "double check what Feature flags exist in the Split user interface.",
                    feature_flag_name,
                )
            return None
        return split_view(found)


class Manager:
    """Async manager (coroutines, for API compatibility with the official async SDK)."""

    __slots__ = ("_core",)

    def __init__(self, state: FactoryState) -> None:
        self._core = ManagerCore(state)

    async def split_names(self) -> list[str]:
        return self._core.split_names()

    async def splits(self) -> list[SplitView]:
        return self._core.splits()

    async def split(self, feature_flag_name: Any) -> SplitView | None:
        return self._core.split(feature_flag_name)
