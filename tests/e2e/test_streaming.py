"""Streaming (SSE push with polling fallback) end to end, on asyncio and trio, through the public
API against the fake Split server on 127.0.0.1 (spec ``streaming.md``).

The fake server sends nothing when a stream opens, so a test pushes an occupancy message to bring
streaming "UP" (the real service sends one at once). Waits are bounded (``anyio.fail_after``) and
wait on conditions: server-side waits run in a worker thread, SDK-side conditions are polled with
a tiny sleep. The only fixed windows are the "nothing happens" checks (no polling for a few
polling periods, no reconnect after streaming was disabled).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from splitio_async import SdkEvent, SplitFactory, get_factory_async
from splitio_async.lowlevel import internals
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import in_rbs_flag, rollout_flag, staff_rbs, treatment_becomes, until
from tests.helpers import segment_flag as in_segment_flag

pytestmark = pytest.mark.anyio

PERIOD = 0.03  # polling period of flags and segments while streaming is down
STREAM: dict[str, Any] = {
    "streamingEnabled": True,
    "featuresRefreshRate": PERIOD,
    "segmentsRefreshRate": PERIOD,
    "streamingReconnectBackoffBase": 0.05,
    "syncRetryBackoffBase": 0.02,
    "syncRetryBackoffMax": 0.1,
    "connectionTimeout": 1500,
    "machineIp": "127.0.0.1",
    "machineName": "test",
}
FLAGS = "/api/splitChanges"
SEGMENTS = "/api/segmentChanges/"
AUTH = "/api/v2/auth"






# ---------------------------------------------------------------------------------- helpers


async def in_thread(call: Callable[..., Any], *args: Any) -> Any:
    """A blocking server-side wait, off the event loop."""
    return await anyio.to_thread.run_sync(functools.partial(call, *args))


def count(server: FakeSplitServer, prefix: str = FLAGS) -> int:
    return len(server.requests_to(prefix))


async def settled(server: FakeSplitServer, prefix: str = FLAGS, quiet: float = 0.06) -> int:
    """Wait until no request to ``prefix`` arrived for ``quiet`` seconds; returns the count."""
    with anyio.fail_after(3):
        while True:
            before = count(server, prefix)
            await anyio.sleep(quiet)
            if count(server, prefix) == before:
                return before


async def polling(server: FakeSplitServer, periods: int = 3) -> None:
    """The SDK polls: ``periods`` more splitChanges requests arrive (bounded)."""
    await in_thread(server.wait_for_requests, FLAGS, count(server) + periods, 3.0)


async def not_polling(server: FakeSplitServer, periods: int = 4) -> None:
    """No splitChanges request over ``periods`` polling periods."""
    before = count(server)
    await anyio.sleep(periods * PERIOD)
    assert count(server) == before, "still polling while streaming"


async def start(server: FakeSplitServer, **config: Any) -> SplitFactory:
    factory = await get_factory_async(
        "SDK-KEY-0001", config={**STREAM, **config}, **server.url_kwargs()
    )
    assert factory is not None
    with anyio.fail_after(5):
        await factory.block_until_ready(5)
    return factory


async def streaming_up(factory: SplitFactory, server: FakeSplitServer, connections: int = 1
                       ) -> None:
    """Wait for the ``connections``-th stream, push an occupancy (the first event: UP) and wait
    for the full sync that UP runs. After a reconnect the SDK was polling: a poll request may
    have been in flight, so then wait until the requests stop."""
    push = internals(factory).push
    assert push is not None
    await until(lambda: push.connections >= connections)
    await in_thread(server.wait_for_streams, 1, 3.0)
    flags = count(server)
    assert server.push_occupancy("control_pri", 2) >= 1
    await until(lambda: internals(factory).push is not None and internals(factory).push.streaming)
    await in_thread(server.wait_for_requests, FLAGS, flags + 1, 3.0)  # the UP sync_all
    if connections > 1:
        await settled(server)


async def streaming_factory(
    server: FakeSplitServer, factories: list[SplitFactory], **config: Any
) -> SplitFactory:
    factory = await start(server, **config)
    factories.append(factory)
    await streaming_up(factory, server)
    return factory



def push_new_version(server: FakeSplitServer, treatment: str, compression: int = 0,
                     payload: bool = True, pcn: int | None = None) -> int:
    """Upsert flag ``f`` (everybody gets ``treatment``) and push its SPLIT_UPDATE; the pcn is
    the server's previous flags change number unless given."""
    previous = server.flags_change_number
    flag = rollout_flag("f", ((treatment, 100),))
    cn = server.upsert_flag(flag)
    server.push_split_update(cn, flag if payload else None,
                             pcn=previous if pcn is None else pcn, compression=compression)
    return cn


