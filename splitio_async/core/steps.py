"""Calls whose data needs I/O, written once as steps with no I/O of their own ("sans-I/O"), and
the one place each API turns a core call's result into its answer.

A step function is a generator: it yields what it needs to read next (a ``storage.reads.Reads``,
in the SDK's terms, never a store's commands), is sent the ``Answers``, and finally returns its
result. The
cores return either a result (data in memory, or in a remote store's local cache) or the steps
that produce it (a remote store that must be read first: Redis, pluggable storage).
Whoever holds the store runs them with its back end's read (Redis:
``redis.commands.RedisReader``): ``drive_async`` on an event loop, ``drive_sync`` in a blocking
thread. So the asyncio client, the trio client and the blocking shim share every line of the
remote-store logic over every back end, and unit tests run steps against canned answers.

``Driver`` is where a facade settles a result: ``await driver.resolve(result)`` in the async API,
``driver.resolve_blocking(result)`` in the blocking one. Nothing else tells results and steps
apart (``tests/test_architecture.py`` checks it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from types import GeneratorType
from typing import TypeVar, cast

from ..storage.reads import Answers, Reads, StorageUnavailable

T = TypeVar("T")
Steps = Generator[Reads, Answers, T]  # yields what to read, is sent the answers, returns T
Execute = Callable[[Reads], Answers]
ExecuteAsync = Callable[[Reads], Awaitable[Answers]]


def drive_sync(steps: Steps[T], execute: Execute) -> T:
    """Run ``steps`` to their result, answering each read with ``execute`` (blocking); an
    exception of ``execute`` is thrown into the steps, which turn it into their result."""
    try:
        reads = next(steps)
        while True:
            try:
                answers = execute(reads)
            except Exception as exc:
                reads = steps.throw(exc)
            else:
                reads = steps.send(answers)
    except StopIteration as done:
        result: T = done.value
        return result


async def drive_async(steps: Steps[T], execute: ExecuteAsync) -> T:
    """``drive_sync`` for an awaitable ``execute`` (cancellation propagates untouched)."""
    try:
        reads = next(steps)
        while True:
            try:
                answers = await execute(reads)
            except Exception as exc:
                reads = steps.throw(exc)
            else:
                reads = steps.send(answers)
    except StopIteration as done:
        result: T = done.value
        return result


def _not_connected(reads: Reads) -> Answers:
    raise StorageUnavailable("the factory is not connected to its storage")


def _never() -> bool:
    return False


async def _no_checkpoint() -> None:
    """The checkpoint of a ``Driver`` built without an event loop's (unit tests)."""


class Driver:
    """Settles the results of one factory's core calls, for both APIs.

    A result that is already there (every call in memory modes) is returned as it is; steps are
    run against the store once ``connect`` gave the driver its connection, and fail as a lost
    connection before that (the steps turn the failure into ``control``, logged once). The async
    API also yields to the event loop once when a recorder has a flush's worth waiting
    (``backlogged``), so code that evaluates in a loop without awaiting anything else lets the
    recorders deliver instead of filling their buffers.
    """

    __slots__ = ("_backlogged", "_checkpoint", "_execute", "_execute_blocking")

    def __init__(
        self,
        backlogged: Callable[[], bool] = _never,
        checkpoint: Callable[[], Awaitable[None]] = _no_checkpoint,
    ) -> None:
        self._backlogged = backlogged
        self._checkpoint = checkpoint
        self._execute: ExecuteAsync | None = None
        self._execute_blocking: Execute = _not_connected

    def connect(self, execute: ExecuteAsync, execute_blocking: Execute) -> None:
        """Run steps with these from now on: ``execute`` in the event loop, ``execute_blocking``
        in any other thread."""
        self._execute = execute
        self._execute_blocking = execute_blocking

    async def resolve(self, result: T | Steps[T]) -> T:
        """The async API's answer: ``result``, or what its steps return (run on this event
        loop). Never raises what a read raised: the steps turn it into their result."""
        if result.__class__ is GeneratorType:
            result = await self._run(cast("Steps[T]", result))
        if self._backlogged():
            await self._checkpoint()
        return result  # type: ignore[return-value]

    def resolve_blocking(self, result: T | Steps[T]) -> T:
        """The blocking API's answer: ``result``, or what its steps return, run right here in
        the calling thread (never in the event loop's)."""
        if result.__class__ is GeneratorType:
            return drive_sync(cast("Steps[T]", result), self._execute_blocking)
        return result  # type: ignore[return-value]

    async def _run(self, steps: Steps[T]) -> T:
        execute = self._execute
        if execute is None:  # not connected (yet): the call fails like a lost connection
            return drive_sync(steps, _not_connected)
        return await drive_async(steps, execute)
