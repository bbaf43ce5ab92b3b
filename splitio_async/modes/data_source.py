"""Testing mode: flag data from a data source the application passes in ``config["testData"]``
(the testing kit's ``splitio_async.testing.TestData``), the way LaunchDarkly plugs its
``TestData`` in through its config. Any sdk key works; nothing here knows the testing kit: a
data source is whatever provides the two methods of ``DataSource``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from anyio.abc import TaskGroup, TaskStatus

from ..actors.storage import StorageWriter
from ..config import Config
from ..lifecycle import FactoryState
from ..recording import Recording, Sink
from ..status import ModeStatus
from .base import Mode, destroyed_status

CONFIG_KEY = "testData"


@dataclass(frozen=True, slots=True)
class Feed:
    """What a data source's actor feeds and reads: the factory's state, the storage actor's
    writer (``apply_now``, on the event loop thread, makes a change visible as soon as the data
    source's call returns), and the recording side."""

    state: FactoryState
    storage: StorageWriter
    recording: Recording


class SourceActor(Protocol):
    async def run(self, *, task_status: TaskStatus[None]) -> None: ...


@runtime_checkable
class DataSource(Protocol):
    """Flag data an application feeds to its factories (``config={"testData": source}``)."""

    def data_source_actor(self, feed: Feed) -> SourceActor:
        """The actor that loads the data into one factory, marks it ready and applies changes
        until the factory stops."""
        ...

    def recording_sink(self, recording: Recording) -> Sink:
        """Where that factory's impressions and events go."""
        ...


class DataSourceMode(Mode):
    name: ClassVar[str] = "testing"
    local_data: ClassVar[bool] = True

    @classmethod
    def applies(cls, sdk_key: str, config: Config) -> bool:
        return CONFIG_KEY in config.raw

    def __init__(self, parts: Any) -> None:
        super().__init__(parts)
        source = parts.config.raw[CONFIG_KEY]
        self._source: DataSource | None = source if isinstance(source, DataSource) else None

    def _data_source(self) -> DataSource:
        if self._source is None:
            raise TypeError(
                'config["testData"] must be a data source, e.g. '
                "config={\"testData\": splitio_async.testing.TestData()}"
            )
        return self._source

    async def open(self) -> Sink:
        return self._data_source().recording_sink(self.parts.recording)

    async def start(self, tg: TaskGroup) -> None:
        storage = await self.start_storage(tg)
        feed = Feed(self.parts.state, storage, self.parts.recording)
        await tg.start(self._data_source().data_source_actor(feed).run)

    def status(self, ready: bool, destroyed: bool) -> ModeStatus:
        if destroyed:
            return destroyed_status(self.name)
        return ModeStatus(self.name, "none", "flags from the data source in config testData")
