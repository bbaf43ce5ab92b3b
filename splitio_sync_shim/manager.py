"""The blocking manager: reads the snapshot (or Redis) in the caller's thread.

The methods between the ``shared methods`` markers are written by ``scripts/unasync.py`` from
``splitio_async/manager.py``: edit them there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from splitio_async import SplitView
from splitio_async.lowlevel import internals

if TYPE_CHECKING:
    from splitio_async import SplitFactory

    from .factory import SyncSplitFactory


class Manager:
    """What flags exist (``factory.manager()``). Never raises: a destroyed factory or a failed
    read gives an empty answer, logged."""

    __slots__ = ("__weakref__", "_core", "_driver")

    def __init__(self, factory: SyncSplitFactory) -> None:
        self.bind(factory.async_factory)

    def bind(self, factory: SplitFactory) -> None:
        """Read through ``factory`` (``resume()`` in a forked worker starts a new one)."""
        parts = internals(factory)
        self._core = parts.manager_core
        self._driver = parts.driver

    # --- shared methods: written by scripts/unasync.py from splitio_async/manager.py ---

    def split_names(self) -> list[str]:
        """The names of every flag (empty when the factory is destroyed). Never raises."""
        return self._driver.resolve_blocking(self._core.split_names())

    def splits(self) -> list[SplitView]:
        """A ``SplitView`` of every flag (empty when the factory is destroyed). Never raises."""
        return self._driver.resolve_blocking(self._core.splits())

    def split(self, feature_flag_name: Any) -> SplitView | None:
        """The ``SplitView`` of one flag.

        Args:
            feature_flag_name: the flag's name (looked up as given, surrounding spaces
                included, as the official SDK does).

        Returns:
            Its view, or None when there is no such flag, the name is invalid (logged) or the
            factory is destroyed. Never raises.
        """
        return self._driver.resolve_blocking(self._core.split(feature_flag_name))

    # --- end of shared methods ---
