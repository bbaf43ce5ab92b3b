"""Running CPU work that comes in slices (``bounded_json``'s decoder) on the event loop: the loop
gets a checkpoint between two slices, so a large document never stalls it."""

from __future__ import annotations

from typing import Any

import anyio.lowlevel

from ..bounded_json import Steps


async def drive(steps: Steps) -> Any:
    """Run a sliced decoder, letting the event loop run between slices."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
        await anyio.lowlevel.checkpoint()
