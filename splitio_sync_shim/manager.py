"""The blocking manager: reads the snapshot (or Redis) in the caller's thread."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from splitio_async import SplitView
from splitio_async.lowlevel import ManagerCore

from .client import settle

if TYPE_CHECKING:
    from .factory import SyncSplitFactory


class Manager:
    __slots__ = ("_factory",)

    def __init__(self, factory: SyncSplitFactory) -> None:
        self._factory = factory

    @property
    def _core(self) -> ManagerCore:
        """Looked up per call: ``resume()`` in a forked worker replaces the factory's state."""
        return self._factory.manager_core()

    def split_names(self) -> list[str]:
        return settle(self._core.split_names(), self._factory)

    def splits(self) -> list[SplitView]:
        return settle(self._core.splits(), self._factory)

    def split(self, feature_flag_name: Any) -> SplitView | None:
        return settle(self._core.split(feature_flag_name), self._factory)
