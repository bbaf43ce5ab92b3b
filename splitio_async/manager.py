"""The async manager: what flags exist, as ``SplitView`` tuples with the official field order.

Its logic is the factory's ``ManagerCore`` (``splitio_async.core.manager``); the answers are
settled by the factory's ``Driver`` (a read of Redis in consumer mode). The blocking shim's
manager has the same methods: the block between the ``shared methods`` markers is written here
only, and ``scripts/unasync.py`` writes its blocking copy.
"""

from __future__ import annotations

from typing import Any

from .core.manager import ManagerCore
from .core.manager import PrerequisiteView as PrerequisiteView
from .core.manager import SplitView as SplitView
from .core.manager import split_view as split_view
from .core.steps import Driver


class Manager:
    """What flags exist (``factory.manager()``), as coroutines for API compatibility with the
    official async SDK. Never raises: a destroyed factory or a failed read gives an empty
    answer, logged."""

    __slots__ = ("__weakref__", "_core", "_driver")

    def __init__(self, core: ManagerCore, driver: Driver) -> None:
        self._core = core
        self._driver = driver

    # --- shared methods: scripts/unasync.py writes their blocking copy (splitio_sync_shim) ---

    async def split_names(self) -> list[str]:
        """The names of every flag (empty when the factory is destroyed). Never raises."""
        return await self._driver.resolve(self._core.split_names())

    async def splits(self) -> list[SplitView]:
        """A ``SplitView`` of every flag (empty when the factory is destroyed). Never raises."""
        return await self._driver.resolve(self._core.splits())

    async def split(self, feature_flag_name: Any) -> SplitView | None:
        """The ``SplitView`` of one flag.

        Args:
            feature_flag_name: the flag's name (looked up as given, surrounding spaces
                included, as the official SDK does).

        Returns:
            Its view, or None when there is no such flag, the name is invalid (logged) or the
            factory is destroyed. Never raises.
        """
        return await self._driver.resolve(self._core.split(feature_flag_name))

    # --- end of shared methods ---
