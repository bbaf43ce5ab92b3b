"""Fork safety of async factories: one that is running when its process forks is paused in the
child (status WAITING_FORK, evaluations give ``control`` with an error log), because its event
loop, tasks and connections stayed with the parent and silently frozen flags would be worse.
See ``prefork`` for starting factories in forked workers."""

from __future__ import annotations

import logging
import os
import weakref
from typing import Any

from .storage import state as states

_LOGGER = logging.getLogger("splitio.client.factory")
_RUNNING: weakref.WeakSet[Any] = weakref.WeakSet()


def watch_fork(factory: Any) -> None:
    """Pause ``factory`` (a ``SplitFactory``) in the child if this process forks while it runs,
    unless its ``pause_on_fork`` is off (the sync shim handles forks itself)."""
    _RUNNING.add(factory)


def _after_fork_in_child() -> None:
    for factory in list(_RUNNING):
        state = factory.state
        if factory.pause_on_fork and state.status in (states.READY, states.NOT_INITIALIZED):
            state.status = states.WAITING_FORK
            _LOGGER.error(
                "splitio: this process was forked while an async factory was running; it is "
                "paused in the child (its event loop stayed with the parent). Start a factory "
                "in the child, e.g. from splitio_async.prefork.preload() data."
            )


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
