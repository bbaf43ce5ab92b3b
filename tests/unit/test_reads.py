"""The storage-neutral read vocabulary (``storage.reads``): the view works over any back end that
answers it, Redis translates it into commands and back, and a failed read is reported for what
it is (the store unavailable, or data it answered that could not be used)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from splitio_async.core.remote import StorageProblems
from splitio_async.core.steps import drive_sync
from splitio_async.engine.evaluator import Evaluator
from splitio_async.redis.commands import RedisReader, answers, commands
from splitio_async.redis.keys import RedisKeys
from splitio_async.storage.consumer_view import ConsumerView, read_snapshot
from splitio_async.storage.reads import Answers, Reads, StorageUnavailable, describe_error
from tests.unit.builders import condition, depends_on, flag_json, in_rbs, in_segment, rbs_json


class DictStore:
    """A back end that is not Redis: decoded definitions (as a pluggable wrapper's ``get_many``
    returns them), sets of members, answered straight from dictionaries."""

    def __init__(self) -> None:
        self.flags: dict[str, dict[str, Any]] = {}
        self.rbs: dict[str, dict[str, Any]] = {}
        self.segments: dict[str, set[str]] = {}
        self.flag_sets: dict[str, set[str]] = {}
        self.reads: list[Reads] = []

    def read(self, reads: Reads) -> Answers:
        self.reads.append(reads)
        found = Answers(
            [self.flags.get(name) for name in reads.flags],
            [self.rbs.get(name) for name in reads.rule_based_segments],
            [reads.key in self.segments.get(name, ()) for name in reads.segments],
            [frozenset(self.flag_sets.get(name, ())) for name in reads.flag_sets],
        )
        if reads.flag_names:
            found.flag_names = list(self.flags)
        if reads.rule_based_segment_names:
            found.rule_based_segment_names = list(self.rbs)
        found.segment_contents = [
            (frozenset(self.segments.get(name, ())), 7) for name in reads.segment_contents
        ]
        return found


def test_the_view_evaluates_over_a_store_that_is_not_redis() -> None:
    """Decoded definitions, dependencies, rule-based segments, memberships and flag sets, read
    through the vocabulary alone; one read per call once the view knows the flags' needs."""
    store = DictStore()
    store.flags["parent"] = flag_json(
        "parent", [condition([depends_on("child", "on")], [("yes", 100)])],
        defaultTreatment="no", sets=["s"],
    )
    store.flags["child"] = flag_json("child", [condition([in_rbs("vip")], [("on", 100)])],
                                     defaultTreatment="off")
    store.rbs["vip"] = rbs_json("vip", [condition([in_segment("beta")], label=None)])
    store.segments["beta"] = {"u1"}
    store.flag_sets["s"] = {"parent"}
    view = ConsumerView(None)
    assert drive_sync(view.warm_up(), store.read) == 2
    store.reads.clear()
    for key, treatment in (("u1", "yes"), ("u2", "no")):
        data, names = drive_sync(view.gather((), key, ["s"]), store.read)
        assert names == ["parent"]
        assert Evaluator().evaluate(key, None, "parent", None, data).treatment == treatment
    assert len(store.reads) == 2
    assert store.reads[0].segments == ["beta"] and store.reads[0].key == "u1"


def test_a_decoded_definition_read_again_unchanged_keeps_its_compiled_form() -> None:
    store = DictStore()
    store.flags["f"] = flag_json("f")
    view = ConsumerView(None)
    drive_sync(view.gather(("f",), "u"), store.read)
    compiled = view.flags["f"]
    store.flags["f"] = json.loads(json.dumps(flag_json("f")))  # equal, not the same object
    drive_sync(view.gather(("f",), "u"), store.read)
    assert view.flags["f"] is compiled


def test_read_snapshot_reads_the_whole_store() -> None:
    store = DictStore()
    store.flags["f"] = flag_json("f", [condition([in_segment("beta")], [("on", 100)])])
    store.segments["beta"] = {"u1", "u2"}
    snapshot = drive_sync(read_snapshot(), store.read)
    assert set(snapshot.flags) == {"f"}
    assert snapshot.in_segment("beta", "u2") and not snapshot.in_segment("beta", "u3")