# ---------------------------------------------------------------------------------- connection


async def test_the_stream_request_and_its_keepalive_window(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    """The SSE request carries the token and the token's channels (occupancy ones prefixed),
    the key's last 4 characters and no Authorization; keepalive comments keep a connection
    alive, silence longer than the keepalive timeout ends it (and the SDK reconnects)."""
    server.set_flags([rollout_flag("f", (("v", 100),))])
    factory = await streaming_factory(server, factories, streamingKeepaliveTimeout=0.25)
    [request] = server.requests_to("/event-stream")
    assert request.query["v"] == "1.1"
    assert request.query["accessToken"] == server.issued_tokens[0]
    occupancy = "[?occupancy=metrics.publishers]"
    assert request.query["channels"].split(",") == [
        server.segments_channel, server.splits_channel,
        occupancy + "control_pri", occupancy + "control_sec",
    ]
    assert request.headers["SplitSDKClientKey"] == "0001"
    assert request.headers["Accept"] == "text/event-stream"
    assert "Authorization" not in request.headers
    assert server.requests_to(AUTH)[0].headers["Authorization"] == "Bearer SDK-KEY-0001"

    for _ in range(8):  # 0.4 s of keepalives, each well within the 0.25 s window
        server.push_raw(":keepalive\n")
        await anyio.sleep(0.05)
    push = internals(factory).push
    assert push is not None and push.connections == 1
    await until(lambda: push.connections == 2)


# ---------------------------------------------------------------------------------- 1. instant


async def test_instant_updates_need_no_fetch(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    """A pushed flag whose pcn matches our change number is applied from the payload (plain,
    gzip and zlib) at once, with no splitChanges request; an SDK_UPDATE is emitted."""
    server.set_flags([rollout_flag("f", (("v", 100),))])
    factory = await streaming_factory(server, factories)
    updates: list[Any] = []

    async def on_update(metadata: Any) -> None:
        updates.append(metadata)

    await factory.client().on(SdkEvent.SDK_UPDATE, on_update)
    fetches = count(server)
    for compression in (0, 1, 2):
        push_new_version(server, f"v{compression}", compression)
        took = await treatment_becomes(factory, "k", "f", f"v{compression}")
        assert took < 1.0
    await until(lambda: len(updates) >= 3)
    assert count(server) == fetches, "an instant update fetched splitChanges"
    assert internals(factory).push is not None and internals(factory).push.streaming


# ---------------------------------------------------------------------------------- 2. fetch


async def test_updates_without_payload_or_out_of_order_fetch_up_to_the_change_number(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f", (("v", 100),))])
    factory = await streaming_factory(server, factories)

    fetches = count(server)
    cn = push_new_version(server, "no-payload", payload=False)
    await treatment_becomes(factory, "k", "f", "no-payload")
    fetched = server.requests_to(FLAGS)[fetches:]
    assert fetched and fetched[0].query["since"] == str(cn - 1)

    fetches = count(server)
    push_new_version(server, "gap", pcn=cn - 10)  # we missed a change: the payload is not enough
    await treatment_becomes(factory, "k", "f", "gap")
    await in_thread(server.wait_for_requests, FLAGS, fetches + 1, 2.0)


async def test_a_lagging_cdn_is_bypassed_with_till(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f", (("v", 100),))])
    factory = await streaming_factory(  # short retry backoff: 10 tries through the CDN first
        server, factories, syncRetryBackoffBase=0.01, syncRetryBackoffMax=0.02
    )
    fetches = count(server)
    server.cdn_lag(1000)  # every request without till sees the data before the change
    before = server.flags_change_number
    push_new_version(server, "fresh", payload=False)
    await treatment_becomes(factory, "k", "f", "fresh", within=5)
    fetched = server.requests_to(FLAGS)[fetches:]
    bypassing = [r for r in fetched if "till" in r.query]
    assert bypassing, "no CDN bypass"
    assert bypassing[0].query["till"] == str(before)
    assert all("till" not in r.query for r in fetched[: fetched.index(bypassing[0])])
    assert len(fetched) - len(bypassing) >= 2  # it retried through the CDN first


# ---------------------------------------------------------------------------------- 3. kill


async def test_a_kill_is_applied_before_the_follow_up_fetch(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f", (("on", 100),)), rollout_flag("g", (("on", 100),))])
    factory = await streaming_factory(server, factories)
    fetches = count(server)
    server.delay(FLAGS, 2, times=1)
    cn = server.kill_flag("f", "killed")
    server.push_split_kill("f", "killed", cn)
    took = await treatment_becomes(factory, "k", "f", "killed", within=1.5)
    assert took < 1.0
    assert await factory.client().get_treatment("k", "g") == "on"
    await in_thread(server.wait_for_requests, FLAGS, fetches + 1, 2.0)  # the fetch is under way


# ---------------------------------------------------------------------------------- 4. segments


async def test_segment_and_rule_based_segment_updates_reach_evaluations(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([in_segment_flag("seg_flag", "beta"), in_rbs_flag("rbs_flag", "staff")],
                     [staff_rbs("alice")])
    server.set_segment("beta", ["alice"])
    factory = await streaming_factory(server, factories)
    client = factory.client()
    assert await client.get_treatment("bob", "seg_flag") == "off"
    assert await client.get_treatment("bob", "rbs_flag") == "off"
    assert await client.get_treatment("alice", "rbs_flag") == "member"

    flag_fetches = count(server)
    cn = server.update_segment("beta", added=["bob"])
    server.push_segment_update("beta", cn)
    await treatment_becomes(factory, "bob", "seg_flag", "in")
    assert server.requests_to(SEGMENTS + "beta")[-1].query.get("since") is not None

    # an instant RB_SEGMENT_UPDATE: no fetch at all
    previous = server.rbs_change_number
    rbs = staff_rbs("alice", "bob")
    cn = server.upsert_rule_based_segment(rbs)
    server.push_rbs_update(cn, rbs, pcn=previous, compression=2)
    await treatment_becomes(factory, "bob", "rbs_flag", "member")
    assert count(server) == flag_fetches

    # without payload: fetched up to the change number
    rbs = staff_rbs("alice", "bob", "carol")
    cn = server.upsert_rule_based_segment(rbs)
    server.push_rbs_update(cn)
    await treatment_becomes(factory, "carol", "rbs_flag", "member")
    assert count(server) > flag_fetches


async def test_an_instant_update_fetches_the_segments_it_newly_needs(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f", (("on", 100),))])
    server.set_segment("vip", ["dora"])
    factory = await streaming_factory(server, factories)
    previous = server.flags_change_number
    flag = in_segment_flag("f", "vip", "vip_on")
    cn = server.upsert_flag(flag)
    server.push_split_update(cn, flag, pcn=previous, compression=1)
    await treatment_becomes(factory, "dora", "f", "vip_on")
    assert server.requests_to(SEGMENTS + "vip")


# ---------------------------------------------------------------------------------- 5. drops


async def test_a_dropped_stream_polls_then_streams_again(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f", (("v", 100),))])
    factory = await streaming_factory(server, factories)
    assert internals(factory).push is not None
    await not_polling(server)

    server.close_streams()
    await polling(server)
    assert not internals(factory).push.streaming
    server.upsert_flag(rollout_flag("f", (("while-polling", 100),)))  # not pushed: polled
    await treatment_becomes(factory, "k", "f", "while-polling")

    await streaming_up(factory, server, connections=2)
    assert server.stream_connections() == 1
    await not_polling(server)
    push_new_version(server, "streamed")
    await treatment_becomes(factory, "k", "f", "streamed")
    assert len(server.requests_to(AUTH)) == 2


# ---------------------------------------------------------------------------------- 6. status


async def test_occupancy_and_control_switch_between_streaming_and_polling(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f", (("v", 100),))])
    factory = await streaming_factory(server, factories)
    push = internals(factory).push
    assert push is not None

    server.push_control("STREAMING_RESET")  # unknown here: ignored
    server.push_occupancy("control_pri", 0)  # control_sec still has publishers: no change
    await not_polling(server, periods=3)
    assert push.streaming
    server.push_occupancy("control_sec", 0)
    await polling(server)
    assert not push.streaming
    server.push_occupancy("control_sec", 1)
    await until(lambda: push.streaming)
    await settled(server)
    await not_polling(server)

    server.push_control("STREAMING_PAUSED")
    await polling(server)
    assert not push.streaming
    server.push_control("STREAMING_RESUMED")
    await until(lambda: push.streaming)
    await settled(server)
    await not_polling(server)

    server.push_control("STREAMING_PAUSED")
    await polling(server)
    server.push_control("STREAMING_ENABLED")
    await until(lambda: push.streaming)
    await settled(server)
    await not_polling(server)
    push_new_version(server, "still-streaming")
    await treatment_becomes(factory, "k", "f", "still-streaming")
    assert push.connections == 1  # all of it on the same connection


@pytest.mark.parametrize("how", ["STREAMING_DISABLED", "ably-40300"])
async def test_streaming_disabled_polls_for_good(
    server: FakeSplitServer, factories: list[SplitFactory], how: str
) -> None:
    server.set_flags([rollout_flag("f", (("v", 100),))])
    factory = await streaming_factory(server, factories)
    if how == "STREAMING_DISABLED":
        server.push_control("STREAMING_DISABLED")
    else:
        server.push_ably_error(40300, 403, "forbidden")
    await in_thread(server.wait_for_streams, 0, 2.0)
    server.upsert_flag(rollout_flag("f", (("polled", 100),)))  # not pushed: polled
    await treatment_becomes(factory, "k", "f", "polled")
    assert internals(factory).push is not None and not internals(factory).push.streaming
    polls = count(server)
    await anyio.sleep(0.2)  # longer than two reconnect backoffs (0.05 s, 0.1 s)
    assert server.stream_connections() == 0
    assert internals(factory).push.connections == 1
    assert len(server.requests_to(AUTH)) == 1
    assert count(server) >= polls + 4  # and polling goes on


async def test_a_retryable_ably_error_reconnects(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f", (("v", 100),))])
    factory = await streaming_factory(server, factories)
    server.push_ably_error(40142, 401, "token expired")
    await in_thread(server.wait_for_requests, AUTH, 2, 2.0)
    await streaming_up(factory, server, connections=2)
    await not_polling(server)
    push_new_version(server, "after-reconnect", compression=1)
    await treatment_becomes(factory, "k", "f", "after-reconnect")


# ---------------------------------------------------------------------------------- 7. off


async def test_streaming_enabled_false_never_authenticates(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f", (("v", 100),))])
    factory = await start(server, streamingEnabled=False)
    factories.append(factory)
    await polling(server)
    server.upsert_flag(rollout_flag("f", (("polled", 100),)))
    await treatment_becomes(factory, "k", "f", "polled")
    assert server.requests_to(AUTH) == []
    assert server.requests_to("/event-stream") == []
    assert internals(factory).push is None


async def test_push_disabled_by_auth_polls_without_a_stream(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_push_enabled(False)
    server.set_flags([rollout_flag("f", (("v", 100),))])
    factory = await start(server)
    factories.append(factory)
    await in_thread(server.wait_for_requests, AUTH, 1, 2.0)
    server.upsert_flag(rollout_flag("f", (("polled", 100),)))
    await treatment_becomes(factory, "k", "f", "polled")  # polled
    polls = count(server)
    await anyio.sleep(0.2)  # longer than two reconnect backoffs (0.05 s, 0.1 s)
    assert count(server) >= polls + 4
    assert server.requests_to("/event-stream") == []
    assert len(server.requests_to(AUTH)) == 1
    assert internals(factory).push is not None and not internals(factory).push.streaming


# ---------------------------------------------------------------------------------- 8. garbage


async def test_garbage_on_the_stream_never_takes_the_sdk_down(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f", (("v", 100),))])
    factory = await streaming_factory(server, factories)
    channel = server.splits_channel
    junk = [
        "just some garbage\n\n",
        "\x00\x01\x02 \xff binary-ish\n\n",
        ": a comment\n",
        "retry: soon\nid: 7\n\n",
        "event: surprise\ndata: {\"channel\": \"x\", \"data\": \"{}\"}\n\n",
        "event: message\ndata: {not json\n\n",
        "data: [1, 2, 3]\n\n",
        "event: message\ndata: {\"channel\": 5}\n\n",
    ]
    for text in junk:
        server.push_raw(text)
    server.push_message(channel, {"type": "NOT_A_THING", "changeNumber": 1})
    server.push_message(channel, "{\"type\": ")  # inner data not JSON
    server.push_message(channel, {"type": "SPLIT_UPDATE"})  # no change number
    server.push_message(channel, {"type": "SPLIT_KILL", "changeNumber": 5})  # no name
    server.push_message(channel, {"type": "SEGMENT_UPDATE", "changeNumber": 5})
    server.push_message(channel, {"type": "CONTROL", "controlType": "STREAMING_SIDEWAYS"})
    server.push_message("[?occupancy=metrics.publishers]control_ter",
                        {"metrics": {"publishers": 0}}, name="[meta]occupancy")
    # an update whose payload cannot be decoded falls back to a fetch
    previous = server.flags_change_number
    flag = rollout_flag("f", (("undecodable", 100),))
    cn = server.upsert_flag(flag)
    server.push_message(channel, {"type": "SPLIT_UPDATE", "changeNumber": cn, "pcn": previous,
                                  "c": 2, "d": "bm90IHpsaWI="})
    await treatment_becomes(factory, "k", "f", "undecodable")
    # and the stream still delivers instant updates afterwards
    fetches = count(server)
    push_new_version(server, "after-garbage", compression=1)
    await treatment_becomes(factory, "k", "f", "after-garbage")
    assert count(server) == fetches
    assert internals(factory).push is not None and internals(factory).push.streaming
    assert internals(factory).push.connections == 1
    assert await factory.client().get_treatment("other", "f") == "after-garbage"


# ---------------------------------------------------------------------------------- 9. token


async def test_a_short_lived_token_is_refreshed(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_token_ttl(601)  # refresh 600 s before expiry: after about one second
    server.set_flags([rollout_flag("f", (("v", 100),))])
    factory = await streaming_factory(server, factories)
    assert internals(factory).push is not None
    server.set_token_ttl(3600)
    started = time.monotonic()
    await in_thread(server.wait_for_requests, AUTH, 2, 3.0)
    assert 0.5 < time.monotonic() - started < 2.5
    push = internals(factory).push
    assert push is not None
    await until(lambda: push.connections == 2)
    await in_thread(server.wait_for_streams, 1, 2.0)
    tokens = server.issued_tokens
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    assert server.requests_to("/event-stream")[-1].query["accessToken"] == tokens[1]
    await streaming_up(factory, server, connections=2)
    push_new_version(server, "new-token", compression=2)
    await treatment_becomes(factory, "k", "f", "new-token")


# ---------------------------------------------------------------------------------- 10. destroy


@pytest.mark.parametrize("slow", [AUTH, "/event-stream", None])
async def test_destroy_while_connecting_is_prompt(server: FakeSplitServer, slow: str | None
                                                  ) -> None:
    server.set_flags([rollout_flag("f", (("v", 100),))])
    if slow is not None:
        server.delay(slow, 3)
    factory = await start(server)
    if slow is None:  # streaming up: destroy closes the open stream
        await streaming_up(factory, server)
    started = time.monotonic()
    with anyio.fail_after(2):
        await factory.destroy()
    assert time.monotonic() - started < 2
    assert await in_thread(server.wait_for_streams, 0, 2.0) == 0


# ---------------------------------------------------------------------------------- 11. outages


async def test_streaming_always_resumes_after_outages(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    server.set_flags([rollout_flag("f", (("v", 0),))])
    factory = await streaming_factory(server, factories)
    push = internals(factory).push
    assert push is not None
    for round_ in range(1, 4):
        connections = push.connections
        if round_ == 2:
            server.refuse_streams(401, times=2)  # the reconnects fail twice more
        if round_ == 3:
            server.fail(AUTH, 500, times=2)  # and here the auth calls
        server.close_streams()
        await polling(server)
        assert not push.streaming
        await streaming_up(factory, server, connections=connections + 1)
        await not_polling(server)
        push_new_version(server, f"round{round_}")
        await treatment_becomes(factory, "k", "f", f"round{round_}")
    # one stream per round, plus the two refused ones; one auth per stream, plus the two failed
    assert len(server.requests_to("/event-stream")) == 1 + 3 + 2
    assert len(server.requests_to(AUTH)) == 1 + 3 + 2 + 2


# ---------------------------------------------------------------------------------- races


async def test_an_instant_update_is_not_undone_by_an_older_fetch_in_flight(
    server: FakeSplitServer, factories: list[SplitFactory]
) -> None:
    """A full sync is in flight (streaming paused) and answers from a lagging CDN with the data
    as it was before two instant updates arrived: that older answer must not replace them."""
    server.set_flags([rollout_flag("f", (("v1", 100),))])
    factory = await streaming_factory(server, factories, featuresRefreshRate=30)
    fetches = count(server)
    server.delay(FLAGS, 0.2, times=1)
    server.cdn_lag(2)
    server.push_control("STREAMING_PAUSED")  # -> a full sync, slow and served by a stale CDN
    await in_thread(server.wait_for_requests, FLAGS, fetches + 1, 2.0)
    push_new_version(server, "v2")
    push_new_version(server, "v3")
    await in_thread(server.wait_for_requests, FLAGS, fetches + 2, 2.0)  # the sync's next page
    await settled(server)
    assert await factory.client().get_treatment("k", "f") == "v3"
