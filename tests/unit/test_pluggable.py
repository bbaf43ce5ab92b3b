"""Pluggable storage mode's parts on their own: the wrapper check (official messages, flavour),
the read plans (what the consumer view asks, as official-shaped wrapper calls), the runner
(threads, concurrency, per-call outcomes) and the sink (keys, values, TTLs, partial writes)."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from typing import Any

import anyio
import pytest

from splitio_async.actors.impression_counters import PartlyWritten
from splitio_async.errors import PluggableConfigurationException
from splitio_async.models.impressions import Impression
from splitio_async.models.telemetry import METHOD_CODES
from splitio_async.pluggable.reads import PluggableReader, answers, calls
from splitio_async.pluggable.runner import WrapperRunner
from splitio_async.pluggable.sink import PluggableSink
from splitio_async.pluggable.wrapper import METHODS, validate_wrapper
from splitio_async.redis.keys import RedisKeys
from splitio_async.storage.reads import Reads, StorageUnavailable
from splitio_async.transport.metadata import SdkMetadata
from tests.pluggable.wrappers import AsyncDictWrapper, DictWrapper

KEYS = RedisKeys("p")
META = SdkMetadata("python-10.7.0", "10.0.0.1", "box")
MACHINE = "python-10.7.0/box/10.0.0.1"


# ---------------------------------------------------------------------------- the check


def _check(wrapper: Any, **config: Any) -> Any:
    return validate_wrapper({"storageWrapper": wrapper, **config})


class Mixed(DictWrapper):
    async def get_many(self, keys: list[str]) -> list[Any]:  # type: ignore[override]
        return DictWrapper.get_many(self, keys)


def test_the_flavour_of_each_method_is_noted() -> None:
    blocking = _check(DictWrapper(), storagePrefix="")
    assert blocking.blocking and blocking.prefix is None  # an empty prefix is no prefix
    assert blocking.describe() == "DictWrapper (blocking methods)"
    flavoured = _check(AsyncDictWrapper(), storagePrefix="app")
    assert flavoured.coroutine_methods == {name for name, _ in METHODS}
    assert flavoured.prefix == "app"
    assert flavoured.describe() == "AsyncDictWrapper (async methods)"
    assert _check(Mixed()).describe() == "Mixed (async methods: get_many)"


class StaticGet(DictWrapper):
    @staticmethod
    def get(key: str) -> Any:  # type: ignore[override]
        return None


class UnreadableDelete(DictWrapper):
    @property
    def delete(self) -> Any:  # type: ignore[override]
        raise RuntimeError("not readable")


@pytest.mark.parametrize(("wrapper", "message"), [
    (StaticGet(), "Pluggable adapter does not have required method: get"),
    (UnreadableDelete(), "Pluggable adapter does not have required method: delete"),
])
def test_only_bound_methods_count(
    caplog: pytest.LogCaptureFixture, wrapper: Any, message: str
) -> None:
    """As the official check: a static method or an unreadable attribute is no method."""
    with pytest.raises(PluggableConfigurationException) as raised:
        _check(wrapper)
    assert raised.value.reason == message
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [message]


def test_varargs_count_as_one_parameter() -> None:
    class Starred(DictWrapper):
        def set(self, *args: Any) -> bool:  # type: ignore[override]
            return True

    with pytest.raises(PluggableConfigurationException) as raised:
        _check(Starred())
    assert raised.value.reason == (
        "Pluggable adapter method set has less than required arguments count: 1 : "
    )


# ------------------------------------------------------------------------------ reading


def test_reads_become_official_shaped_calls_and_their_replies_answers() -> None:
    reads = Reads(["a", "b", "gone"], ["r"], ["s"], "k", ["x"], traffic_type="user",
                  flag_names=True, rule_based_segment_names=True, change_numbers=True)
    assert calls(KEYS, reads) == [
        ("get_many", ([KEYS.split("a"), KEYS.split("b"), KEYS.split("gone")],)),
        ("get_many", ([KEYS.rule_based_segment("r")],)),
        ("item_contains", (KEYS.segment("s"), "k")),
        ("get_many", ([KEYS.flag_set("x")],)),
        ("get", (KEYS.traffic_type("user"),)),
        ("get_keys_by_prefix", (KEYS.split_prefix,)),
        ("get_keys_by_prefix", (KEYS.rbs_prefix,)),
        ("get", (KEYS.splits_till,)),
        ("get", (KEYS.rbs_till,)),
    ]
    a, b = {"name": "a", "n": 1}, {"name": "b", "ñ": "😀"}
    found = answers(KEYS, reads, [
        # any order, missing keys as None or absent, JSON text, things that are no definition
        [b, None, json.dumps(a), {"no": "name"}, 7, "not json"],
        [{"name": "r"}],
        1,
        [["f2", "f1"], json.dumps(["f3"])],  # each value a collection of names
        0,  # a traffic type exists when its key holds anything (official)
        [KEYS.split("a"), "other.p.SPLITIO.split.z", KEYS.split("b")],  # substring matches
        [KEYS.rule_based_segment("r")],
        "12", None,
    ])
    assert list(found.flags) == [a, b, None]
    assert list(found.rule_based_segments) == [{"name": "r"}]
    assert list(found.memberships) == [True]
    assert list(found.flag_sets) == [frozenset({"f1", "f2", "f3"})]
    assert found.traffic_type is True
    assert found.flag_names == ["a", "b"] and found.rule_based_segment_names == ["r"]
    assert (found.flags_till, found.rule_based_segments_till) == (12, -1)


def test_nothing_is_asked_for_nothing() -> None:
    reads = Reads(segments=["s"], key="k")
    assert calls(KEYS, reads) == [("item_contains", (KEYS.segment("s"), "k"))]
    assert list(answers(KEYS, reads, [0]).memberships) == [False]
    assert calls(KEYS, Reads()) == []
    assert calls(KEYS, Reads(segment_contents=["s"])) == [
        ("get_items", (KEYS.segment("s"),)), ("get", (KEYS.segment("s") + ".till",))]


@pytest.mark.anyio
async def test_a_failing_wrapper_means_the_store_is_unavailable() -> None:
    class Down(AsyncDictWrapper):
        async def get_many(self, keys: list[str]) -> list[Any]:
            raise KeyError("no such key")  # whatever a wrapper raises

    reader = PluggableReader(KEYS, WrapperRunner(_check(Down())))
    with pytest.raises(StorageUnavailable) as raised:
        await reader.read(Reads(["a"]))
    assert isinstance(raised.value.__cause__, KeyError)
    blocking = PluggableReader(KEYS, WrapperRunner(_check(DictWrapper())))
    assert list(blocking.read_blocking(Reads(["a"])).flags) == [None]


# ------------------------------------------------------------------------------- running


def test_blocking_calls_run_in_order_and_refuse_awaitables() -> None:
    store = DictWrapper(journal=True)
    runner = WrapperRunner(_check(store))
    assert runner.run_blocking([("set", ("k", 1)), ("get", ("k",))]) == [True, 1]

    class Lying(DictWrapper):
        def get(self, key: str) -> Any:
            return AsyncDictWrapper().get(key)  # a coroutine from a plain method

    with pytest.raises(TypeError, match="returned an awaitable"):
        WrapperRunner(_check(Lying())).run_blocking([("get", ("k",))])


@pytest.mark.anyio
async def test_async_calls_of_a_batch_run_concurrently() -> None:
    """Three memberships that each wait for all three to have started: sequential calls would
    never finish."""
    started = 0
    everyone = anyio.Event()

    class Slow(AsyncDictWrapper):
        async def item_contains(self, key: str, item: str) -> bool:
            nonlocal started
            started += 1
            if started == 3:
                everyone.set()
            await everyone.wait()
            return key == "b"

    runner = WrapperRunner(_check(Slow()))
    with anyio.fail_after(5):
        assert await runner.run([("item_contains", (k, "x")) for k in "abc"]) == [
            False, True, False]


@pytest.mark.anyio
async def test_outcomes_tell_which_calls_went_through() -> None:
    class Picky(AsyncDictWrapper):
        async def increment(self, key: str, value: int) -> int:
            if key == "bad":
                raise ConnectionError("no")
            return self.store.increment(key, value)

    runner = WrapperRunner(_check(Picky()))
    outcomes = await runner.outcomes([("increment", ("a", 1)), ("increment", ("bad", 1)),
                                      ("increment", ("b", 2))])
    assert outcomes[0] == 1 and outcomes[2] == 2 and isinstance(outcomes[1], ConnectionError)
    with pytest.raises(ConnectionError):
        await runner.run([("increment", ("bad", 1))])


@pytest.mark.anyio
async def test_plain_methods_stop_at_the_first_failure_in_a_worker_thread() -> None:
    threads: set[int] = set()

    class Failing(DictWrapper):
        def increment(self, key: str, value: int) -> int:
            threads.add(threading.get_ident())
            if key == "bad":
                raise ConnectionError("no")
            return super().increment(key, value)

    store = Failing()
    outcomes = await WrapperRunner(_check(store)).outcomes(
        [("increment", ("a", 1)), ("increment", ("bad", 1)), ("increment", ("b", 1))]
    )
    assert outcomes[0] == 1 and outcomes[1] is outcomes[2]  # "b" was never tried
    assert store.get("b") is None and threading.get_ident() not in threads


# ------------------------------------------------------------------------------- writing


def _impression(flag: str) -> Impression:
    return Impression("k", flag, "on", "rule", 5, None, 1000, None, None)


@pytest.mark.anyio
async def test_records_go_under_the_official_keys_with_their_ttl() -> None:
    store = DictWrapper(journal=True)
    sink = PluggableSink(WrapperRunner(_check(AsyncDictWrapper(store))), KEYS, META)
    await sink.send_impressions([_impression("f"), _impression("g")])
    await sink.send_impressions([_impression("h")])  # the list exists: no new TTL
    await sink.send_impressions([])
    await sink.post_impression_counts({"pf": [{"f": "f", "m": 3600000, "rc": 4}]}, "OPTIMIZED")
    await sink.post_unique_keys({"keys": [{"f": "f", "ks": ["a", "b"]}]})
    await sink.write_init(1, 0)
    code = METHOD_CODES["get_treatment"]
    await sink.write_telemetry(Counter({(code, 3): 2}), Counter({code: 1}))
    assert store.journal is not None
    calls = [(m, args[0]) for m, args in store.journal]
    assert calls[:8] == [
        ("push_items", "p.SPLITIO.impressions"), ("expire", "p.SPLITIO.impressions"),
        ("push_items", "p.SPLITIO.impressions"),
        ("increment", "p.SPLITIO.impressions.count.f::3600000"),
        ("expire", "p.SPLITIO.impressions.count.f::3600000"),
        ("push_items", "p.SPLITIO.uniquekeys"), ("expire", "p.SPLITIO.uniquekeys"),
        ("set", f"p.SPLITIO.telemetry.init::{MACHINE}"),
    ]
    counters = {f"p.SPLITIO.telemetry.latencies::{MACHINE}/treatment/3",
                f"p.SPLITIO.telemetry.exceptions::{MACHINE}/treatment"}
    assert calls[8:] == sorted(calls[8:], key=lambda call: call[0] != "increment")  # then TTLs
    assert Counter(calls[8:]) == Counter(
        [("increment", key) for key in counters] + [("expire", key) for key in counters])
    written = store.snapshot()
    first = json.loads(written["p.SPLITIO.impressions"]["list"][0])
    assert first == {"m": {"s": "python-10.7.0", "n": "box", "i": "10.0.0.1"}, "i": {
        "k": "k", "b": None, "f": "f", "t": "on", "r": "rule", "c": 5, "m": 1000,
        "properties": None}}
    assert json.loads(written[f"p.SPLITIO.telemetry.init::{MACHINE}"]["value"]) == {
        "aF": 1, "rF": 0, "sT": "pluggable", "oM": 1, "t": []}
    assert written[f"p.SPLITIO.telemetry.latencies::{MACHINE}/treatment/3"]["value"] == 2


class CountersFail(AsyncDictWrapper):
    """``increment`` fails for keys containing ``bad``; ``expire`` always fails."""

    bad = "bad"

    async def increment(self, key: str, value: int) -> int:
        if self.bad in key:
            raise ConnectionError("down")
        return self.store.increment(key, value)

    async def expire(self, key: str, ttl: int) -> bool:
        raise ConnectionError("down")


@pytest.mark.anyio
async def test_a_write_failing_midway_hands_back_only_what_was_not_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrapper = CountersFail()
    sink = PluggableSink(WrapperRunner(_check(wrapper)), KEYS, META)
    body = {"pf": [{"f": "ok", "m": 0, "rc": 1}, {"f": "bad", "m": 0, "rc": 2}]}
    with pytest.raises(PartlyWritten) as partly:
        await sink.post_impression_counts(body, "OPTIMIZED")
    assert partly.value.unsent == {"pf": [{"f": "bad", "m": 0, "rc": 2}]}
    with pytest.raises(ConnectionError):  # nothing written: the plain error
        await sink.post_impression_counts({"pf": [{"f": "bad", "m": 0, "rc": 2}]}, "NONE")
    wrapper.bad = "exceptions"
    code = METHOD_CODES["track"]
    with pytest.raises(PartlyWritten) as partly:
        await sink.write_telemetry(Counter({(code, 1): 3}), Counter({code: 1}))
    assert partly.value.unsent == (Counter(), Counter({code: 1}))
    assert wrapper.store.get("p.SPLITIO.impressions.count.ok::0") == 1
    assert "Could not set the TTL" in caplog.text  # the records stay written
