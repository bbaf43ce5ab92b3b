"""The manager: what flags exist, as ``SplitView`` tuples with the official field order."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from . import lifecycle as states
from .lifecycle import FactoryState
from .models.splits import Split
from .steps import Steps, is_steps
from .validation import validate_flag_name

_LOGGER = logging.getLogger("splitio.client.manager")


class PrerequisiteView(NamedTuple):
    feature_flag_name: str
    treatments: list[str]


class SplitView(NamedTuple):
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

    def split_names(self) -> list[str] | Steps[list[str]]:
        if not self._usable("split_names"):
            return []
        return list(self._state.snapshot.flags)

    def splits(self) -> list[SplitView] | Steps[list[SplitView]]:
        if not self._usable("splits"):
            return []
        return [split_view(s) for s in self._state.snapshot.flags.values()]

    def split(self, feature_flag_name: Any) -> SplitView | Steps[SplitView | None] | None:
        if not self._usable("split"):
            return None
        name = validate_flag_name(feature_flag_name, "split", trim=False)
        if name is None:
            return None
        return self._view_of(self._state.snapshot.flags.get(name), name)

    def _view_of(self, found: Split | None, name: str) -> SplitView | None:
        if found is None:
            if self._state.status is states.READY:
                _LOGGER.warning(
                    'split: you passed "%s" that does not exist in this environment, please '
                    "double check what Feature flags exist in the Split user interface.", name,
                )
            return None
        return split_view(found)


class Manager:
    """Async manager (coroutines, for API compatibility with the official async SDK). In Redis
    consumer mode the core returns steps, which the factory runs against Redis."""

    __slots__ = ("_core", "_run")

    def __init__(
        self, core: ManagerCore, run_steps: Callable[[Steps[Any]], Awaitable[Any]]
    ) -> None:
        self._core = core
        self._run = run_steps

    async def split_names(self) -> list[str]:
        result = self._core.split_names()
        return await self._run(result) if is_steps(result) else result

    async def splits(self) -> list[SplitView]:
        result = self._core.splits()
        return await self._run(result) if is_steps(result) else result

    async def split(self, feature_flag_name: Any) -> SplitView | None:
        result = self._core.split(feature_flag_name)
        return await self._run(result) if is_steps(result) else result
