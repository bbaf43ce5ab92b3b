"""Localhost mode (sdk key ``"localhost"``): flags and segments from files (JSON, YAML, the
legacy ``.split`` format), read by a source actor that feeds the storage actor; impressions and
events are accepted and discarded, as the official SDK does."""

from __future__ import annotations

from typing import ClassVar

from anyio.abc import TaskGroup

from ..actors.localhost import LocalhostSource
from ..config import Config
from ..recording import Sink
from ..status import ModeStatus
from .base import Mode, destroyed_status

LOCALHOST = "localhost"


class LocalhostMode(Mode):
    name: ClassVar[str] = "localhost"
    local_data: ClassVar[bool] = True

    _source: LocalhostSource | None = None

    @classmethod
    def applies(cls, sdk_key: str, config: Config) -> bool:
        return sdk_key == LOCALHOST

    async def open(self) -> Sink:
        return self.parts.recording.discarding_sink()

    async def start(self, tg: TaskGroup) -> None:
        config = self.parts.config
        send = await self.start_storage(tg)
        self._source = LocalhostSource(
            self.parts.state, send, config.split_file, config.segment_directory,
            config.localhost_refresh_enabled, config.features_refresh_rate,
            config.segments_refresh_rate, config.limits,
        )
        await tg.start(self._source.run)

    def status(self, ready: bool, destroyed: bool) -> ModeStatus:
        if destroyed:
            fragment = destroyed_status(self.name)
        elif self.parts.config.localhost_refresh_enabled:
            fragment = ModeStatus(self.name, "files", "localhost mode, files re-read periodically")
        else:
            fragment = ModeStatus(self.name, "files", "localhost mode, files read once")
        problem = self._source.last_problem if self._source is not None else None
        if problem is not None:
            fragment.problems["localhost"] = problem
        return fragment
