"""Calls to the user's storage wrapper, made the way its flavour and the caller's API need.

* **Blocking API, plain methods**: in the caller's own thread (``run_blocking``), like the shim's
  Redis reads: no hop to the portal thread.
* **Async API, ``async def`` methods**: awaited on the event loop; the calls of one batch run
  concurrently (the memberships an evaluation needs are independent), so a wrapper over a
  network store pays one round trip per batch, not one per call.
* **Async API, plain methods**: one worker thread runs the whole batch (asyncio and trio alike),
  so the event loop never blocks on the wrapper. The thread is abandoned if the call is
  cancelled (``destroy()`` past its deadline), so a stuck wrapper cannot hold the factory.
* **Blocking API, ``async def`` methods**: the shim hands the batch to its event loop thread
  (``needs_event_loop``), which then runs it as above.

A wrapper's exception propagates to the caller of ``run``: the reads turn it into ``control``
with the ``exception`` label, the recorders keep what they could not write and retry.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import anyio

from .._threads import to_worker_thread
from .wrapper import StorageWrapper

Call = tuple[str, tuple[Any, ...]]  # (wrapper method, its arguments)


class WrapperRunner:
    """Runs batches of wrapper calls; holds no state between batches."""

    __slots__ = ("_coroutines", "_target", "needs_event_loop")

    def __init__(self, wrapper: StorageWrapper) -> None:
        self._target = wrapper.target
        self._coroutines = wrapper.coroutine_methods
        self.needs_event_loop = not wrapper.blocking  # the blocking API must hop to its loop

    def run_blocking(self, calls: Sequence[Call]) -> list[Any]:
        """Every call, in order, in this thread (plain methods only)."""
        target = self._target
        answers = []
        for method, args in calls:
            answer = getattr(target, method)(*args)
            if inspect.isawaitable(answer):
                _discard(answer)
                raise TypeError(
                    f"storage wrapper method {method} returned an awaitable to a blocking call"
                )
            answers.append(answer)
        return answers

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        """Every call, on the event loop (see the module docstring); answers in call order.
        Raises the first failure."""
        answers = await self.outcomes(calls)
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return answers

    async def outcomes(self, calls: Sequence[Call]) -> list[Any]:
        """Each call's answer, or the exception it raised (writes: which ones went through).
        Plain methods stop at the first failure; the calls not made then show its exception."""
        if not self._coroutines:
            return await to_worker_thread(self._outcomes_blocking, calls, abandon_on_cancel=True)
        if len(calls) == 1:
            return [await self._outcome(calls[0])]
        answers: list[Any] = [None] * len(calls)

        async def one(index: int, call: Call) -> None:
            answers[index] = await self._outcome(call)

        async with anyio.create_task_group() as tg:
            for index, call in enumerate(calls):
                tg.start_soon(one, index, call)
        return answers

    def _outcomes_blocking(self, calls: Sequence[Call]) -> list[Any]:
        answers: list[Any] = []
        for call in calls:
            try:
                answers.extend(self.run_blocking((call,)))
            except Exception as exc:
                return answers + [exc] * (len(calls) - len(answers))
        return answers

    async def _outcome(self, call: Call) -> Any:
        try:
            return await self._one(call)
        except Exception as exc:
            return exc

    async def _one(self, call: Call) -> Any:
        method, args = call
        if method in self._coroutines:
            return await getattr(self._target, method)(*args)
        answers = await to_worker_thread(self.run_blocking, (call,), abandon_on_cancel=True)
        return answers[0]


def _discard(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
