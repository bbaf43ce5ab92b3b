"""Running a factory's task group when the caller gives us no scope to own it.

``open_factory`` is the structured form: the caller's ``async with`` owns the task group.
``get_factory_async`` (kept for compatibility with the official SDK) returns a factory that outlives
the call, so its task group needs a host task. The factory owns that task and ends it in
``destroy()``; it is the only task splitio_async ever spawns outside a task group: an asyncio task
kept by the factory, or on trio a system task (trio has no other unscoped task).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import sniffio

_LOGGER = logging.getLogger("splitio.client.factory")


class _Status:
    """The ``task_status`` protocol, for a task started outside ``TaskGroup.start``."""

    def __init__(self, started: anyio.Event) -> None:
        self._started = started

    def started(self, value: object = None) -> None:
        self._started.set()


async def start_hosted(run: Callable[..., Awaitable[None]]) -> Any:
    """Start ``run(task_status=...)`` in a host task; return once it has started.

    Raises whatever ``run`` raised before it reported started (e.g. a malformed localhost file).
    Returns a handle the caller must keep (the asyncio task).
    """
    started = anyio.Event()
    failure: list[BaseException] = []

    async def host() -> None:
        try:
            await run(task_status=_Status(started))
        except Exception as exc:
            if started.is_set():
                _LOGGER.exception("splitio factory stopped on an unexpected error")
            failure.append(exc)
        finally:
            started.set()

    handle: Any
    if sniffio.current_async_library() == "trio":
        import trio  # noqa: PLC0415 - only when running on trio

        trio.lowlevel.spawn_system_task(host)
        handle = None
    else:
        import asyncio  # noqa: PLC0415

        handle = asyncio.get_running_loop().create_task(host())
    await started.wait()
    if failure:
        raise failure[0]
    return handle
