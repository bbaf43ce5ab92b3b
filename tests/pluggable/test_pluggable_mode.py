"""Pluggable storage mode through our own APIs, with no official SDK needed: the conformance set
through the async API (asyncio, trio) and the shim, with both flavours of dict-backed wrapper;
mode selection; the deliberate differences from the official SDK (OFFICIAL.md §8); and what
happens when the wrapper fails (reads, writes, at start)."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest

from splitio_async import PluggableConfigurationException, TimeoutException, open_factory
from splitio_async.factory import build_factory
from splitio_sync_shim import get_factory
from tests.pluggable.conformance_store import conformance_snapshot
from tests.pluggable.wrappers import AsyncDictWrapper, DictWrapper
from tests.test_conformance import Recorder, _arguments, _check, _load, _shape
from tests.unit.builders import all_keys, condition, depends_on, flag_json, in_segment

PREFIX = "conf"
FAST: dict[str, Any] = {  # records flushed on destroy only, quick retries at start
    "impressionsRefreshRate": 600, "eventsPushRate": 600, "destroyTimeout": 5,
    "syncRetryBackoffBase": 0.2, "syncRetryBackoffMax": 0.2,
    "machineName": "box", "machineIp": "10.0.0.1",
}


def _config(wrapper: Any, **extra: Any) -> dict[str, Any]:
    return {"storageType": "pluggable", "storageWrapper": wrapper, "storagePrefix": PREFIX,
            **FAST, **extra}


def _wrapper(flavour: str, store: DictWrapper) -> Any:
    return AsyncDictWrapper(store) if flavour == "async" else store


# --------------------------------------------------------------------- the conformance set


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", ["async", "blocking"])
async def test_async_api_gives_the_conformance_answers(flavour: str) -> None:
    """``async def`` methods awaited on the loop; plain ones in worker threads (trio too)."""
    store = DictWrapper(conformance_snapshot(PREFIX))
    recorder = Recorder()
    config = _config(_wrapper(flavour, store), impressionListener=recorder,
                     impressionsMode="DEBUG")
    results = {}
    with anyio.fail_after(120):
        async with open_factory("pluggable", config=config) as factory:
            await factory.block_until_ready(5)
            client = factory.client()
            for case in _load("cases.jsonl"):
                method, key, flag, attrs = _arguments(case)
                raw = await getattr(client, method)(key, flag, attrs)
                results[case["id"]] = _shape(case, raw, recorder.take())
    _check(lambda case: results[case["id"]])
    assert store.calls["get_many"] >= len(results)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("flavour", ["blocking", "async"])
def test_shim_gives_the_conformance_answers(backend: str, flavour: str) -> None:
    """Plain methods run in the caller's thread; ``async def`` ones in the portal's loop."""
    store = DictWrapper(conformance_snapshot(PREFIX))
    recorder = Recorder()
    config = _config(_wrapper(flavour, store), impressionListener=recorder,
                     impressionsMode="DEBUG")
    factory = get_factory("pluggable", config=config, async_backend=backend)
    assert factory is not None
    try:
        factory.block_until_ready(5)
        client = factory.client()

        def run(case: dict[str, Any]) -> dict[str, Any]:
            method, key, flag, attrs = _arguments(case)
            return _shape(case, getattr(client, method)(key, flag, attrs), recorder.take())

        _check(run)
    finally:
        factory.destroy()


# ------------------------------------------------------------------------- mode selection


def _mode(sdk_key: str, config: dict[str, Any]) -> str:
    """The mode a config selects (the factory is built, not started)."""
    factory = build_factory(sdk_key, config, {})
    assert factory is not None
    return factory.status().mode


def test_the_localhost_key_and_redis_keys_take_precedence(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    """As official: the SDK key ``localhost`` first, then the presence of a Redis key, then
    ``storageType``; the wrapper is not even looked at then."""
    pluggable = {"storageType": "pluggable"}  # no wrapper: would fail validation
    assert _mode("localhost", pluggable) == "localhost"
    assert _mode("key", {**pluggable, "redisHost": "127.0.0.1"}) == "redis"
    assert _mode("key", {**pluggable, "redisSentinels": [("127.0.0.1", 1)],
                         "redisMasterService": "m"}) == "redis"
    assert _mode("key", {"storageType": "PlUgGaBlE", "storageWrapper": DictWrapper()}) == (
        "pluggable"
    )
    assert "storageType" not in caplog.text


@pytest.mark.parametrize("storage_type", ["memory", "redis", "", 42])
def test_another_storage_type_warns_and_means_in_memory(
    caplog: pytest.LogCaptureFixture, storage_type: Any
) -> None:
    assert _mode("key", {"storageType": storage_type, "storageWrapper": DictWrapper()}) == (
        "standalone"
    )
    assert [r.getMessage() for r in caplog.records if "storageType" in r.getMessage()] == [
        "You passed an invalid storageType, acceptable value is `pluggable`. Defaulting "
        "storage to In-Memory mode."
    ]


def test_flag_sets_filter_is_discarded(caplog: pytest.LogCaptureFixture) -> None:
    assert _mode("key", _config(DictWrapper(), flagSetsFilter=["backend"])) == "pluggable"
    assert "FlagSet filter was discarded." in caplog.text


def test_validation_raises_the_typed_sdk_error(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(PluggableConfigurationException) as raised:
        build_factory("key", {"storageType": "pluggable", "storageWrapper": object()}, {})
    assert str(raised.value) == "Pluggable Adapter validation failed, exiting"
    assert raised.value.reason == "Pluggable adapter does not have required method: get"
    assert [r.name for r in caplog.records if r.levelno == logging.ERROR] == [
        "splitio.client.input_validator"
    ]


def test_the_users_config_dict_is_left_alone() -> None:
    config = _config(DictWrapper())
    before = dict(config)
    factory = get_factory("key", config=config)
    assert factory is not None
    factory.destroy()
    assert config == before  # official: writes operationMode and storageType into it


# -------------------------------------------------------------- differences from official


def _store(prefix: str | None, *flags: dict[str, Any]) -> DictWrapper:
    """A store holding ``flags`` (and their traffic type) under ``prefix``."""
    head = f"{prefix}." if prefix else ""
    snapshot = {f"{head}SPLITIO.split.{f['name']}": {"value": f} for f in flags}
    snapshot[f"{head}SPLITIO.trafficType.user"] = {"value": len(flags)}
    return DictWrapper(snapshot, journal=True)


def _on(name: str) -> dict[str, Any]:
    return flag_json(name, [condition([all_keys()], [("on", 100)], label="everyone")])


@pytest.mark.anyio
async def test_an_empty_prefix_means_no_prefix() -> None:
    """As ``redisPrefix`` and the Synchronizer (the official SDK would read ``.SPLITIO...``)."""
    store = _store(None, _on("f"))
    async with open_factory("key", config=_config(AsyncDictWrapper(store), storagePrefix="",
                                                  impressionsMode="DEBUG")) as factory:
        await factory.block_until_ready(5)
        assert await factory.client().get_treatment("k", "f") == "on"
        assert await factory.manager().split_names() == ["f"]
    written = store.snapshot()
    assert [json.loads(i)["i"]["f"] for i in written["SPLITIO.impressions"]["list"]] == ["f"]
    assert not [key for key in written if key.startswith(".")]


def test_the_manager_lists_every_flag_even_one_named_like_a_change_number() -> None:
    """The official SDK drops every name ending in ``till`` (``ff_still``); we list them all,
    and nothing that is not under ``SPLITIO.split.`` (a wrapper may match substrings)."""

    class Substrings(DictWrapper):
        def get_keys_by_prefix(self, prefix: str) -> list[str]:
            return [key for key in self.snapshot() if prefix in key]

    store = Substrings({
        **_store(PREFIX, _on("ff_still"), _on("f")).snapshot(),
        f"{PREFIX}.SPLITIO.splits.till": {"value": 5},
        f"other.{PREFIX}.SPLITIO.split.ghost": {"value": {"name": "ghost"}},
    })
    factory = get_factory("key", config=_config(store))
    assert factory is not None
    try:
        factory.block_until_ready(5)
        manager = factory.manager()
        assert sorted(manager.split_names()) == ["f", "ff_still"]
        assert sorted(view.name for view in manager.splits()) == ["f", "ff_still"]
        assert factory.client().get_treatment("k", "ff_still") == "on"
    finally:
        factory.destroy()


class MgetLike(DictWrapper):
    """``get_many`` as a plain ``MGET`` answers: a ``None`` for each missing key, and an error
    for no keys at all (both turn official evaluations into ``control``)."""

    def get_many(self, keys: list[str]) -> list[Any]:
        if not keys:
            raise ValueError("wrong number of arguments for 'mget' command")
        return [self.get(key) for key in keys]


def test_missing_keys_answered_with_none_are_not_found_for_that_name_only() -> None:
    dependent = flag_json("dependent", [condition([depends_on("f", "on")], [("on", 100)])])
    store = MgetLike(_store(PREFIX, _on("f"), dependent).snapshot(), journal=True)
    factory = get_factory("key", config=_config(store))
    assert factory is not None
    try:
        factory.block_until_ready(5)
        client = factory.client()
        assert client.get_treatments("k", ["f", "missing", "dependent"]) == {
            "f": "on", "missing": "control", "dependent": "on",
        }
        assert client.get_treatment("k", "missing") == "control"
        assert store.journal is not None
        assert ("get_many", ([],)) not in store.journal  # never asks for nothing
    finally:
        factory.destroy()


@pytest.mark.anyio
async def test_nothing_is_pushed_when_there_is_nothing_to_push() -> None:
    """The official SDK calls ``push_items(key)`` with no values after every multi-flag call
    that records nothing (and every call in NONE mode)."""
    store = _store(PREFIX, _on("f"))
    async with open_factory("key", config=_config(AsyncDictWrapper(store),
                                                  impressionsMode="NONE")) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        await client.get_treatments("k", ["missing"])
        await client.get_treatment("k", "f")
    assert store.journal is not None
    pushes = [args for method, args in store.journal if method == "push_items"]
    assert pushes and all(len(args) > 1 for args in pushes)  # unique keys, with values
    written = store.snapshot()
    assert f"{PREFIX}.SPLITIO.impressions" not in written
    assert json.loads(written[f"{PREFIX}.SPLITIO.uniquekeys"]["list"][0]) == {
        "f": "f", "ks": ["k"]}


# ------------------------------------------------------------------------------- failures


class Flaky(DictWrapper):
    """A dict wrapper whose methods named in ``down`` raise ``ConnectionError``, and that fails
    any call ``fails(method, args)`` picks (once each time it answers True)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.down: set[str] = set()
        self.fails: Callable[[str, tuple[Any, ...]], bool] = lambda method, args: False
        self.failed: Counter[str] = Counter()
        self.failure_seen = threading.Event()

    def _maybe_fail(self, method: str, *args: Any) -> None:
        if method in self.down or self.fails(method, args):
            self.failed[method] += 1
            self.failure_seen.set()
            raise ConnectionError(f"{method}: the store is down")

    def get(self, key: str) -> Any:
        self._maybe_fail("get", key)
        return super().get(key)

    def get_many(self, keys: list[str]) -> list[Any]:
        self._maybe_fail("get_many", keys)
        return super().get_many(keys)

    def item_contains(self, key: str, item: str) -> bool:
        self._maybe_fail("item_contains", key, item)
        return super().item_contains(key, item)

    def get_keys_by_prefix(self, prefix: str) -> list[str]:
        self._maybe_fail("get_keys_by_prefix", prefix)
        return super().get_keys_by_prefix(prefix)

    def push_items(self, key: str, *items: str) -> int:
        self._maybe_fail("push_items", key, *items)
        return super().push_items(key, *items)

    def increment(self, key: str, value: int) -> int:
        self._maybe_fail("increment", key, value)
        return super().increment(key, value)

    def expire(self, key: str, ttl: int) -> bool:
        self._maybe_fail("expire", key, ttl)
        return super().expire(key, ttl)