def test_redis_commands_and_answers_for_every_read() -> None:
    """Every field of ``Reads`` has its commands, in one batch, and its answer back."""
    keys = RedisKeys("p")
    reads = Reads(
        ("f",), ("r",), ("s",), "k", ("set",), traffic_type="user", flag_names=True,
        rule_based_segment_names=True, change_numbers=True, segment_contents=("s",),
    )
    assert commands(keys, reads) == [
        ("smembers", "p.SPLITIO.flagSet.set"), ("get", "p.SPLITIO.split.f"),
        ("get", "p.SPLITIO.rbsegment.r"), ("sismember", "p.SPLITIO.segment.s", "k"),
        ("get", "p.SPLITIO.trafficType.user"), ("keys", "p.SPLITIO.split.*"),
        ("keys", "p.SPLITIO.rbsegment.*"), ("get", "p.SPLITIO.splits.till"),
        ("get", "p.SPLITIO.rbsegments.till"), ("smembers", "p.SPLITIO.segment.s"),
        ("get", "p.SPLITIO.segment.s.till"),
    ]
    found = answers(keys, reads, [
        [b"a", "b"], "{}", None, 1, "3", ["p.SPLITIO.split.f", "other"],
        ["p.SPLITIO.rbsegment.r"], "12", "not a number", ["k"], None,
    ])
    assert found.flag_sets == [frozenset({"a", "b"})]
    assert list(found.flags) == ["{}"] and list(found.rule_based_segments) == [None]
    assert found.memberships == [True] and found.traffic_type is True
    assert found.flag_names == ["f"] and found.rule_based_segment_names == ["r"]
    assert (found.flags_till, found.rule_based_segments_till) == (12, -1)
    assert found.segment_contents == [(frozenset({"k"}), -1)]


def test_the_redis_reader_keeps_an_evaluations_commands_but_not_its_key() -> None:
    sent: list[list[Any]] = []

    def execute(batch: list[Any]) -> list[Any]:
        sent.append(batch)
        return [None, 0]

    async def never(batch: list[Any]) -> list[Any]:
        raise AssertionError

    reader = RedisReader(RedisKeys(None), never, execute)
    for key in ("a", "b"):
        found = reader.read_blocking(Reads(("f",), (), ("s",), key))
        assert list(found.flags) == [None] and found.memberships == [False]
    assert sent == [
        [("get", "SPLITIO.split.f"), ("sismember", "SPLITIO.segment.s", "a")],
        [("get", "SPLITIO.split.f"), ("sismember", "SPLITIO.segment.s", "b")],
    ]
    assert sent[0][0] is sent[1][0]  # prepared once


def _failing(exc: Exception) -> Any:
    yield Reads(("f",))
    raise exc


def test_an_unavailable_store_is_logged_once_until_it_answers_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    problems = StorageProblems()
    lost = StorageUnavailable("Error 111 connecting")
    lost.__cause__ = ConnectionRefusedError("refused")
    with caplog.at_level(logging.INFO, "splitio.storage.redis"):
        for _ in range(3):
            assert drive_sync(problems.read(_failing(lost)), lambda reads: Answers()) is None
        assert problems.current == "ConnectionRefusedError: refused"
        drive_sync(problems.read(ConsumerView(None).flag_names()), lambda reads: Answers())
    assert problems.current is None
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Error fetching data from Redis" in m for m in messages) == 1
    assert sum(m.startswith("Redis answers again") for m in messages) == 1


def test_data_it_could_not_use_is_a_data_error_logged_once_per_problem(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A parsing bug or a value of the wrong kind is not "Redis unavailable"."""
    problems = StorageProblems("the wrapper", "splitio.storage.pluggable")
    with caplog.at_level(logging.INFO, "splitio.storage.pluggable"):
        for exc in (ValueError("bad"), ValueError("bad"), TypeError("odd"), ValueError("bad")):
            drive_sync(problems.read(_failing(exc)), lambda reads: Answers())
        drive_sync(problems.read(ConsumerView(None).flag_names()), lambda reads: Answers())
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "Data read from the wrapper could not be used (ValueError: bad); evaluations that need "
        "it return control with the exception label",
        "Data read from the wrapper could not be used (TypeError: odd); evaluations that need "
        "it return control with the exception label",
    ]


def test_describe_error_shows_the_stores_own_error() -> None:
    try:
        try:
            raise TimeoutError("read timed out")
        except TimeoutError as exc:
            raise StorageUnavailable(str(exc)) from exc
    except StorageUnavailable as exc:
        assert describe_error(exc) == "TimeoutError: read timed out"
    alone = StorageUnavailable("not connected")
    assert describe_error(alone) == "StorageUnavailable: not connected"
