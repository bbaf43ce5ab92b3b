"""Consumer mode's gathering, without Redis: the view's steps, their reads translated into Redis
commands (``redis.commands``), run against a dictionary model of the Synchronizer's keys, so each
test can count the round trips and see the commands."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from splitio_async.core.steps import drive_sync
from splitio_async.engine.evaluator import Evaluator
from splitio_async.redis.commands import Batch, RedisReader
from splitio_async.redis.keys import RedisKeys, has_hash_tag
from splitio_async.storage.consumer_view import ConsumerView
from splitio_async.storage.reads import Answers, Reads
from tests.unit.builders import (
    all_keys,
    condition,
    depends_on,
    flag_json,
    in_rbs,
    in_segment,
    rbs_json,
    whitelist,
)


class FakeRedis:
    """Strings and sets, answering the commands the view sends; counts round trips."""

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.sets: dict[str, set[str]] = {}
        self.batches: list[Batch] = []
        self.down = False
        self.use_prefix(None)

    def use_prefix(self, prefix: str | None) -> None:
        """The ``redisPrefix`` the reads are translated with."""
        self.reader = RedisReader(RedisKeys(prefix), _event_loop_only, self.execute)

    def read(self, reads: Reads) -> Answers:
        return self.reader.read_blocking(reads)

    def flag(self, raw: dict[str, Any], prefix: str = "") -> None:
        self.strings[f"{prefix}SPLITIO.split.{raw['name']}"] = json.dumps(raw)

    def rbs(self, raw: dict[str, Any]) -> None:
        self.strings[f"SPLITIO.rbsegment.{raw['name']}"] = json.dumps(raw)

    def segment(self, name: str, *keys: str) -> None:
        self.sets[f"SPLITIO.segment.{name}"] = set(keys)

    def execute(self, batch: Batch) -> list[Any]:
        if self.down:
            raise ConnectionError("Redis is down")
        self.batches.append(batch)
        replies: list[Any] = []
        for name, key, *args in batch:
            if name == "get":
                replies.append(self.strings.get(key))
            elif name == "sismember":
                replies.append(int(args[0] in self.sets.get(key, set())))
            elif name == "smembers":
                replies.append(sorted(self.sets.get(key, set())))
            elif name == "keys":
                stem = key.rstrip("*")
                replies.append([k for k in [*self.strings, *self.sets] if k.startswith(stem)])
            else:
                raise AssertionError(f"unexpected command {name}")
        return replies


async def _event_loop_only(batch: Batch) -> list[Any]:
    raise AssertionError("these tests read in the calling thread")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis() -> FakeRedis:
    return FakeRedis()


def _view(ttl: float | None = None, clock: Clock | None = None) -> ConsumerView:
    return ConsumerView(ttl, clock or Clock())


def _treatment(view: ConsumerView, redis: FakeRedis, name: str, key: str) -> str:
    data, _ = drive_sync(view.gather((name,), key), redis.read)
    return Evaluator().evaluate(key, None, name, None, data).treatment


def test_first_read_follows_dependencies_then_one_round_trip_per_call(redis: FakeRedis) -> None:
    redis.flag(flag_json("parent", [condition([depends_on("child", "on")], [("yes", 100)])],
                         defaultTreatment="no"))
    redis.flag(flag_json("child", [condition([in_segment("beta")], [("on", 100)])],
                         defaultTreatment="off"))
    redis.segment("beta", "u1")
    view = _view()  # local cache off: every call reads all it uses
    assert _treatment(view, redis, "parent", "u1") == "yes"
    assert len(redis.batches) == 3  # parent, then child, then the membership: learning
    redis.batches.clear()
    assert _treatment(view, redis, "parent", "u2") == "no"
    assert _treatment(view, redis, "parent", "u1") == "yes"
    assert len(redis.batches) == 2  # known shape: one round trip each
    assert sorted(c[0] for c in redis.batches[0]) == ["get", "get", "sismember"]


def test_warm_up_makes_even_the_first_call_one_round_trip(redis: FakeRedis) -> None:
    redis.flag(flag_json("parent", [condition([depends_on("child", "on")], [("yes", 100)])]))
    redis.flag(flag_json("child", [condition([in_rbs("vip")], [("on", 100)])]))
    redis.rbs(rbs_json("vip", [condition([in_segment("beta")], label=None)],
                       excluded_segments=[{"name": "banned", "type": "standard"}]))
    redis.segment("beta", "u1")
    redis.segment("banned", "u9")
    view = _view()
    assert drive_sync(view.warm_up(), redis.read) == 2
    redis.batches.clear()
    data, _ = drive_sync(view.gather(("parent",), "u1"), redis.read)
    assert len(redis.batches) == 1
    commands = sorted((c[0], c[1]) for c in redis.batches[0])
    assert commands == [
        ("get", "SPLITIO.rbsegment.vip"), ("get", "SPLITIO.split.child"),
        ("get", "SPLITIO.split.parent"), ("sismember", "SPLITIO.segment.banned"),
        ("sismember", "SPLITIO.segment.beta"),
    ]
    assert data.in_segment("beta", "u1") and not data.in_segment("banned", "u1")


def test_an_edited_flag_that_needs_more_is_read_again_in_the_same_call(
    redis: FakeRedis,
) -> None:
    redis.flag(flag_json("f", [condition([all_keys()], [("on", 100)])]))
    view = _view()
    assert _treatment(view, redis, "f", "u1") == "on"
    redis.flag(flag_json("f", [condition([in_segment("beta")], [("on", 100)])],
                         defaultTreatment="off"))
    redis.segment("beta", "u1")
    redis.batches.clear()
    assert _treatment(view, redis, "f", "u1") == "on"
    assert _treatment(view, redis, "f", "u2") == "off"
    assert len(redis.batches) == 3  # the edit costs one extra round trip, once


def test_local_cache_serves_definitions_and_memberships_within_its_ttl(
    redis: FakeRedis,
) -> None:
    clock = Clock()
    redis.flag(flag_json("f", [condition([in_segment("beta")], [("on", 100)])],
                         defaultTreatment="off"))
    redis.segment("beta", "u1")
    view = _view(ttl=5, clock=clock)
    drive_sync(view.warm_up(), redis.read)
    assert _treatment(view, redis, "f", "u1") == "on"
    redis.batches.clear()
    assert view.cached(("f",), "u1") is not None  # the hot path: no steps at all
    assert view.cached(("f",), "u2") is None  # u2's membership was never read
    redis.segment("beta", "u2")
    clock.now += 4.9
    assert _treatment(view, redis, "f", "u1") == "on"
    assert redis.batches == []
    assert _treatment(view, redis, "f", "u2") == "on"  # read now, cached from now on
    assert len(redis.batches) == 1
    clock.now += 0.2  # u1's answer and the definition are now older than the TTL
    redis.segment("beta")
    assert view.cached(("f",), "u1") is None
    assert _treatment(view, redis, "f", "u1") == "off"


def test_a_flag_without_segments_shares_one_data_object_for_every_key(
    redis: FakeRedis,
) -> None:
    redis.flag(flag_json("f", [condition([whitelist("a")], [("on", 100)])]))
    view = _view(ttl=5)
    drive_sync(view.gather(("f",), "a"), redis.read)
    assert view.cached(("f",), "a") is view.cached(("f",), "zz") is not None


def test_corrupted_json_is_missing_and_logged_once(
    redis: FakeRedis, caplog: pytest.LogCaptureFixture
) -> None:
    redis.strings["SPLITIO.split.bad"] = "{not json"
    redis.flag(flag_json("good"))
    view = _view()
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            data, _ = drive_sync(view.gather(("bad", "good"), "u"), redis.read)
            assert "bad" not in data.flags and "good" in data.flags
    assert sum("Could not parse" in r.getMessage() for r in caplog.records) == 1


def test_unchanged_json_keeps_the_compiled_flag(redis: FakeRedis) -> None:
    redis.flag(flag_json("f"))
    view = _view()
    drive_sync(view.gather(("f",), "u"), redis.read)
    compiled = view.flags["f"]
    drive_sync(view.gather(("f",), "u"), redis.read)
    assert view.flags["f"] is compiled
    redis.flag(flag_json("f", killed=True))
    drive_sync(view.gather(("f",), "u"), redis.read)
    assert view.flags["f"] is not compiled and view.flags["f"].killed


def test_flag_sets_are_read_with_their_flags(redis: FakeRedis) -> None:
    redis.flag(flag_json("a", sets=["s1"]))
    redis.flag(flag_json("b", sets=["s1", "s2"]))
    redis.sets["SPLITIO.flagSet.s1"] = {"a", "b"}
    redis.sets["SPLITIO.flagSet.s2"] = {"b"}
    view = _view()
    _, names = drive_sync(view.gather((), "u", ["s1", "s2"]), redis.read)
    assert names == ["a", "b"]
    redis.batches.clear()
    _, names = drive_sync(view.gather((), "u", ["s2"]), redis.read)
    assert names == ["b"] and len(redis.batches) == 1  # members and flags together


def test_after_warm_up_even_the_first_flag_set_call_is_one_round_trip(
    redis: FakeRedis,
) -> None:
    redis.flag(flag_json("a", [condition([in_segment("beta")], [("on", 100)])], sets=["s1"]))
    redis.flag(flag_json("b", sets=["s1"]))
    redis.sets["SPLITIO.flagSet.s1"] = {"a", "b"}
    redis.segment("beta", "u")
    for ttl in (None, 5.0):
        view = _view(ttl=ttl)
        drive_sync(view.warm_up(), redis.read)
        redis.batches.clear()
        data, names = drive_sync(view.gather((), "u", ["s1"]), redis.read)
        assert names == ["a", "b"] and data.in_segment("beta", "u")
        assert len(redis.batches) == 1  # the set, its flags and the membership together


def test_prefix_and_failures(redis: FakeRedis) -> None:
    redis.flag(flag_json("f"), prefix="tenant.")
    redis.use_prefix("tenant")
    view = _view()
    assert _treatment(view, redis, "f", "u") == "on"
    redis.down = True
    with pytest.raises(ConnectionError):
        drive_sync(view.gather(("f",), "u"), redis.read)


def test_traffic_types_and_manager_reads(redis: FakeRedis) -> None:
    redis.strings["SPLITIO.trafficType.user"] = "2"
    redis.strings["SPLITIO.splits.till"] = "10"
    redis.flag(flag_json("b"))
    redis.flag(flag_json("a"))
    view = _view(ttl=5)
    assert drive_sync(view.traffic_type_exists("user"), redis.read) is True
    assert drive_sync(view.traffic_type_exists("account"), redis.read) is False
    assert view.cached_traffic_type("user") is True
    assert drive_sync(view.flag_names(), redis.read) == ["a", "b"]
    assert [f.name for f in drive_sync(view.all_flags(), redis.read)] == ["a", "b"]
    assert drive_sync(view.flag("nope"), redis.read) is None


def test_hash_tags() -> None:
    assert has_hash_tag("{SPLITIO}") and has_hash_tag("app.{x}")
    assert not has_hash_tag("plain") and not has_hash_tag("{}") and not has_hash_tag(None)
    assert RedisKeys("{t}").split("f") == "{t}.SPLITIO.split.f"
