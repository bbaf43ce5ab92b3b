"""Calls that need Redis, written once as steps with no I/O of their own ("sans-I/O").

A step function is a generator: it yields a batch of Redis commands (redis-py method names and
arguments), is sent the batch's replies, and finally returns its result. Whoever holds a
connection runs it: ``drive_async`` on an event loop, ``drive_sync`` in a blocking thread. So the
asyncio client, the trio client and the blocking shim share every line of consumer-mode logic,
and unit tests can run the steps against canned replies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from types import GeneratorType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import TypeIs

Command = tuple[Any, ...]  # ("get", key), ("sismember", key, member), ...
Batch = list[Command]
T = TypeVar("T")
Steps = Generator[Batch, list[Any], T]  # yields a batch, is sent its replies, returns T


def is_steps(result: T | Steps[T]) -> TypeIs[Steps[T]]:
    """Whether a core call returned the steps of a Redis call rather than its result."""
    return result.__class__ is GeneratorType


def drive_sync(steps: Steps[T], execute: Callable[[Batch], list[Any]]) -> T:
    """Run ``steps`` to their result, executing each batch with ``execute`` (blocking); an
    exception of ``execute`` is thrown into the steps, which turn it into their result."""
    try:
        batch = next(steps)
        while True:
            try:
                replies = execute(batch)
            except Exception as exc:
                batch = steps.throw(exc)
            else:
                batch = steps.send(replies)
    except StopIteration as done:
        result: T = done.value
        return result


async def drive_async(steps: Steps[T], execute: Callable[[Batch], Awaitable[list[Any]]]) -> T:
    """``drive_sync`` for an awaitable ``execute`` (cancellation propagates untouched)."""
    try:
        batch = next(steps)
        while True:
            try:
                replies = await execute(batch)
            except Exception as exc:
                batch = steps.throw(exc)
            else:
                batch = steps.send(replies)
    except StopIteration as done:
        result: T = done.value
        return result
