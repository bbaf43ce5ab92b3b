"""The modes a factory can run in, one class per mode (see ``base.Mode``).

``select`` asks each mode of ``MODES`` in order whether it serves the sdk key and config; the
first that does wins, and standalone mode (Split's API) serves whatever is left. Adding a mode is
one module with its ``Mode`` subclass plus its line in ``MODES`` (or, for a mode that lives
outside this package, one ``register`` call).
"""

from __future__ import annotations

from ..config import Config
from .base import Mode as Mode
from .base import Parts as Parts
from .data_source import DataSourceMode
from .localhost import LocalhostMode
from .pluggable import PluggableMode
from .redis import RedisMode
from .standalone import StandaloneMode

MODES: list[type[Mode]] = [
    DataSourceMode,  # config["testData"]: a data source passed in (the testing kit)
    LocalhostMode,  # sdk key "localhost": files
    RedisMode,  # redisHost & co.: the Split Synchronizer's cache
    PluggableMode,  # storageType "pluggable": the Synchronizer's data through a user's wrapper
    StandaloneMode,  # anything else: Split's API
]


def register(mode: type[Mode]) -> None:
    """Ask ``mode`` before the built-in modes (for modes defined outside this package)."""
    if mode not in MODES:
        MODES.insert(0, mode)


def select(sdk_key: str, config: Config) -> type[Mode]:
    """The mode that serves ``sdk_key`` with ``config``."""
    return next(mode for mode in MODES if mode.applies(sdk_key, config))
