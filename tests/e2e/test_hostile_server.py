"""A hostile Split service on 127.0.0.1, on asyncio and trio (the shim: tests/shim/
test_shim_hostile.py): 1 GiB gzip bombs, 1 GB bodies, answers that trickle in, lines and events
that never end, update payloads that unpack to 1 GiB, nesting past any stack, floods of garbage.

For each: the data already served stays served, the event loop never stalls for more than
``STALL_BOUND_S`` (100 ms) and the process's memory never grows by more than ``RSS_BOUND_MB``
(200 MB) while the attack lasts, the right log line appears once (naming the limit to raise),
``status()`` shows the problem, and the SDK recovers when the server does. Each test prints
its measures (run with ``-s`` to see them; docs/limits.md quotes them).

Waits are bounded and wait on conditions (server-side request counts, SDK-side state polled by
``until``); the attacks are generated lazily by the server (``tests/fakes/hostile.py``) and the
SDK stops reading at its limits, so each test takes seconds.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from splitio_async import SplitFactory, TimeoutException, get_factory_async
from splitio_async.lowlevel import internals
from tests.fakes.hostile import (
    RSS_BOUND_MB,
    STALL_BOUND_S,
    LoopWatch,
    MiB,
    PeakRss,
    bomb_update,
    endless,
    gzip_bomb_body,
    nested_message,
    sized,
    trickle,
)
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag, until

pytestmark = pytest.mark.anyio

FLAGS = "/api/splitChanges"
POLLING: dict[str, Any] = {
    "streamingEnabled": False,
    "featuresRefreshRate": 0.05,
    "segmentsRefreshRate": 0.05,
    "syncRetryBackoffBase": 0.02,
    "syncRetryBackoffMax": 0.1,
    "machineIp": "127.0.0.1",
    "machineName": "test",
}
STREAMING: dict[str, Any] = {
    **POLLING,
    "streamingEnabled": True,
    "streamingReconnectBackoffBase": 0.02,
    "streamingKeepaliveTimeout": 1.0,  # also how long a stream must hold to be trusted again
}


async def in_thread(call: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(functools.partial(call, *args))


def lines(caplog: pytest.LogCaptureFixture, text: str, level: int = logging.WARNING) -> int:
    """Log records at ``level`` or above whose message contains ``text``."""
    return sum(1 for r in caplog.records if r.levelno >= level and text in r.getMessage())


async def flag_f_is(factory: SplitFactory, treatment: str) -> bool:
    return await factory.client().get_treatment("k", "f") == treatment


async def start(server: FakeSplitServer, config: dict[str, Any]) -> SplitFactory:
    """A ready factory whose start-up sync is over (ready comes with the data, before the
    requests that only confirm it: an attack must meet the periodic fetches, not those)."""
    factory = await get_factory_async("SDK-KEY-0001", config=config, **server.url_kwargs())
    assert factory is not None
    with anyio.fail_after(5):
        await factory.block_until_ready(5)
    await until(lambda: "initial sync" not in factory.status().last_errors)
    if not config.get("streamingEnabled"):
        await in_thread(server.wait_for_requests, FLAGS, len(server.requests_to(FLAGS)) + 2, 5)
    return factory


class Attack:
    """Measures an attack: peak memory and the longest loop stall while it lasts, and checks
    that the last good data is served whenever looked at."""

    def __init__(self, name: str, backend: str) -> None:
        self.name = f"{name} [{backend}]"
        self.rss = PeakRss()
        self.watch = LoopWatch()

    async def begin(self, tg: anyio.abc.TaskGroup) -> None:
        await in_thread(self.rss.reset)
        await tg.start(self.watch.run)

    async def end(self) -> None:
        peak = await in_thread(self.rss.above_baseline_mb)
        print(f"\n[hostile] {self.name}: peak RSS +{peak:.0f} MB, longest loop stall "
              f"{self.watch.worst * 1000:.0f} ms ({self.watch.samples} samples)")
        assert peak < RSS_BOUND_MB, f"{self.name}: +{peak:.0f} MB"
        assert self.watch.worst < STALL_BOUND_S, f"{self.name}: {self.watch.worst:.3f} s"


# ---------------------------------------------------------------------------------- REST


BODIES = {
    "gzip bomb (1 GiB unpacked)": (gzip_bomb_body, {"Content-Encoding": "gzip"},
                                   "httpMaxResponseBytes"),
    "1 GB body": (lambda: sized(1000 * MiB), {"Content-Length": str(1000 * MiB)},
                  "httpMaxResponseBytes"),
    "endless chunked body": (endless, {}, "httpMaxResponseBytes"),
    "body nested 100,000 deep": (lambda: lambda: iter([b"[" * 100_000 + b"]" * 100_000]), {},
                                 "jsonMaxDepth"),
}


@pytest.mark.parametrize("attack", list(BODIES))
async def test_huge_answers_to_split_changes_keep_the_last_good_data(
    server: FakeSplitServer, factories: list[SplitFactory], caplog: pytest.LogCaptureFixture,
    anyio_backend_name: str, attack: str,
) -> None:
    body, headers, limit = BODIES[attack]
    server.set_flags([rollout_flag("f", (("good", 100),))])
    factory = await start(server, POLLING)
    factories.append(factory)
    chunks = body()  # built before the measures start (a bomb takes the test ~0.4 s, once)
    measure = Attack(attack, anyio_backend_name)
    async with anyio.create_task_group() as tg:
        await measure.begin(tg)
        server.serve_generated(FLAGS, chunks, headers={"Content-Type": "application/json",
                                                        **headers})
        before = len(server.requests_to(FLAGS))
        await in_thread(server.wait_for_requests, FLAGS, before + 3, 20.0)
        assert await flag_f_is(factory, "good")
        await until(lambda: "feature flags" in factory.status().last_errors)
        await measure.end()
        tg.cancel_scope.cancel()
    assert limit in factory.status().last_errors["feature flags"]
    assert lines(caplog, limit) == 1  # one line for three refused answers or more
    server.clear_faults()
    server.set_flags([rollout_flag("f", (("recovered", 100),))])
    with anyio.fail_after(5):
        while not await flag_f_is(factory, "recovered"):  # noqa: ASYNC110
            await anyio.sleep(0.01)
    await until(lambda: "feature flags" not in factory.status().last_errors)


async def test_a_trickling_answer_is_cut_by_the_request_deadline(
    server: FakeSplitServer, factories: list[SplitFactory], caplog: pytest.LogCaptureFixture,
) -> None:
    """One byte every 0.1 s beats every read timeout (0.5 s) but not ``httpRequestTimeout``."""
    server.set_flags([rollout_flag("f", (("good", 100),))])
    factory = await start(server, {**POLLING, "connectionTimeout": 500,
                                   "httpRequestTimeout": 0.4})
    factories.append(factory)
    server.serve_generated(FLAGS, trickle(0.1), headers={"Content-Type": "application/json"})
    before = len(server.requests_to(FLAGS))
    await in_thread(server.wait_for_requests, FLAGS, before + 3, 10.0)  # cut, retried
    assert await flag_f_is(factory, "good")
    await until(lambda: "feature flags" in factory.status().last_errors)
    assert "httpRequestTimeout" in factory.status().last_errors["feature flags"]
    assert lines(caplog, "httpRequestTimeout") == 1
    server.clear_faults()
    server.set_flags([rollout_flag("f", (("recovered", 100),))])
    await until(lambda: "feature flags" not in factory.status().last_errors)
    assert await flag_f_is(factory, "recovered")


async def test_a_bomb_at_start_keeps_the_sdk_not_ready_until_the_server_recovers(
    server: FakeSplitServer, factories: list[SplitFactory], caplog: pytest.LogCaptureFixture,
) -> None:
    server.set_flags([rollout_flag("f", (("good", 100),))])
    server.serve_generated(FLAGS, gzip_bomb_body(), headers={"Content-Encoding": "gzip"})
    factory = await get_factory_async("SDK-KEY-0001", config=POLLING, **server.url_kwargs())
    assert factory is not None
    factories.append(factory)
    await in_thread(server.wait_for_requests, FLAGS, 3, 10.0)
    with pytest.raises(TimeoutException):
        await factory.block_until_ready(0.05)
    assert await factory.client().get_treatment("k", "f") == "control"
    assert "httpMaxResponseBytes" in factory.status().last_errors["initial sync"]
    assert lines(caplog, "httpMaxResponseBytes", logging.ERROR) == 1
    server.clear_faults()
    with anyio.fail_after(5):
        await factory.block_until_ready(5)
    assert await flag_f_is(factory, "good")
    await until(lambda: factory.status().last_errors == {})


# ---------------------------------------------------------------------------------- streaming


def endless_line(server: FakeSplitServer) -> list[Any]:
    return [server.occupancy_event(), endless(b"a" * MiB, prefix=b"data: ")]


def endless_event(server: FakeSplitServer) -> list[Any]:
    return [server.occupancy_event(), endless(b"data: x\n" * 65536)]


STREAMS = {  # attack, the limit it meets, the keepalive window (4 MiB of 8-byte lines take
    # about a second to read on a loaded VM: a shorter window would cut the event first)
    "endless line": (endless_line, "streamingMaxLineBytes", 1.0),
    "endless event": (endless_event, "streamingMaxEventBytes", 3.0),
}


@pytest.mark.parametrize("attack", list(STREAMS))
async def test_an_endless_stream_is_cut_polled_around_and_trusted_again_when_it_recovers(
    server: FakeSplitServer, factories: list[SplitFactory], caplog: pytest.LogCaptureFixture,
    anyio_backend_name: str, attack: str,
) -> None:
    greeting, limit, keepalive = STREAMS[attack]
    server.set_flags([rollout_flag("f", (("good", 100),))])
    server.stream_keepalive = 0.2
    server.greet_streams(server.occupancy_event())
    factory = await start(server, {**STREAMING, "streamingKeepaliveTimeout": keepalive})
    factories.append(factory)
    push = internals(factory).push
    assert push is not None
    await until(lambda: push.streaming)
    measure = Attack(attack, anyio_backend_name)
    async with anyio.create_task_group() as tg:
        await measure.begin(tg)
        server.greet_streams(*greeting(server))
        server.close_streams()  # every reconnection meets the attack
        await until(lambda: push.connections >= 3, 20)  # two connections cut, or more
        await until(lambda: not push.streaming)
        server.upsert_flag(rollout_flag("f", (("polled", 100),)))  # polled around the stream
        with anyio.fail_after(5):
            while not await flag_f_is(factory, "polled"):  # noqa: ASYNC110
                await anyio.sleep(0.01)
        await measure.end()
        tg.cancel_scope.cancel()
    assert limit in factory.status().last_errors["streaming"]
    assert lines(caplog, limit) == 1  # once, for two cut connections or more
    server.clear_faults()
    server.greet_streams(server.occupancy_event())
    await until(lambda: push.streaming and "streaming" not in factory.status().last_errors, 15)
    assert factory.status().sync_mode == "streaming"


@pytest.mark.parametrize("compression", [1, 2])
async def test_an_update_whose_payload_is_a_bomb_is_fetched_instead(
    server: FakeSplitServer, factories: list[SplitFactory], caplog: pytest.LogCaptureFixture,
    anyio_backend_name: str, compression: int,
) -> None:
    server.set_flags([rollout_flag("f", (("good", 100),))])
    server.stream_keepalive = 0.2
    server.greet_streams(server.occupancy_event())
    factory = await start(server, STREAMING)
    factories.append(factory)
    push = internals(factory).push
    assert push is not None
    await until(lambda: push.streaming)
    bomb_update(server, compression, 0, 0)  # built before the measures start
    measure = Attack(f"update payload: {'gzip' if compression == 1 else 'zlib'} bomb "
                     f"(1 GiB unpacked)", anyio_backend_name)
    async with anyio.create_task_group() as tg:
        await measure.begin(tg)
        for treatment in ("first", "second", "third"):
            previous = server.flags_change_number
            cn = server.upsert_flag(rollout_flag("f", ((treatment, 100),)))
            server.push_raw(bomb_update(server, compression, previous, cn))
            with anyio.fail_after(5):  # not applied from the payload: fetched
                while not await flag_f_is(factory, treatment):  # noqa: ASYNC110
                    await anyio.sleep(0.01)
        await measure.end()
        tg.cancel_scope.cancel()
    assert push.connections == 1  # the stream itself was fine
    assert "streamingMaxPayloadBytes" in factory.status().last_errors["streamed updates"]
    assert lines(caplog, "streamingMaxPayloadBytes") == 1
    previous = server.flags_change_number
    flag = rollout_flag("f", (("instant", 100),))
    server.push_split_update(server.upsert_flag(flag), flag, pcn=previous, compression=1)
    with anyio.fail_after(5):
        while not await flag_f_is(factory, "instant"):  # noqa: ASYNC110
            await anyio.sleep(0.01)
    await until(lambda: "streamed updates" not in factory.status().last_errors)


async def test_nesting_and_floods_of_garbage_never_end_the_stream(
    server: FakeSplitServer, factories: list[SplitFactory], caplog: pytest.LogCaptureFixture,
    anyio_backend_name: str,
) -> None:
    server.set_flags([rollout_flag("f", (("good", 100),))])
    server.greet_streams(server.occupancy_event())
    factory = await start(server, STREAMING)
    factories.append(factory)
    push = internals(factory).push
    assert push is not None
    await until(lambda: push.streaming)
    measure = Attack("nesting and 5,000 malformed messages", anyio_backend_name)
    async with anyio.create_task_group() as tg:
        await measure.begin(tg)
        server.push_raw(nested_message(server))
        garbage = server.message_event(server.splits_channel, '{"type": "NONSENSE"}')
        server.push_raw(garbage * 5000)
        server.push_raw(server.message_event(server.splits_channel, "not json"))
        push_marker = server.flags_change_number
        flag = rollout_flag("f", (("after", 100),))
        server.push_split_update(server.upsert_flag(flag), flag, pcn=push_marker)
        with anyio.fail_after(10):
            while not await flag_f_is(factory, "after"):  # noqa: ASYNC110
                await anyio.sleep(0.01)
        await measure.end()
        tg.cancel_scope.cancel()
    assert push.connections == 1 and push.streaming
    assert lines(caplog, "jsonMaxDepth") == 1
    ignored = lines(caplog, "Ignoring a streaming message")
    assert ignored <= 2, ignored  # 5,002 bad messages: rate-limited to one line a minute
    assert not [r for r in caplog.records if r.exc_info]  # no traceback: data, not a bug


async def test_a_trickling_fetch_never_holds_the_flags_lock_for_good(
    server: FakeSplitServer, factories: list[SplitFactory], caplog: pytest.LogCaptureFixture,
) -> None:
    """A streamed update makes the SDK fetch, holding the flag syncer's lock (so that an older
    answer cannot undo an instant update); the fetch trickles. The request deadline cuts it
    (logged once, in status), which frees the lock: the next instant update applies."""
    server.set_flags([rollout_flag("f", (("good", 100),))])
    server.greet_streams(server.occupancy_event())
    server.stream_keepalive = 0.2
    factory = await start(server, {**STREAMING, "httpRequestTimeout": 0.3,
                                   "connectionTimeout": 500})
    factories.append(factory)
    push = internals(factory).push
    assert push is not None
    await until(lambda: push.streaming)
    held = factory.status().change_numbers["flags"]
    server.serve_generated(FLAGS, trickle(0.05), headers={"Content-Type": "application/json"})
    server.push_split_update(server.upsert_flag(rollout_flag("f", (("fetched", 100),))))
    await until(lambda: "streamed updates" in factory.status().last_errors, 10)
    assert "httpRequestTimeout" in factory.status().last_errors["streamed updates"]
    assert await flag_f_is(factory, "good")
    server.clear_faults()
    flag = rollout_flag("f", (("instant", 100),))
    server.push_split_update(server.upsert_flag(flag), flag, pcn=held)  # follows what we hold
    with anyio.fail_after(5):
        while not await flag_f_is(factory, "instant"):  # noqa: ASYNC110
            await anyio.sleep(0.01)
    fetch_lines = [r for r in caplog.records if r.name == "splitio.push.workers"
                   and "httpRequestTimeout" in r.getMessage()]
    assert len(fetch_lines) == 1  # (a full sync meeting the trickle logs its own, once)