def _segment_flag(name: str, segment: str) -> dict[str, Any]:
    return flag_json(name, [condition([in_segment(segment)], [("on", 100)])])


@pytest.mark.anyio
async def test_reads_that_fail_give_control_with_the_exception_label(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As in Redis mode: any failed read is the whole call's ``control`` (the official SDK
    counts a failed membership as "not a member" and serves the wrong treatment), logged once
    until the wrapper answers again, and shown in ``status()``."""
    store = Flaky({
        **_store(PREFIX, _segment_flag("f", "s")).snapshot(),
        f"{PREFIX}.SPLITIO.segment.s": {"set": ["k"]},
    })
    recorder = Recorder()
    async with open_factory("key", config=_config(
        store, impressionListener=recorder, impressionsMode="DEBUG"
    )) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        assert await client.get_treatment("k", "f") == "on"
        assert recorder.take() == {"f": "default rule"}
        for method in ("item_contains", "get_many"):
            store.down = {method}
            assert await client.get_treatment("k", "f") == "control"
            assert await client.get_treatments("k", ["f"]) == {"f": "control"}
            assert recorder.take() == {"f": "exception"}
        assert factory.status().last_errors["storage"].startswith("ConnectionError")
        store.down = set()
        assert await client.get_treatment("k", "f") == "on"
        assert "storage" not in factory.status().last_errors
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len([m for m in errors if "Error fetching data from the storage wrapper" in m]) == 1
    assert "the storage wrapper answers again" in caplog.text.lower()


@pytest.mark.anyio
async def test_not_ready_until_the_wrapper_answers(caplog: pytest.LogCaptureFixture) -> None:
    store = Flaky(_store(PREFIX, _on("f")).snapshot())
    store.down = {"get_keys_by_prefix"}
    async with open_factory("key", config=_config(store)) as factory:
        with pytest.raises(TimeoutException):
            await factory.block_until_ready(0.3)
        assert await factory.client().get_treatment("k", "f") == "control"  # not ready
        assert factory.status().last_errors["storage"].startswith("ConnectionError")
        store.down = set()
        await factory.block_until_ready(5)
        assert await factory.client().get_treatment("k", "f") == "on"
    assert "The storage wrapper cannot be read (ConnectionError" in caplog.text


@pytest.mark.anyio
async def test_records_are_kept_and_written_once_when_writes_fail() -> None:
    """A failed push is retried until ``destroy()`` gets it through; a write of several
    counters that fails midway retries only the counters not written."""
    store = Flaky(_store(PREFIX, _on("f"), _on("g")).snapshot())
    failed_once: set[str] = set()

    def once(method: str, args: tuple[Any, ...]) -> bool:
        """Each counter of flag ``g`` fails the first time it is incremented."""
        key = str(args[0]) if args else ""
        if method == "increment" and ".count.g::" in key and key not in failed_once:
            failed_once.add(key)
            return True
        return False

    store.fails = once
    store.down = {"push_items"}
    async with open_factory("key", config=_config(
        store, impressionsMode="OPTIMIZED", eventsPushRate=0.05,
    )) as factory:
        await factory.block_until_ready(5)
        client = factory.client()
        for _ in range(3):
            assert await client.get_treatments("k", ["f", "g"]) == {"f": "on", "g": "on"}
        assert await client.track("k", "user", "ev") is True
        # the events recorder tried (and failed) at least once
        assert await anyio.to_thread.run_sync(store.failure_seen.wait, 5)
        store.down = set()
    written = store.snapshot()
    impressions = [json.loads(item)["i"]["f"]
                   for item in written[f"{PREFIX}.SPLITIO.impressions"]["list"]]
    assert sorted(impressions) == ["f", "g"]  # deduplicated: the rest are counted
    assert len(written[f"{PREFIX}.SPLITIO.events"]["list"]) == 1
    counts = {key.split(".count.")[1].split("::")[0]: entry["value"]
              for key, entry in written.items() if ".impressions.count." in key}
    assert counts == {"f": 2, "g": 2} and failed_once


def test_a_blocking_wrapper_runs_in_worker_threads_under_the_async_api() -> None:
    """On trio (and asyncio) the loop thread never calls a plain method."""
    callers: set[int] = set()

    class Watched(DictWrapper):
        def get_many(self, keys: list[str]) -> list[Any]:
            callers.add(threading.get_ident())
            return super().get_many(keys)

    store = Watched(_store(PREFIX, _on("f")).snapshot())

    async def main() -> int:
        async with open_factory("key", config=_config(store)) as factory:
            await factory.block_until_ready(5)
            assert await factory.client().get_treatment("k", "f") == "on"
        return threading.get_ident()

    for backend in ("asyncio", "trio"):
        callers.clear()
        loop_thread = anyio.run(main, backend=backend)
        assert callers and loop_thread not in callers
