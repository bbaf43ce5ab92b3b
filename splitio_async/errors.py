"""The public exception tree of splitio_async.

Kept in a module of its own so every layer can import it without import loops::

    SplitError
    ├── TimeoutException              block_until_ready() ran out of time
    ├── SentinelConfigurationException a bad Redis Sentinel configuration at factory creation
    ├── RedisClusterConfigurationException a bad Redis Cluster configuration at factory creation
    └── LocalhostFileError            a localhost flag or segment file cannot be read or parsed

Evaluation, ``track`` and manager calls never raise: these only come out of factory creation and
``block_until_ready``.
"""

from __future__ import annotations


class SplitError(Exception):
    """Base class of every exception splitio_async raises on purpose."""


class TimeoutException(SplitError):
    """``block_until_ready`` expired before the SDK had its data."""


class SentinelConfigurationException(SplitError):
    """The Redis Sentinel settings cannot work (no sentinels, no master service...)."""


class LocalhostFileError(SplitError, ValueError):
    """A localhost file is missing, unreadable or malformed.

    A ``ValueError`` too, because the official SDK raises ``ValueError`` for these and users may
    catch that.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"localhost file {path!r}: {problem}")
        self.path = path
        self.problem = problem


class RedisClusterConfigurationException(SplitError):
    """The Redis Cluster settings cannot work (no nodes, a prefix without a hash tag...)."""
