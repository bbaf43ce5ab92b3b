"""The hook runner alone (``splitio_async.hooks``) and its off-path worker: which hooks run
inline and which are queued, state carried from before to after, a raising hook logged once and
isolated, a slow one moved off the hot path, a full queue counted. The factory wiring is tested
through the public API in tests/e2e/test_hooks.py."""

from __future__ import annotations

import logging
import threading
import time
from itertools import chain
from typing import Any

import anyio
import pytest

from splitio_async.actors.hook_worker import HookWorker
from splitio_async.hooks import (
    STRIKES,
    Evaluation,
    EvaluationDetail,
    Hook,
    HookRunner,
    TrackedEvent,
)

EVALUATION = Evaluation("get_treatment", "f", "alice", None, {"plan": "gold"})
DETAIL = EvaluationDetail("on", None, "default rule", 10, 0.000002)
EVENT = TrackedEvent("alice", "user", "checkout", 1.0, None, True)


class Recorder(Hook):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def before_evaluation(self, evaluation: Evaluation) -> Any:
        self.calls.append(("before", evaluation.flag))
        return f"state of {evaluation.flag}"

    def after_evaluation(self, evaluation: Evaluation, detail: EvaluationDetail,
                         state: Any) -> None:
        self.calls.append(("after", evaluation.flag, detail.treatment, state))

    def after_track(self, event: TrackedEvent) -> None:
        self.calls.append(("track", event.event_type))


def collector(queued: list[Any]) -> Any:
    """A ``submit`` that keeps what the runner queues."""
    def submit(call: Any) -> bool:
        queued.append(call)
        return True
    return submit


def run_one(runner: HookRunner, evaluations: list[Evaluation] | None = None) -> None:
    evaluations = evaluations or [EVALUATION]
    begun = runner.before(evaluations)
    runner.after(begun, evaluations, [DETAIL] * len(evaluations))


def test_no_hook_means_an_empty_runner() -> None:
    assert not HookRunner()
    assert HookRunner([Recorder()])


def test_state_flows_from_before_to_after_per_flag() -> None:
    hook = Recorder()
    runner = HookRunner([hook])
    second = EVALUATION._replace(flag="g")
    run_one(runner, [EVALUATION, second])
    runner.tracked(EVENT)
    assert hook.calls == [
        ("before", "f"), ("before", "g"),
        ("after", "f", "on", "state of f"), ("after", "g", "on", "state of g"),
        ("track", "checkout"),
    ]


def test_a_duck_typed_hook_with_only_one_method_works() -> None:
    seen: list[str] = []

    class OnlyAfter:
        def after_evaluation(self, evaluation: Any, detail: Any, state: Any) -> None:
            seen.append(detail.label)

    runner = HookRunner([OnlyAfter()])
    run_one(runner)
    runner.tracked(EVENT)
    assert seen == ["default rule"]


def test_an_object_with_no_hook_method_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    runner = HookRunner()
    assert runner.add(object()) is False
    assert not runner
    assert "none of before_evaluation, after_evaluation, after_track" in caplog.text


def test_a_raising_hook_is_logged_once_and_isolated(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Hook):
        def before_evaluation(self, evaluation: Evaluation) -> Any:
            raise RuntimeError("boom before")

        def after_evaluation(self, evaluation: Evaluation, detail: EvaluationDetail,
                             state: Any) -> None:
            raise RuntimeError("boom after")

        def after_track(self, event: TrackedEvent) -> None:
            raise ValueError("boom track")

    good = Recorder()
    runner = HookRunner([Broken(), good])
    for _ in range(3):
        run_one(runner)
        runner.tracked(EVENT)
    assert len(good.calls) == 9  # the other hook saw every call
    raised = [r for r in caplog.records if " raised in " in r.getMessage()]
    assert [r.getMessage() for r in raised] == [
        f"Hook Broken raised in {method} (logged once; the evaluation is not affected)"
        for method in ("before_evaluation", "after_evaluation", "after_track")
    ]
    assert all(r.exc_info for r in raised)
    assert runner.entries[0].errors == 9


def test_a_slow_plain_hook_moves_off_the_hot_path(caplog: pytest.LogCaptureFixture) -> None:
    queued: list[Any] = []
    inline: list[int] = []

    class Slow(Hook):
        def after_evaluation(self, evaluation: Evaluation, detail: EvaluationDetail,
                             state: Any) -> None:
            inline.append(1)
            time.sleep(0.003)

    runner = HookRunner([Slow()], submit=collector(queued), budget_ms=1)
    for _ in range(STRIKES - 1):
        run_one(runner)  # over budget, but once is no pattern (a GC pause, a busy CPU)
    assert "now runs off the hot path" not in caplog.text
    run_one(runner)  # the third time in a row: moved
    assert queued == []
    assert "now runs off the hot path" in caplog.text
    run_one(runner)
    assert len(inline) == STRIKES  # then queued, not run here
    assert [call[1:] for call in queued] == [(EVALUATION, DETAIL)]


