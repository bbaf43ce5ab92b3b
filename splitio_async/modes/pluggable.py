"""Pluggable storage mode (``storageType: 'pluggable'``, OFFICIAL.md): Redis mode's design on a
store the user reaches through their own wrapper (``storageWrapper``), checked when the factory
is built with the official messages. No local cache and no ``dataSampling`` (official): every
evaluation reads the store.

The wrapper's calls are made as its flavour and the caller's API need (``pluggable.runner``).
A blocking caller (the shim's threads, sync OpenFeature resolution) calls a plain wrapper in its
own thread; with an ``async def`` wrapper it hands the batch to this factory's event loop
through a portal the mode keeps open while it runs, and waits for the answers.
"""

from __future__ import annotations

from typing import ClassVar

import anyio
from anyio.abc import TaskGroup, TaskStatus
from anyio.from_thread import BlockingPortal

from ..config import Config
from ..pluggable.store import PluggableStore
from ..pluggable.wrapper import is_pluggable_mode, validate_wrapper
from ..recording import Sink
from ..status import ModeStatus
from ..storage.reads import Answers, Reads, StorageUnavailable
from .base import Parts
from .consumer import ConsumerMode


class PluggableMode(ConsumerMode):
    name: ClassVar[str] = "pluggable"
    store: ClassVar[str] = "the storage wrapper"
    logger: ClassVar[str] = "splitio.storage.pluggable"
    problem_name: ClassVar[str] = "storage"

    def __init__(self, parts: Parts) -> None:
        storage = PluggableStore(validate_wrapper(parts.config.raw))  # raises, logged
        super().__init__(parts, None, 1.0)
        self._storage = storage
        self._portal: BlockingPortal | None = None  # blocking callers of an async wrapper

    @classmethod
    def applies(cls, sdk_key: str, config: Config) -> bool:
        """Asked after the localhost key and the Redis keys, which take precedence (official);
        another ``storageType`` is logged here and means standalone mode."""
        return is_pluggable_mode(config.raw)

    async def open(self) -> Sink:
        storage = self._storage
        reader = storage.reader
        self.connect_reader(
            reader.read, self._through_loop if storage.needs_event_loop else reader.read_blocking
        )
        return self.consumer_sink(storage.sink(await self.metadata()))

    async def start(self, tg: TaskGroup) -> None:
        if self._storage.needs_event_loop:
            await tg.start(self._serve_blocking_callers)
        await super().start(tg)

    async def _serve_blocking_callers(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async with BlockingPortal() as portal:
            self._portal = portal
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                self._portal = None

    def _through_loop(self, reads: Reads) -> Answers:
        """A blocking caller's reads from an ``async def`` wrapper, made in the event loop."""
        portal = self._portal
        if portal is None:
            raise StorageUnavailable("the factory is not running: its event loop cannot call "
                                     "the storage wrapper")
        try:
            return portal.call(self._storage.reader.read, reads)
        except RuntimeError as exc:  # a blocking call made in the event loop's own thread
            raise StorageUnavailable("a blocking call in the event loop's thread cannot await "
                                     "the storage wrapper") from exc

    def status(self, ready: bool, destroyed: bool) -> ModeStatus:
        return self.consumer_status(
            "reads the Split Synchronizer's data through the storage wrapper "
            f"{self._storage.describe()}"
        )
