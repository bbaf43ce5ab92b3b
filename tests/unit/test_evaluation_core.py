"""The evaluation core alone, in each composition a mode gives it: the snapshot or a remote store
(its reads as steps, settled by a ``Driver`` against canned answers), timed or not. No factory,
no event loop: what the core returns, records and logs for a call."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from splitio_async.core.evaluation import EvaluationCore, EvaluationOptions
from splitio_async.core.manager import ManagerCore
from splitio_async.core.remote import Remote
from splitio_async.core.steps import Driver, Steps
from splitio_async.engine.evaluator import EvaluationData, EvaluationResult, Evaluator
from splitio_async.lifecycle import FactoryState
from splitio_async.models.splits import Split
from splitio_async.models.telemetry import CallRecord
from splitio_async.runtime.intake import Intake
from splitio_async.storage.reads import Answers, Reads
from tests.unit.builders import flag_json, snapshot

FLAGS = [flag_json("on_flag"), flag_json("other", sets=["s1"])]


class FakeStore:
    """A remote store over a snapshot: every read is one ``Reads`` naming what it reads (the
    answers are computed here from the snapshot, so the driver's answers are not used)."""

    def __init__(self, *, cached: bool = False) -> None:
        self.data = snapshot(FLAGS)
        self.cached_answers = cached
        self.reads: list[tuple[Any, ...]] = []

    def cached(self, names: tuple[str, ...], matching_key: str) -> EvaluationData | None:
        return self.data if self.cached_answers else None

    def gather(
        self, names: Sequence[str], matching_key: str | None, flag_sets: Sequence[str] = ()
    ) -> Steps[tuple[EvaluationData, list[str]]]:
        yield Reads(tuple(names), (), (), matching_key or "", tuple(flag_sets))
        members = sorted(n for s in flag_sets for n in self.data.flag_sets.get(s, ()))
        return self.data, [*names, *members]

    def cached_traffic_type(self, name: str) -> bool | None:
        return None

    def traffic_type_exists(self, name: str) -> Steps[bool]:
        yield Reads(traffic_type=name)
        return name in self.data.traffic_types

    def flag_names(self) -> Steps[list[str]]:
        yield Reads(flag_names=True)
        return sorted(self.data.flags)

    def all_flags(self) -> Steps[list[Split]]:
        yield Reads(flag_names=True, rule_based_segment_names=True)
        return list(self.data.flags.values())

    def flag(self, name: str) -> Steps[Split | None]:
        yield Reads((name,))
        return self.data.flags.get(name)


def ready_state() -> FactoryState:
    state = FactoryState()
    state.snapshot = snapshot(FLAGS)
    assert state.become_ready()
    return state


def core(
    state: FactoryState, *, telemetry: Intake[CallRecord] | None = None,
    remote: Remote | None = None,
) -> tuple[EvaluationCore, Intake[Any]]:
    impressions: Intake[Any] = Intake(100, 100)
    return EvaluationCore(state, Evaluator(), impressions, Intake(100, 100),
                          telemetry=telemetry, remote=remote), impressions


def answering(store: FakeStore) -> Driver:
    """A driver whose store answers each read by recording what it asked (the steps compute the
    answers themselves here, so the driver's answers are not read)."""
    driver = Driver()

    async def execute(reads: Reads) -> Answers:
        return execute_blocking(reads)

    def execute_blocking(reads: Reads) -> Answers:
        store.reads.append(_asked(reads))
        return Answers()

    driver.connect(execute, execute_blocking)
    return driver


def _asked(reads: Reads) -> tuple[Any, ...]:
    """What ``reads`` asks, in short: the names by kind, then what it asks of the whole store."""
    return (tuple(reads.flags), reads.key, tuple(reads.flag_sets), reads.traffic_type,
            reads.flag_names, reads.rule_based_segment_names)


def test_in_memory_a_call_answers_at_once_and_queues_its_impression() -> None:
    evaluation, impressions = core(ready_state())
    result = evaluation.treatment("user-1", "on_flag", None,
                                  EvaluationOptions({"plan": "pro"}), "get_treatment")
    assert isinstance(result, EvaluationResult)
    assert (result.treatment, result.label, result.change_number) == ("on", "default rule", 10)
    [record] = impressions.drain()
    key, name, treatment, label, change_number, bucketing, time_ms, properties, off = record
    assert (key, name, treatment, label, change_number, bucketing, properties, off) == (
        "user-1", "on_flag", "on", "default rule", 10, None, '{"plan": "pro"}', False
    )
    assert time_ms > 1_600_000_000_000


def test_a_refused_call_is_named_control_and_records_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    evaluation, impressions = core(ready_state())
    result = evaluation.treatment("", "on_flag", None, None, "get_treatment")
    assert isinstance(result, EvaluationResult)
    assert (result.treatment, result.config, result.label) == ("control", None, None)
    assert impressions.drain() == []
    assert "you passed an empty key" in caplog.text


def test_a_timed_core_records_the_latency_of_what_got_past_validation() -> None:
    calls: Intake[CallRecord] = Intake(100, 100)
    evaluation, _ = core(ready_state(), telemetry=calls)
    evaluation.treatment("user-1", "on_flag", None, None, "get_treatment")
    evaluation.treatment("user-1", "missing", None, None, "get_treatment")  # official: not timed
    evaluation.treatments("user-1", ["on_flag", "missing"], None, None, "get_treatments")
    evaluation.track("user-1", "user", "checkout", None, None)
    assert [code for code, _ in calls.drain()] == ["t", "ts", "tr"]


def test_over_a_remote_store_an_uncached_read_is_steps_the_driver_runs() -> None:
    store = FakeStore()
    state = ready_state()
    evaluation, impressions = core(state, remote=Remote(store))
    steps = evaluation.treatment("user-1", "on_flag", None, None, "get_treatment")
    assert not isinstance(steps, EvaluationResult)
    result = answering(store).resolve_blocking(steps)
    assert result.treatment == "on"
    assert store.reads == [(("on_flag",), "user-1", (), None, False, False)]
    assert len(impressions.drain()) == 1


def test_over_a_remote_store_a_cached_read_answers_at_once() -> None:
    evaluation, _ = core(ready_state(), remote=Remote(FakeStore(cached=True)))
    result = evaluation.treatment("user-1", "on_flag", None, None, "get_treatment")
    assert isinstance(result, EvaluationResult)
    assert result.treatment == "on"


@pytest.mark.anyio
async def test_the_async_driver_runs_the_same_steps() -> None:
    store = FakeStore()
    evaluation, _ = core(ready_state(), remote=Remote(store))
    results = await answering(store).resolve(
        evaluation.treatments_by_flag_sets("user-1", ["s1"], None, None,
                                           "get_treatments_by_flag_sets")
    )
    assert {name: result.treatment for name, result in results.items()} == {"other": "on"}
    assert store.reads == [((), "user-1", ("s1",), None, False, False)]


def test_a_failed_read_answers_control_with_the_exception_label_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    remote = Remote(FakeStore())
    evaluation, impressions = core(ready_state(), remote=remote)
    unconnected = Driver()  # reads fail as a lost connection
    for _ in range(2):
        result = unconnected.resolve_blocking(
            evaluation.treatment("user-1", "on_flag", None, None, "get_treatment")
        )
        assert (result.treatment, result.label) == ("control", "exception")
    assert remote.problems.current is not None
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert len(impressions.drain()) == 2  # a failed evaluation is recorded, as officially


def test_data_sampling_keeps_no_impression_at_zero() -> None:
    evaluation, impressions = core(ready_state(), remote=Remote(FakeStore(cached=True),
                                                                sampling=0.0))
    evaluation.treatment("user-1", "on_flag", None, None, "get_treatment")
    assert impressions.drain() == []


def test_track_over_a_remote_store_reads_the_traffic_type_then_queues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore()
    evaluation, _ = core(ready_state(), remote=Remote(store))
    driver = answering(store)
    assert driver.resolve_blocking(evaluation.track("user-1", "account", "buy", 1, None))
    assert store.reads == [((), "", (), "account", False, False)]
    assert "Traffic Type account does not have any corresponding Feature flags" in caplog.text


def test_the_manager_core_reads_a_remote_store_through_the_same_driver() -> None:
    store = FakeStore()
    manager = ManagerCore(ready_state(), Remote(store))
    driver = answering(store)
    assert driver.resolve_blocking(manager.split_names()) == ["on_flag", "other"]
    view = driver.resolve_blocking(manager.split("other"))
    assert view is not None
    assert view.sets == ["s1"]
    assert driver.resolve_blocking(manager.split("missing")) is None
    assert store.reads == [
        ((), "", (), None, True, False), (("other",), "", (), None, False, False),
        (("missing",), "", (), None, False, False),
    ]