def test_only_slow_calls_in_a_row_move_a_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    class Hooked(Hook):
        def after_track(self, event: TrackedEvent) -> None:
            pass

    runner = HookRunner([Hooked()], submit=collector([]), budget_ms=1)
    entry = runner.entries[0]
    took_ms = [2, 2, 0, 2, 2, 0, 2, 2, 2]  # what each call "takes": two slow ones, a fast one...
    readings = iter(chain.from_iterable((0, ms * 1_000_000) for ms in took_ms))
    monkeypatch.setattr("splitio_async.hooks.perf_counter_ns", lambda: next(readings))
    for _ in range(6):
        runner.tracked(EVENT)
    assert not entry.deferred  # a fast call in between forgives the slow ones
    for _ in range(3):
        runner.tracked(EVENT)
    assert entry.deferred  # three in a row


def test_async_hooks_are_queued_never_called_inline() -> None:
    queued: list[Any] = []
    called: list[str] = []

    class Async(Hook):
        async def after_evaluation(self, evaluation: Evaluation, detail: EvaluationDetail,
                                   state: Any) -> None:
            called.append("after")

        async def after_track(self, event: TrackedEvent) -> None:
            called.append("track")

    runner = HookRunner([Async()], submit=collector(queued))
    run_one(runner)
    runner.tracked(EVENT)
    assert called == []
    assert [len(call) for call in queued] == [3, 2]


def test_an_async_hook_needs_a_worker(caplog: pytest.LogCaptureFixture) -> None:
    class Async(Hook):
        async def after_track(self, event: TrackedEvent) -> None:
            pass

    assert HookRunner().add(Async()) is False
    assert "no hook worker" in caplog.text


def test_a_full_queue_is_counted_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    class Async(Hook):
        async def after_track(self, event: TrackedEvent) -> None:
            pass

    runner = HookRunner([Async()], submit=lambda call: False)
    for _ in range(3):
        runner.tracked(EVENT)
    assert runner.dropped == 3
    assert caplog.text.count("Hook calls are queued faster") == 1


@pytest.mark.anyio
async def test_the_worker_runs_async_and_moved_hooks_in_order() -> None:
    seen: list[tuple[str, Any]] = []
    done = anyio.Event()

    class Async(Hook):
        async def before_evaluation(self, evaluation: Evaluation) -> Any:
            await anyio.lowlevel.checkpoint()
            return "async state"

        async def after_evaluation(self, evaluation: Evaluation, detail: EvaluationDetail,
                                   state: Any) -> None:
            seen.append(("async", state))

        async def after_track(self, event: TrackedEvent) -> None:
            seen.append(("async track", event.event_type))
            done.set()

    class Plain(Hook):
        def before_evaluation(self, evaluation: Evaluation) -> Any:
            return threading.get_ident()

        def after_evaluation(self, evaluation: Evaluation, detail: EvaluationDetail,
                             state: Any) -> None:
            seen.append(("plain in a worker thread", state != loop_thread))

    loop_thread = threading.get_ident()
    worker = HookWorker()
    runner = HookRunner([Async(), Plain()], submit=worker.submit)
    runner.entries[1].deferred = True  # as if it had gone over its budget
    runner._sort()
    async with anyio.create_task_group() as tg:
        await tg.start(worker.run)
        run_one(runner)
        runner.tracked(EVENT)
        with anyio.fail_after(5):
            await done.wait()
        worker.stop()
    assert seen == [("async", "async state"), ("plain in a worker thread", True),
                    ("async track", "checkout")]
    assert worker.done == 3


@pytest.mark.anyio
async def test_the_worker_abandons_a_hanging_hook_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Hangs(Hook):
        async def after_track(self, event: TrackedEvent) -> None:
            await anyio.sleep_forever()

    worker = HookWorker(call_timeout=0.01)
    runner = HookRunner([Hangs()], submit=worker.submit)
    async with anyio.create_task_group() as tg:
        await tg.start(worker.run)
        runner.tracked(EVENT)
        runner.tracked(EVENT)
        worker.stop()  # what is queued still runs, then the worker ends
    assert worker.done == 2
    hung = [r for r in caplog.records if "took longer than" in r.getMessage()]
    assert len(hung) == 1 and hung[0].levelno == logging.ERROR
