"""The blocking manager: reads the snapshot in the caller's thread."""

from __future__ import annotations

from typing import Any

from splitio_async import SplitView
from splitio_async.lowlevel import ManagerCore


class Manager:
    __slots__ = ("_core",)

    def __init__(self, core: ManagerCore) -> None:
        self._core = core

    def split_names(self) -> list[str]:
        return self._core.split_names()

    def splits(self) -> list[SplitView]:
        return self._core.splits()

    def split(self, feature_flag_name: Any) -> SplitView | None:
        return self._core.split(feature_flag_name)
