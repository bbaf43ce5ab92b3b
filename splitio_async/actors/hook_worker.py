"""Runs the evaluation hooks that must not run on the hot path (see ``hooks``).

``async def`` hooks are awaited here, and plain hooks that went over their time budget run here
in a worker thread; each call under ``CALL_TIMEOUT`` (a hook that hangs is abandoned, logged once
per hook). Calls come one at a time, in the order the application made them.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from .._threads import to_worker_thread
from ..hooks import CALL_TIMEOUT, QUEUE_SIZE, Deferred, HookEntry, run_plain
from ..runtime.clock import SYSTEM_CLOCK
from ..transport.protocols import Clock
from .serial import SerialWorker

_LOGGER = logging.getLogger("splitio.hooks")


class HookWorker(SerialWorker[Deferred]):
    def __init__(self, call_timeout: float = CALL_TIMEOUT, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(QUEUE_SIZE)
        self._clock = clock
        self._timeout = call_timeout
        self._timed_out: set[int] = set()  # ids of hooks already reported as hanging
        self.done = 0  # calls run

    async def handle(self, call: Deferred) -> None:
        entry = call[0]
        with self._clock.deadline(self._timeout) as deadline:
            if not entry.is_async:  # a plain hook off the hot path: never on the loop
                await to_worker_thread(run_plain, call, abandon_on_cancel=True)
            elif len(call) == 2:
                await _call(entry, "after_track", entry.track, call[1])
            else:
                state = await _call(entry, "before_evaluation", entry.before, call[1])
                await _call(entry, "after_evaluation", entry.after, call[1], call[2], state)
        if deadline.cancelled_caught and id(entry) not in self._timed_out:
            self._timed_out.add(id(entry))
            _LOGGER.error("Hook %s took longer than %ss; abandoned (logged once)",
                          entry.name, self._timeout)
        self.done += 1


async def _call(
    entry: HookEntry, method: str, function: Callable[..., Any] | None, *args: Any
) -> Any:
    """Call (and await, for an ``async def``) one hook method; failures logged once."""
    if function is None:
        return None
    try:
        outcome = function(*args)
        if inspect.isawaitable(outcome):
            outcome = await outcome
    except Exception as exc:
        entry.failed(method, exc)
        return None
    return outcome
