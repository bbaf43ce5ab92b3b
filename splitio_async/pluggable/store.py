"""Pluggable storage mode's store: the user's wrapper behind the consumer modes' interface.

Redis mode and pluggable mode share everything above the store (spec: storage-redis.md §7): the
view that plans each evaluation's reads in the storage-neutral vocabulary and compiles
definitions (``storage.consumer_view``), the cores, the recorders and their telemetry. What a
store provides is a reader of that vocabulary (``read`` on the event loop, ``read_blocking`` in
a blocking caller's thread) and a sink for the records; here both go through the wrapper
(``reads``, ``sink``, ``runner``).
"""

from __future__ import annotations

from ..redis.keys import RedisKeys
from ..transport.metadata import SdkMetadata
from .reads import PluggableReader
from .runner import WrapperRunner
from .sink import PluggableSink
from .wrapper import StorageWrapper


class PluggableStore:
    """One factory's access to the user's storage wrapper."""

    __slots__ = ("keys", "reader", "runner", "wrapper")

    def __init__(self, wrapper: StorageWrapper) -> None:
        self.wrapper = wrapper
        self.keys = RedisKeys(wrapper.prefix)
        self.runner = WrapperRunner(wrapper)
        self.reader = PluggableReader(self.keys, self.runner)

    @property
    def needs_event_loop(self) -> bool:
        """The wrapper has ``async def`` methods: a blocking caller hands its reads to the
        factory's event loop thread."""
        return self.runner.needs_event_loop

    def sink(self, metadata: SdkMetadata) -> PluggableSink:
        return PluggableSink(self.runner, self.keys, metadata)

    def describe(self) -> str:
        prefix = self.wrapper.prefix
        where = f"under the prefix {prefix!r}" if prefix else "without a key prefix"
        return f"{self.wrapper.describe()}, {where}"
