"""Behind a Split Proxy that predates rule-based segments (spec api.md §3.4), end to end through
the public API on asyncio, trio and the blocking shim, against the fake server in proxy mode.

The proxy answers 400 to ``s=1.3`` and the old ``{splits, since, till}`` shape to ``s=1.1``. The
SDK must switch to 1.1 at once, become ready, evaluate every flag right (segments, dependencies,
kills, configurations, flag sets, fallback treatments), deliver every tracked event, try 1.3
again only after ``specRecheckInterval`` (official: a day; shortened here), and, once the proxy
is upgraded, move back to 1.3 with a full fetch that brings the rule-based segments. Split's own
URL never falls back. Waits are bounded and wait on conditions.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from splitio_async import (
    FallbackTreatment,
    FallbackTreatmentsConfiguration,
    SplitFactory,
    TimeoutException,
    get_factory_async,
)
from splitio_async.lowlevel import internals
from splitio_async.transport import http
from splitio_sync_shim import get_factory
from tests.fakes.split_server import FakeSplitServer, RecordedRequest
from tests.helpers import (
    in_rbs_flag,
    rollout_flag,
    segment_flag,
    staff_rbs,
    treatment_becomes,
    until,
)

FLAGS = "/api/splitChanges"
RECHECK = 0.3  # specRecheckInterval of these tests, in seconds
CONFIG: dict[str, Any] = {
    "streamingEnabled": False,
    "featuresRefreshRate": 0.05,
    "segmentsRefreshRate": 0.05,
    "syncRetryBackoffBase": 0.02,
    "syncRetryBackoffMax": 0.1,
    "specRecheckInterval": RECHECK,
    "impressionsMode": "debug",
    "connectionTimeout": 1500,
    "machineIp": "127.0.0.1",
    "machineName": "test",
}
FALLBACK_CONFIG = '{"prop": "val"}'
PROXY_WARNING = (
    "Detected proxy response error, changing spec version from 1.3 to 1.1 and re-fetching."
)


def _config() -> dict[str, Any]:
    fallbacks = FallbackTreatmentsConfiguration(
        None, {"fallback_feature": FallbackTreatment("on-local", FALLBACK_CONFIG)}
    )
    return {**CONFIG, "fallbackTreatments": fallbacks}


def depends_flag(name: str, on: str, treatments: list[str]) -> dict[str, Any]:
    """Keys for which flag ``on`` gives one of ``treatments`` get "yes"; others "off"."""
    flag = rollout_flag(name, (("yes", 100),))
    flag["conditions"][0]["matcherGroup"]["matchers"][0] = {
        "keySelector": {"trafficType": "user", "attribute": None},
        "matcherType": "IN_SPLIT_TREATMENT", "negate": False,
        "dependencyMatcherData": {"split": on, "treatments": treatments},
    }
    return flag


def load(server: FakeSplitServer) -> None:
    """Flags, a segment and a rule-based segment on the server; an old proxy in front of it."""
    server.set_flags([
        rollout_flag("all_on", (("on", 100),), configurations={"on": '{"size": 15}'}),
        segment_flag("in_employees", "employees"),
        rollout_flag("killed_feature", (("on", 100),), killed=True,
                     defaultTreatment="defTreatment"),
        rollout_flag("no_traffic", (("on", 100),), trafficAllocation=0),
        depends_flag("depends", "in_employees", ["in"]),
        rollout_flag("set_flag", (("v1", 100),), sets=["backend"]),
        in_rbs_flag("rbs_flag", "staff"),
    ], [staff_rbs("alice")])
    server.set_segment("employees", ["employee_1", "employee_2"])
    server.proxy_mode()


Calls = list[tuple[str, tuple[Any, ...], Any]]

CALLS: Calls = [
    ("get_treatment", ("employee_1", "in_employees"), "in"),
    ("get_treatment", ("stranger", "in_employees"), "off"),
    ("get_treatment", ("anyone", "all_on"), "on"),
    ("get_treatment_with_config", ("anyone", "all_on"), ("on", '{"size": 15}')),
    ("get_treatment", ("anyone", "killed_feature"), "defTreatment"),
    ("get_treatment", ("anyone", "no_traffic"), "off"),
    ("get_treatment", ("employee_2", "depends"), "yes"),
    ("get_treatment", ("stranger", "depends"), "off"),
    ("get_treatments", ("anyone", ["all_on", "killed_feature", "invalid_feature"]),
     {"all_on": "on", "killed_feature": "defTreatment", "invalid_feature": "control"}),
    ("get_treatments_with_config", ("employee_1", ["in_employees", "fallback_feature"]),
     {"in_employees": ("in", None), "fallback_feature": ("on-local", FALLBACK_CONFIG)}),
    ("get_treatments_by_flag_set", ("anyone", "backend"), {"set_flag": "v1"}),
    ("get_treatment", ("anyone", "fallback_feature"), "on-local"),
    ("get_treatment_with_config", ("anyone", "fallback_feature"),
     ("on-local", FALLBACK_CONFIG)),
    ("get_treatment", ("anyone", "missing"), "control"),
    # spec 1.1 brings no rule-based segments: a flag reading one answers control, as the
    # official SDK's does
    ("get_treatment", ("alice", "rbs_flag"), "control"),
]
UPGRADED_CALLS: Calls = [
    *[call for call in CALLS if call[1][1] != "rbs_flag"],
    ("get_treatment", ("alice", "rbs_flag"), "member"),
    ("get_treatment", ("bob", "rbs_flag"), "off"),
]
TRACKS = [(f"user_{i}", "user", "purchase", i * 1.5, {"n": i, "even": i % 2 == 0})
          for i in range(30)]
FLAG_NAMES = ["all_on", "depends", "in_employees", "killed_feature", "no_traffic", "rbs_flag",
              "set_flag"]


def assert_calls(calls: Calls, results: list[Any]) -> None:
    wrong = [f"{method}{args}: {got!r}, expected {want!r}"
             for (method, args, want), got in zip(calls, results, strict=True) if got != want]
    assert not wrong, "\n".join(wrong)


def specs(requests: list[RecordedRequest]) -> list[str]:
    return [r.query["s"] for r in requests]


def refused_twice(server: FakeSplitServer) -> bool:
    """1.3 was retried (after the recheck interval) and refused at least twice, and the SDK is
    back on 1.1 after the last refusal."""
    asked = specs(server.requests_to(FLAGS))
    return asked.count("1.3") >= 3 and asked[-1] == "1.1"


def assert_fell_back(server: FakeSplitServer, log: str) -> None:
    """1.3 refused, 1.1 asked at once without ``rbSince``; 1.3 retried only after the recheck
    interval each time (the proxy refused every retry so far)."""
    requests = server.requests_to(FLAGS)
    assert requests[0].query_string == "s=1.3&since=-1&rbSince=-1"
    assert requests[1].query_string == "s=1.1&since=-1"
    assert all("rbSince" not in r.query for r in requests if r.query["s"] == "1.1")
    retries = [r for r in requests[1:] if r.query["s"] == "1.3"]
    assert retries, "1.3 was never tried again"
    tried = [requests[0], *retries]
    for before, after in itertools.pairwise(tried):
        assert after.time - before.time >= RECHECK, "1.3 retried before the recheck interval"
        follower = requests[requests.index(after) + 1]
        assert follower.query["s"] == "1.1"  # a refused retry: 1.1 again at once
    assert log.count(PROXY_WARNING) >= 1 + len(retries)


def assert_moved_back(server: FakeSplitServer, upgraded_at: int) -> None:
    """After the upgrade: the 1.3 retry asked for everything, and 1.3 was used ever since with
    the rule-based segments' change number."""
    requests = server.requests_to(FLAGS)
    last_legacy = max(i for i, r in enumerate(requests) if r.query["s"] == "1.1")
    assert last_legacy + 1 < len(requests)
    assert last_legacy + 1 >= upgraded_at - 1
    assert requests[last_legacy + 1].query_string == "s=1.3&since=-1&rbSince=-1"
    later = requests[last_legacy + 2:]
    assert later and all(r.query["s"] == "1.3" for r in later)
    assert later[-1].query["rbSince"] == str(server.rbs_change_number)


