"""Evaluation hooks through the public API, on asyncio, trio and the blocking shim: every client
method calls them with the right data; a raising hook is logged once and changes nothing; a slow
one leaves the hot path; an ``async def`` one never runs on it; hooks added later reach clients
created before; with no hook the factory runs the plain core."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from splitio_async import EvaluationOptions, Key, SplitFactory, get_factory_async, open_factory
from splitio_async.hooks import STRIKES, Evaluation, EvaluationDetail, Hook, TrackedEvent
from splitio_sync_shim import get_factory
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag, until, write_split_changes

NO_BUDGET = {"hookBudgetMs": 60_000}  # where moving slow hooks is not tested: a loaded machine
# may stall a thread for several milliseconds


class Recording(Hook):
    """Keeps what every method got, and the thread it ran in."""

    def __init__(self) -> None:
        self.before: list[Evaluation] = []
        self.after: list[tuple[Evaluation, EvaluationDetail, Any]] = []
        self.tracked: list[TrackedEvent] = []
        self.threads: set[int] = set()

    def before_evaluation(self, evaluation: Evaluation) -> Any:
        self.before.append(evaluation)
        self.threads.add(threading.get_ident())
        return len(self.before)

    def after_evaluation(self, evaluation: Evaluation, detail: EvaluationDetail,
                         state: Any) -> None:
        self.after.append((evaluation, detail, state))

    def after_track(self, event: TrackedEvent) -> None:
        self.tracked.append(event)


def flags_file(tmp_path: Path) -> str:
    on = rollout_flag("f", (("on", 100),), sets=["s"], changeNumber=11,
                      configurations={"on": '{"color": "blue"}'})
    off = rollout_flag("g", (("off", 100),), sets=["s"], changeNumber=12)
    return str(write_split_changes(tmp_path / "flags.json", [on, off], till=12))


def every_method(client: Any) -> list[Callable[[], Any]]:
    """Every client method once: plain calls (shim) or coroutines (async API)."""
    attributes = {"plan": "gold"}
    return [
        lambda: client.get_treatment(Key("alice", "acct-1"), "f", attributes),
        lambda: client.get_treatment_with_config("alice", "f", attributes,
                                                 EvaluationOptions({"page": "home"})),
        lambda: client.get_treatments("alice", ["f", "g", "missing"], attributes),
        lambda: client.get_treatments_with_config("alice", ["f"], attributes),
        lambda: client.get_treatments_by_flag_set("alice", "s", attributes),
        lambda: client.get_treatments_by_flag_sets("alice", ["s"], attributes),
        lambda: client.get_treatments_with_config_by_flag_set("alice", "s", attributes),
        lambda: client.get_treatments_with_config_by_flag_sets("alice", ["s"], attributes),
        lambda: client.track("alice", "user", "checkout", 2.5, {"items": 3}),
    ]


EXPECTED = [  # (method, flag, treatment, label, change number) of every after_evaluation
    ("get_treatment", "f", "on", "default rule", 11),
    ("get_treatment_with_config", "f", "on", "default rule", 11),
    ("get_treatments", "f", "on", "default rule", 11),
    ("get_treatments", "g", "off", "default rule", 12),
    ("get_treatments", "missing", "control", "definition not found", None),
    ("get_treatments_with_config", "f", "on", "default rule", 11),
    *[(method, flag, treatment, "default rule", cn)
      for method in ("get_treatments_by_flag_set", "get_treatments_by_flag_sets",
                     "get_treatments_with_config_by_flag_set",
                     "get_treatments_with_config_by_flag_sets")
      for flag, treatment, cn in (("f", "on", 11), ("g", "off", 12))],
]


def check_every_method(hook: Recording) -> None:
    seen = [(e.method, e.flag, d.treatment, d.label, d.change_number) for e, d, _ in hook.after]
    assert seen == EXPECTED
    assert [e for e, _, _ in hook.after] == hook.before  # the same evaluations, in order
    assert [state for _, _, state in hook.after] == list(range(1, len(EXPECTED) + 1))
    first = hook.after[0][0]
    assert (first.key, first.bucketing_key, first.attributes) == ("alice", "acct-1",
                                                                  {"plan": "gold"})
    assert hook.after[1][1].config == '{"color": "blue"}'
    assert all(0 < d.duration < 1 for _, d, _ in hook.after)
    assert hook.tracked == [TrackedEvent("alice", "user", "checkout", 2.5, {"items": 3}, True)]


@pytest.mark.anyio
async def test_every_async_method_calls_the_hooks(tmp_path: Path) -> None:
    hook = Recording()
    config = {"splitFile": flags_file(tmp_path), "hooks": [hook], **NO_BUDGET}
    async with open_factory("localhost", config=config) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        results = [await call() for call in every_method(client)]
    check_every_method(hook)
    assert hook.threads == {threading.get_ident()}  # inline, in the caller's thread
    assert results[0] == "on" and results[1] == ("on", '{"color": "blue"}')


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_every_shim_method_calls_the_hooks(tmp_path: Path, backend: str) -> None:
    hook = Recording()
    factory = get_factory("localhost", config={"splitFile": flags_file(tmp_path),
                                               "hooks": [hook], **NO_BUDGET},
                          async_backend=backend)
    assert factory is not None
    try:
        factory.block_until_ready(5)
        caller = threading.Thread(target=lambda: [call() for call in
                                                  every_method(factory.client())])
        caller.start()
        caller.join(10)
    finally:
        factory.destroy()
    check_every_method(hook)
    assert hook.threads == {caller.ident}  # the caller's thread, not the portal's


@pytest.mark.anyio
async def test_calls_before_ready_are_seen_as_not_ready_and_refused_ones_not_at_all(
    server: FakeSplitServer,
) -> None:
    server.set_flags([rollout_flag("f")])
    server.delay("/api/splitChanges", 10)
    hook = Recording()
    factory = await get_factory_async(
        "SDK-KEY-0001", config={"hooks": [hook], "streamingEnabled": False,
                                "machineIp": "127.0.0.1", "machineName": "t"},
        **server.url_kwargs(),
    )
    assert factory is not None
    try:
        client = factory.client()
        assert await client.get_treatment("alice", "f") == "control"
        assert await client.get_treatment("", "f") == "control"  # invalid key: refused
        assert await client.get_treatments(None, ["f"]) == {"f": "control"}
        assert await client.track("alice", "user", "") is False
    finally:
        with anyio.fail_after(10):
            await factory.destroy()
    assert [(e.flag, d.treatment, d.label, d.change_number) for e, d, _ in hook.after] == [
        ("f", "control", "not ready", None)
    ]
    assert hook.tracked == []
    assert await client.get_treatment("alice", "f") == "control"  # destroyed: refused
    assert len(hook.after) == 1


@pytest.mark.anyio
async def test_a_raising_hook_changes_nothing_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Hook):
        def before_evaluation(self, evaluation: Evaluation) -> Any:
            raise RuntimeError("before")

        def after_evaluation(self, evaluation: Evaluation, detail: EvaluationDetail,
                             state: Any) -> None:
            raise RuntimeError("after")

        def after_track(self, event: TrackedEvent) -> None:
            raise RuntimeError("track")

    flags = flags_file(tmp_path)
    answers = []
    for hooks in ([], [Broken()]):
        async with open_factory("localhost", config={"splitFile": flags,
                                                     "hooks": hooks}) as factory:
            await factory.block_until_ready(5)
            client = factory.client()
            answers.append([await call() for call in every_method(client) * 2])
    assert answers[0] == answers[1]
    raised = [r.getMessage() for r in caplog.records if " raised in " in r.getMessage()]
    assert raised == [f"Hook Broken raised in {method} (logged once; the evaluation is not "
                      "affected)" for method in ("before_evaluation", "after_evaluation",
                                                 "after_track")]


@pytest.mark.anyio
async def test_a_slow_hook_leaves_the_hot_path_but_sees_every_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, int]] = []

    class Slow(Hook):
        def after_evaluation(self, evaluation: Evaluation, detail: EvaluationDetail,
                             state: Any) -> None:
            seen.append((evaluation.key, threading.get_ident()))
            busy_until = time.perf_counter() + 0.02  # CPU-bound (blockbuster refuses sleeps)
            while time.perf_counter() < busy_until:
                pass

    config = {"splitFile": flags_file(tmp_path), "hooks": [Slow()], "hookBudgetMs": 5}
    async with open_factory("localhost", config=config) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        for n in range(STRIKES):  # inline, over budget: the third time in a row, moved
            await client.get_treatment(f"first-{n}", "f")
        started = time.perf_counter()
        for n in range(5):
            await client.get_treatment(f"later-{n}", "f")
        assert time.perf_counter() - started < 0.02 * 5  # never waited for the hook
        await until(lambda: len(seen) == STRIKES + 5)
    loop = threading.get_ident()
    assert seen[:STRIKES] == [(f"first-{n}", loop) for n in range(STRIKES)]
    later = seen[STRIKES:]
    assert [key for key, _ in later] == [f"later-{n}" for n in range(5)]  # in order
    assert all(thread != loop for _, thread in later)  # in a worker thread
    moved = [r for r in caplog.records if "now runs off the hot path" in r.getMessage()]
    assert len(moved) == 1 and moved[0].levelno == logging.WARNING


@pytest.mark.anyio
async def test_an_async_hook_never_runs_on_the_hot_path(tmp_path: Path) -> None:
    release = anyio.Event()
    seen: list[tuple[str, str, Any]] = []

    class Async(Hook):
        async def before_evaluation(self, evaluation: Evaluation) -> Any:
            await release.wait()  # the call does not wait for this
            return "state"

        async def after_evaluation(self, evaluation: Evaluation, detail: EvaluationDetail,
                                   state: Any) -> None:
            seen.append((evaluation.flag, detail.treatment, state))

        async def after_track(self, event: TrackedEvent) -> None:
            seen.append(("track", event.event_type, event.queued))

    config = {"splitFile": flags_file(tmp_path), "hooks": [Async()]}
    async with open_factory("localhost", config=config) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        with anyio.fail_after(5):
            assert await client.get_treatment("alice", "f") == "on"
            assert await client.track("alice", "user", "checkout") is True
        assert seen == []
        release.set()
        await until(lambda: len(seen) == 2)
    assert seen == [("f", "on", "state"), ("track", "checkout", True)]


@pytest.mark.anyio
async def test_a_hook_added_later_reaches_existing_clients(tmp_path: Path) -> None:
    async with open_factory("localhost", config={"splitFile": flags_file(tmp_path)}) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        # no hook: the plain core, nothing checked per call
        assert type(client._core).__name__ == "EvaluationCore"
        await client.get_treatment("alice", "f")
        hook = Recording()
        assert factory.add_hook(hook) is True
        assert factory.add_hook(object()) is False  # no hook method: refused, logged
        assert factory.hooks == (hook,)
        assert type(client._core).__name__ == "HookedEvaluationCore"  # the same core, in place
        await client.get_treatment("bob", "f")
        assert await factory.client().track("bob", "user", "checkout")
    assert [e.key for e in hook.before] == ["bob"]
    assert [e.key for e in hook.tracked] == ["bob"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_shim_adds_hooks_and_sees_a_full_events_queue(tmp_path: Path, backend: str) -> None:
    factory = get_factory("localhost", config={"splitFile": flags_file(tmp_path),
                                               "eventsQueueSize": 1, **NO_BUDGET},
                          async_backend=backend)
    assert factory is not None
    try:
        factory.block_until_ready(5)
        client = factory.client()
        hook = Recording()
        assert factory.add_hook(hook) is True
        assert client.get_treatment("alice", "f") == "on"
        queued = [client.track("alice", "user", f"e{n}") for n in range(200)]
    finally:
        factory.destroy()
    assert [(e.flag, d.treatment) for e, d, _ in hook.after] == [("f", "on")]
    # the queue holds one event: how many a burst gets in depends on the recorder's pace, and
    # the hook says the same as track() for each
    assert [(e.event_type, e.queued) for e in hook.tracked] == [
        (f"e{n}", ok) for n, ok in enumerate(queued)
    ]


@pytest.mark.anyio
async def test_status_counts_hooks_and_their_errors(tmp_path: Path) -> None:
    class Broken(Hook):
        def after_track(self, event: TrackedEvent) -> None:
            raise RuntimeError("boom")

    config = {"splitFile": flags_file(tmp_path), "hooks": [Broken(), Recording()]}
    factory: SplitFactory
    async with open_factory("localhost", config=config) as factory:
        await factory.block_until_ready(5)
        for _ in range(3):
            await factory.client().track("alice", "user", "checkout")
        assert factory.status().hooks == {"registered": 2, "off_hot_path": 0, "errors": 3,
                                          "dropped": 0}