def tracked(server: FakeSplitServer) -> list[tuple[Any, ...]]:
    events = [e for body in server.accepted("/api/events/bulk") for e in body]
    return sorted((e["key"], e["trafficTypeName"], e["eventTypeId"], e["value"], e["properties"])
                  for e in events)


# ------------------------------------------------------------------------------ async API


async def in_thread(call: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(functools.partial(call, *args))


async def run_calls(factory: SplitFactory, calls: Calls) -> list[Any]:
    client = factory.client()
    return [await getattr(client, method)(*args) for method, args, _ in calls]


@pytest.mark.anyio
async def test_old_proxy_spec_1_1_then_back_to_1_3(
    server: FakeSplitServer, factories: list[SplitFactory], caplog: pytest.LogCaptureFixture
) -> None:
    load(server)
    factory = await get_factory_async("SDK-KEY-0001", config=_config(), **server.url_kwargs())
    assert factory is not None
    factories.append(factory)
    with anyio.fail_after(5):
        await factory.block_until_ready(5)
    assert_calls(CALLS, await run_calls(factory, CALLS))
    client = factory.client()
    assert [await client.track(*event) for event in TRACKS] == [True] * len(TRACKS)
    assert sorted(await factory.manager().split_names()) == FLAG_NAMES

    await until(lambda: refused_twice(server))
    assert_fell_back(server, caplog.text)
    assert_calls(CALLS, await run_calls(factory, CALLS))

    upgraded_at = len(server.requests_to(FLAGS))
    server.proxy_mode(upgraded=True)

    await treatment_becomes(factory, "alice", "rbs_flag", "member", within=5)
    polls = len(server.requests_to(FLAGS))
    await in_thread(server.wait_for_requests, FLAGS, polls + 1, 3.0)
    assert_moved_back(server, upgraded_at)
    assert_calls(UPGRADED_CALLS, await run_calls(factory, UPGRADED_CALLS))
    assert sorted(await factory.manager().split_names()) == FLAG_NAMES  # nothing lost

    factories.remove(factory)
    with anyio.fail_after(10):
        await factory.destroy()
    assert tracked(server) == sorted(TRACKS)


@pytest.mark.anyio
async def test_split_s_own_api_never_falls_back(
    server: FakeSplitServer, factories: list[SplitFactory], caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 400 from Split's own URL is an error like any other: retried, in spec 1.3 only, and
    the SDK is not ready until 1.3 is answered."""
    load(server)
    monkeypatch.setitem(http.DEFAULT_URLS, "sdk", server.sdk_url)  # the fake is "Split's API"
    urls = {k: v for k, v in server.url_kwargs().items() if k != "sdk_api_base_url"}
    factory = await get_factory_async("SDK-KEY-0001", config=_config(), **urls)
    assert factory is not None
    factories.append(factory)
    await in_thread(server.wait_for_requests, FLAGS, 4, 5.0)
    with pytest.raises(TimeoutException):
        await factory.block_until_ready(0.05)
    requests = server.requests_to(FLAGS)
    assert set(specs(requests)) == {"1.3"}
    assert all(r.query_string == "s=1.3&since=-1&rbSince=-1" for r in requests)
    assert PROXY_WARNING not in caplog.text
    server.proxy_mode(upgraded=True)
    with anyio.fail_after(5):
        await factory.block_until_ready(5)
    assert await factory.client().get_treatment("alice", "rbs_flag") == "member"
    assert set(specs(server.requests_to(FLAGS))) == {"1.3"}


@pytest.mark.anyio
async def test_streaming_behind_an_old_proxy(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    """Auth asks for spec 1.3 as the official SDK does, whatever the flags' spec; streaming
    works on 1.1; a rule-based segment notification fetches flags once (1.1 brings no
    rule-based segments, so its change number cannot be waited for: no retries, no CDN
    bypass, as the official fetches without a target), and the next notification is handled
    right after."""
    load(server)
    config = {**_config(), "streamingEnabled": True, "streamingReconnectBackoffBase": 0.05}
    factory = await get_factory_async("SDK-KEY-0001", config=config, **server.url_kwargs())
    assert factory is not None
    factories.append(factory)
    with anyio.fail_after(5):
        await factory.block_until_ready(5)
    auth = await in_thread(server.wait_for_requests, "/api/v2/auth", 1, 3.0)
    assert auth[0].query_string == "s=1.3"
    await in_thread(server.wait_for_streams, 1, 3.0)
    before = len(server.requests_to(FLAGS))
    assert server.push_occupancy("control_pri", 2) >= 1
    await until(lambda: internals(factory).push is not None and internals(factory).push.streaming)
    await in_thread(server.wait_for_requests, FLAGS, before + 1, 3.0)  # the sync of UP
    before = len(server.requests_to(FLAGS))

    server.push_rbs_update(server.change_number + 5)  # no payload: the SDK must fetch
    # then an instant update of a version only the notification carries: the worker applies
    # it once it is done with the rule-based segment notification
    previous = server.flags_change_number
    flag = rollout_flag("all_on", (("v2", 100),), changeNumber=previous + 10)
    server.push_split_update(previous + 10, flag, pcn=previous)
    await treatment_becomes(factory, "anyone", "all_on", "v2", within=5)
    after = server.requests_to(FLAGS)[before:]
    assert [r.query_string for r in after] == [f"s=1.1&since={previous}"]


# --------------------------------------------------------------------------- blocking shim


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_shim_old_proxy_spec_1_1_then_back_to_1_3(
    server: FakeSplitServer, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    load(server)
    factory = get_factory("SDK-KEY-0001", config=_config(), async_backend=backend,
                          **server.url_kwargs())
    assert factory is not None
    try:
        factory.block_until_ready(5)
        client = factory.client()
        assert_calls(CALLS, [getattr(client, m)(*args) for m, args, _ in CALLS])
        assert [client.track(*event) for event in TRACKS] == [True] * len(TRACKS)
        assert sorted(factory.manager().split_names()) == FLAG_NAMES
        wait_until(lambda: refused_twice(server))
        assert_fell_back(server, caplog.text)

        upgraded_at = len(server.requests_to(FLAGS))
        server.proxy_mode(upgraded=True)
        wait_until(lambda: client.get_treatment("alice", "rbs_flag") == "member")
        server.wait_for_requests(FLAGS, len(server.requests_to(FLAGS)) + 1, 3.0)
        assert_moved_back(server, upgraded_at)
        assert_calls(UPGRADED_CALLS, [getattr(client, m)(*args) for m, args, _ in UPGRADED_CALLS])
    finally:
        destroyed = threading.Event()
        factory.destroy(destroyed)
        assert destroyed.wait(10)
    assert tracked(server) == sorted(TRACKS)


def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
