"""Tests of the fake Split server itself, with a plain synchronous httpx client.

The SDK tests trust this fake to behave like the real service, so its since/till, CDN and fault
semantics are pinned down here.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.split_server import (
    CHANNEL_PREFIX,
    FIRST_CHANGE_NUMBER,
    FakeSplitServer,
    Headers,
)
from tests.helpers import rollout_flag

TIMEOUT = httpx.Timeout(5.0)


def http_client(base_url: str = "") -> httpx.Client:
    """Plain-HTTP client; ``verify=False`` skips loading the CA bundle (~0.1 s per client)."""
    return httpx.Client(base_url=base_url, timeout=TIMEOUT, verify=False)


@pytest.fixture
def server() -> Iterator[FakeSplitServer]:
    with FakeSplitServer() as srv:
        yield srv


@pytest.fixture
def client(server: FakeSplitServer) -> Iterator[httpx.Client]:
    with http_client(server.base_url) as c:
        yield c


def changes(client: httpx.Client, since: int, rb_since: int = -1, **extra: Any) -> Any:
    params: dict[str, Any] = {"s": "1.3", "since": since, "rbSince": rb_since, **extra}
    resp = client.get("/api/splitChanges", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def names(objs: list[dict[str, Any]]) -> list[str]:
    return [o["name"] for o in objs]


def rbs(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "status": "ACTIVE",
        "trafficTypeName": "user",
        "excluded": {"keys": [], "segments": []},
        "conditions": [],
    }


# -- urls and lifecycle -----------------------------------------------------------------------


def test_urls(server: FakeSplitServer) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}"
    for url in (server.sdk_url, server.events_url, server.auth_url, server.telemetry_url):
        assert url == server.base_url + "/api"
    assert server.streaming_url == server.base_url


def test_stop_frees_the_port() -> None:
    srv = FakeSplitServer().start()
    port = srv.port
    with http_client() as c:
        assert c.get(f"{srv.base_url}/nothing").status_code == 404  # leaves a keep-alive conn
        srv.stop()
        srv.stop()  # idempotent
        with pytest.raises(httpx.TransportError):
            c.get(f"http://127.0.0.1:{port}/nothing")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()


def test_keep_alive_reuses_the_connection(server: FakeSplitServer, client: httpx.Client) -> None:
    ports = set()
    for _ in range(3):
        resp = client.get("/api/splitChanges", params={"s": "1.3", "since": -1, "rbSince": -1})
        ports.add(resp.extensions["network_stream"].get_extra_info("client_addr")[1])
        assert resp.headers["content-length"]
    assert len(ports) == 1


# -- splitChanges -----------------------------------------------------------------------------


def test_empty_server_answers_minus_one(client: httpx.Client) -> None:
    body = changes(client, -1)
    assert body == {"ff": {"d": [], "s": -1, "t": -1}, "rbs": {"d": [], "s": -1, "t": -1}}


def test_first_fetch_delta_and_up_to_date(server: FakeSplitServer, client: httpx.Client) -> None:
    f1, f2 = rollout_flag("f1"), rollout_flag("f2")
    cn1 = server.set_flags([f1, f2], [rbs("r1")])
    assert cn1 == FIRST_CHANGE_NUMBER
    assert f1["changeNumber"] == cn1

    first = changes(client, -1)
    assert names(first["ff"]["d"]) == ["f1", "f2"]
    assert (first["ff"]["s"], first["ff"]["t"]) == (-1, cn1)
    assert names(first["rbs"]["d"]) == ["r1"]
    assert (first["rbs"]["s"], first["rbs"]["t"]) == (-1, cn1)

    up_to_date = changes(client, cn1, cn1)
    assert up_to_date["ff"] == {"d": [], "s": cn1, "t": cn1}
    assert up_to_date["rbs"] == {"d": [], "s": cn1, "t": cn1}

    f3 = rollout_flag("f3")
    cn2 = server.upsert_flag(f3)
    assert cn2 == cn1 + 1 and f3["changeNumber"] == cn2
    delta = changes(client, cn1, cn1)
    assert names(delta["ff"]["d"]) == ["f3"]
    assert (delta["ff"]["s"], delta["ff"]["t"]) == (cn1, cn2)
    assert delta["rbs"] == {"d": [], "s": cn1, "t": cn1}
    assert changes(client, cn2, cn1)["ff"] == {"d": [], "s": cn2, "t": cn2}

    cn3 = server.upsert_rule_based_segment(rbs("r2"))
    delta = changes(client, cn2, cn1)
    assert delta["ff"] == {"d": [], "s": cn2, "t": cn2}
    assert names(delta["rbs"]["d"]) == ["r2"]
    assert delta["rbs"]["t"] == cn3
    assert server.flags_change_number == cn2 and server.rbs_change_number == cn3


def test_ahead_of_server_is_up_to_date(server: FakeSplitServer, client: httpx.Client) -> None:
    server.set_flags([rollout_flag("f1")])
    assert changes(client, 5000, 5000)["ff"] == {"d": [], "s": 5000, "t": 5000}


def test_archived_flag_is_a_delta_only(server: FakeSplitServer, client: httpx.Client) -> None:
    cn1 = server.set_flags([rollout_flag("f1"), rollout_flag("f2")])
    cn2 = server.archive_flag("f1")
    delta = changes(client, cn1)
    assert [(f["name"], f["status"], f["changeNumber"]) for f in delta["ff"]["d"]] == [
        ("f1", "ARCHIVED", cn2)
    ]
    assert names(changes(client, -1)["ff"]["d"]) == ["f2"]
    with pytest.raises(KeyError):
        server.archive_flag("nope")


def test_set_flags_tombstones_removed_objects(
    server: FakeSplitServer, client: httpx.Client
) -> None:
    cn1 = server.set_flags([rollout_flag("f1"), rollout_flag("f2")], [rbs("r1")])
    cn2 = server.set_flags([rollout_flag("f2")])
    delta = changes(client, cn1, cn1)
    assert {f["name"]: f["status"] for f in delta["ff"]["d"]} == {
        "f1": "ARCHIVED",
        "f2": "ACTIVE",
    }
    assert [(r["name"], r["status"]) for r in delta["rbs"]["d"]] == [("r1", "ARCHIVED")]
    assert delta["ff"]["t"] == delta["rbs"]["t"] == cn2
    assert names(changes(client, -1)["ff"]["d"]) == ["f2"]
    assert changes(client, -1)["rbs"]["d"] == []


def test_kill_flag(server: FakeSplitServer, client: httpx.Client) -> None:
    cn1 = server.set_flags([rollout_flag("f1")])
    cn2 = server.kill_flag("f1", "off")
    [flag] = changes(client, cn1)["ff"]["d"]
    assert (flag["killed"], flag["defaultTreatment"], flag["changeNumber"]) == (True, "off", cn2)


def test_sets_filter(server: FakeSplitServer, client: httpx.Client) -> None:
    cn = server.set_flags(
        [
            rollout_flag("a", sets=["backend"]),
            rollout_flag("b", sets=["frontend", "x"]),
            rollout_flag("c"),
        ]
    )
    body = changes(client, -1, sets="backend,x")
    assert names(body["ff"]["d"]) == ["a", "b"]
    assert body["ff"]["t"] == cn
    assert changes(client, -1, sets="none")["ff"] == {"d": [], "s": -1, "t": cn}


def test_spec_versions(server: FakeSplitServer, client: httpx.Client) -> None:
    cn = server.set_flags([rollout_flag("f1")], [rbs("r1")])
    assert client.get("/api/splitChanges", params={"since": -1}).status_code == 400
    assert client.get("/api/splitChanges", params={"s": "1.2", "since": -1}).status_code == 400
    old = client.get("/api/splitChanges", params={"s": "1.1", "since": -1}).json()
    assert names(old["splits"]) == ["f1"]
    assert (old["since"], old["till"]) == (-1, cn)

    server.set_supported_specs("1.1")  # an old Split Proxy
    assert client.get("/api/splitChanges?s=1.3&since=-1&rbSince=-1").status_code == 400
    assert client.get("/api/splitChanges?s=1.1&since=-1").status_code == 200


def test_proxy_mode_refuses_spec_1_3_until_upgraded(
    server: FakeSplitServer, client: httpx.Client
) -> None:
    """An old Split Proxy: 400 to 1.3, flags only in the old shape; once upgraded, both."""
    cn = server.set_flags([rollout_flag("f1")], [rbs("r1")])
    server.proxy_mode()
    refused = client.get("/api/splitChanges?s=1.3&since=-1&rbSince=-1")
    assert refused.status_code == 400
    old = client.get("/api/splitChanges?s=1.1&since=-1").json()
    assert set(old) == {"splits", "since", "till"}
    assert names(old["splits"]) == ["f1"] and (old["since"], old["till"]) == (-1, cn)
    server.proxy_mode(upgraded=True)
    new = client.get("/api/splitChanges?s=1.3&since=-1&rbSince=-1").json()
    assert names(new["rbs"]["d"]) == ["r1"] and new["rbs"]["t"] == cn
    assert client.get("/api/splitChanges?s=1.1&since=-1").status_code == 200


def test_query_string_is_recorded_raw(server: FakeSplitServer, client: httpx.Client) -> None:
    client.get(
        "/api/splitChanges?s=1.3&since=123&rbSince=1&sets=set3&till=123",
        headers={"Cache-Control": "no-cache", "SplitSDKVersion": "python-10.7.0"},
    )
    [req] = server.requests_to("/api/splitChanges")
    assert req.url == "/api/splitChanges?s=1.3&since=123&rbSince=1&sets=set3&till=123"
    assert req.query == {"s": "1.3", "since": "123", "rbSince": "1", "sets": "set3", "till": "123"}
    assert req.headers["cache-control"] == "no-cache"
    assert req.headers["SPLITSDKVERSION"] == "python-10.7.0"
    assert req.method == "GET" and req.body == b"" and req.json is None


def test_cdn_lag_and_bypass(server: FakeSplitServer, client: httpx.Client) -> None:
    cn1 = server.set_flags([rollout_flag("f1")])
    cn2 = server.upsert_flag(rollout_flag("f2"))
    server.cdn_lag(2)

    stale = changes(client, cn1)
    assert stale["ff"] == {"d": [], "s": cn1, "t": cn1}  # looks up to date: the SDK stops
    fresh = changes(client, cn1, till=cn1)  # CDN bypass: does not consume the lag
    assert names(fresh["ff"]["d"]) == ["f2"] and fresh["ff"]["t"] == cn2
    stale_first = changes(client, -1)
    assert names(stale_first["ff"]["d"]) == ["f1"] and stale_first["ff"]["t"] == cn1
    assert names(changes(client, cn1)["ff"]["d"]) == ["f2"]  # lag used up


# -- segmentChanges ---------------------------------------------------------------------------


def segment(client: httpx.Client, name: str, since: int, **extra: Any) -> Any:
    resp = client.get(f"/api/segmentChanges/{name}", params={"since": since, **extra})
    assert resp.status_code == 200
    return resp.json()


def test_segment_deltas(server: FakeSplitServer, client: httpx.Client) -> None:
    cn1 = server.set_segment("seg", ["a", "b"])
    assert segment(client, "seg", -1) == {
        "name": "seg",
        "added": ["a", "b"],
        "removed": [],
        "since": -1,
        "till": cn1,
    }
    assert segment(client, "seg", cn1) == {
        "name": "seg",
        "added": [],
        "removed": [],
        "since": cn1,
        "till": cn1,
    }
    cn2 = server.update_segment("seg", added=["c"], removed=["a"])
    cn3 = server.update_segment("seg", added=["d"])
    delta = segment(client, "seg", cn1)
    assert (delta["added"], delta["removed"], delta["till"]) == (["c", "d"], ["a"], cn3)
    delta = segment(client, "seg", cn2)
    assert (delta["added"], delta["removed"], delta["till"]) == (["d"], [], cn3)
    cn4 = server.set_segment("seg", ["z"])
    delta = segment(client, "seg", cn3)
    assert (delta["added"], delta["removed"], delta["till"]) == (["z"], ["b", "c", "d"], cn4)
    assert server.segment_members("seg") == {"z"}


def test_unknown_segment_is_empty(client: httpx.Client) -> None:
    assert segment(client, "nope", -1) == {
        "name": "nope",
        "added": [],
        "removed": [],
        "since": -1,
        "till": -1,
    }
    assert segment(client, "nope", 7)["till"] == 7


def test_segment_cdn_lag(server: FakeSplitServer, client: httpx.Client) -> None:
    cn1 = server.set_segment("seg", ["a"])
    cn2 = server.update_segment("seg", added=["b"])
    server.segment_cdn_lag(1)
    assert segment(client, "seg", cn1)["till"] == cn1
    assert segment(client, "seg", cn1)["till"] == cn2
    server.segment_cdn_lag(1)
    assert segment(client, "seg", cn1, till=cn1)["added"] == ["b"]


# -- faults -----------------------------------------------------------------------------------


def test_fail_times_and_recorded_first(server: FakeSplitServer, client: httpx.Client) -> None:
    server.fail("/api/splitChanges", 500, times=2)
    url = "/api/splitChanges?s=1.3&since=-1&rbSince=-1"
    statuses = [client.get(url).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert len(server.requests_to("/api/splitChanges")) == 3
    assert client.get("/api/segmentChanges/x?since=-1").status_code == 200


def test_fail_until_cleared(server: FakeSplitServer, client: httpx.Client) -> None:
    server.fail("/api/segmentChanges", 503)
    for _ in range(3):
        resp = client.get("/api/segmentChanges/s?since=-1")
        assert (resp.status_code, resp.json()) == (503, {})
    server.clear_faults()
    assert client.get("/api/segmentChanges/s?since=-1").status_code == 200


def test_fail_with_body(server: FakeSplitServer, client: httpx.Client) -> None:
    server.fail_with_body("/api/splitChanges", b'{"ff": {"d": [', times=1)
    resp = client.get("/api/splitChanges?s=1.3&since=-1&rbSince=-1")
    assert (resp.status_code, resp.content) == (200, b'{"ff": {"d": [')
    with pytest.raises(ValueError):
        resp.json()
    assert client.get("/api/splitChanges?s=1.3&since=-1&rbSince=-1").json()["ff"]["t"] == -1


def test_delay(server: FakeSplitServer, client: httpx.Client) -> None:
    server.delay("/api/v2/auth", 0.3, times=1)
    start = time.monotonic()
    assert client.get("/api/v2/auth?s=1.3").status_code == 200
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    client.get("/api/v2/auth?s=1.3")
    assert time.monotonic() - start < 0.3


def test_delay_combines_with_failure_and_client_timeout(
    server: FakeSplitServer, client: httpx.Client
) -> None:
    server.delay("/api/events", 0.5, times=1)
    server.fail("/api/events", 500, times=1)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/api/events/bulk", json=[], timeout=0.1)
    assert client.post("/api/events/bulk", json=[]).status_code == 200  # both consumed
    assert len(server.requests_to("/api/events/bulk")) == 2


def test_drop_connection(server: FakeSplitServer, client: httpx.Client) -> None:
    server.drop_connection("/api/splitChanges", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/api/splitChanges?s=1.3&since=-1&rbSince=-1")
    assert client.get("/api/splitChanges?s=1.3&since=-1&rbSince=-1").status_code == 200


def test_truncate_response(server: FakeSplitServer, client: httpx.Client) -> None:
    server.set_flags([rollout_flag("f1")])
    server.truncate_response("/api/splitChanges", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/api/splitChanges?s=1.3&since=-1&rbSince=-1")


def test_fault_prefix_must_be_a_path(server: FakeSplitServer) -> None:
    with pytest.raises(ValueError):
        server.fail("api/splitChanges", 500)


# -- gzip, POSTs, 404, observation ------------------------------------------------------------


def test_gzip_toggle(server: FakeSplitServer, client: httpx.Client) -> None:
    server.set_flags([rollout_flag("f1")])
    url = "/api/splitChanges?s=1.3&since=-1&rbSince=-1"
    resp = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert resp.headers["content-encoding"] == "gzip"
    assert int(resp.headers["content-length"]) < len(resp.content)
    assert names(resp.json()["ff"]["d"]) == ["f1"]
    assert (
        "content-encoding" not in client.get(url, headers={"Accept-Encoding": "identity"}).headers
    )
    server.gzip_responses = False
    assert "content-encoding" not in client.get(url, headers={"Accept-Encoding": "gzip"}).headers


@pytest.mark.parametrize(
    "path",
    [
        "/api/testImpressions/bulk",
        "/api/testImpressions/count",
        "/api/events/bulk",
        "/api/v1/keys/ss",
        "/api/v1/metrics/config",
        "/api/v1/metrics/usage",
        "/anything/else",
    ],
)
def test_posts_are_recorded(server: FakeSplitServer, client: httpx.Client, path: str) -> None:
    resp = client.post(path, json={"x": [1]}, headers={"SplitSDKImpressionsMode": "DEBUG"})
    assert (resp.status_code, resp.json()) == (200, {})
    assert server.posted(path) == [{"x": [1]}]
    [req] = server.requests
    assert req.headers["splitsdkimpressionsmode"] == "DEBUG"
    assert req.body == b'{"x":[1]}'


def test_gzipped_chunked_post_body_is_parsed(server: FakeSplitServer, client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        data = gzip.compress(b'[{"f": "a"}]')
        yield data[:5]
        yield data[5:]

    resp = client.post("/api/events/bulk", content=chunks(), headers={"Content-Encoding": "gzip"})
    assert resp.status_code == 200
    assert server.posted("/api/events/bulk") == [[{"f": "a"}]]


def test_unknown_routes_are_404(server: FakeSplitServer, client: httpx.Client) -> None:
    assert client.get("/api/nothing").status_code == 404
    assert client.get("/api/segmentChanges/").status_code == 404
    assert client.put("/api/splitChanges").status_code == 404
    assert len(server.requests) == 3
    server.clear_requests()
    assert server.requests == []


def test_wait_for_requests(server: FakeSplitServer, client: httpx.Client) -> None:
    def later() -> None:
        time.sleep(0.05)
        client.post("/api/events/bulk", json=[1])
        client.post("/api/events/bulk", json=[2])

    thread = threading.Thread(target=later)
    thread.start()
    got = server.wait_for_requests("/api/events", 2, timeout=5)
    thread.join()
    assert [r.json for r in got] == [[1], [2]]
    with pytest.raises(TimeoutError):
        server.wait_for_requests("/api/events", 3, timeout=0.05)


def test_headers_mapping() -> None:
    headers = Headers([("Accept", "a"), ("X-Dup", "1"), ("x-dup", "2")])
    assert headers["accept"] == "a" and "ACCEPT" in headers
    assert headers["X-DUP"] == "1, 2"
    assert list(headers) == ["Accept", "X-Dup"] and len(headers) == 2
    assert headers.get("missing") is None


# -- auth -------------------------------------------------------------------------------------


def decode_jwt_part(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_auth_token(server: FakeSplitServer, client: httpx.Client) -> None:
    server.set_token_ttl(120)
    body = client.get("/api/v2/auth", params={"s": "1.3"}).json()
    assert body["pushEnabled"] is True
    header, payload, signature = body["token"].split(".")
    assert "=" not in body["token"] and signature
    assert decode_jwt_part(header)["typ"] == "JWT"
    claims = decode_jwt_part(payload)
    assert claims["exp"] - claims["iat"] == 120
    assert abs(claims["iat"] - time.time()) < 5
    capability = json.loads(claims["x-ably-capability"])
    control = ["subscribe", "channel-metadata:publishers"]
    assert capability == {
        f"{CHANNEL_PREFIX}_segments": ["subscribe"],
        f"{CHANNEL_PREFIX}_splits": ["subscribe"],
        "control_pri": control,
        "control_sec": control,
    }
    assert server.splits_channel == f"{CHANNEL_PREFIX}_splits"
    assert server.issued_tokens == [body["token"]]


def test_auth_push_disabled(server: FakeSplitServer, client: httpx.Client) -> None:
    server.set_push_enabled(False)
    assert client.get("/api/v2/auth?s=1.3").json() == {"pushEnabled": False, "token": ""}


# -- streaming --------------------------------------------------------------------------------

STREAM_PATH = (
    "/event-stream?v=1.1&accessToken=tok"
    "&channels=a_splits,[?occupancy=metrics.publishers]control_pri"
)


def open_stream(client: httpx.Client) -> Any:
    return client.stream("GET", STREAM_PATH, headers={"accept": "text/event-stream"})


def read_event(lines: Iterator[str]) -> list[str]:
    event: list[str] = []
    for line in lines:
        if line == "":
            return event
        event.append(line)
    raise AssertionError(f"stream ended mid-event: {event}")


def test_sse_push_and_graceful_close(server: FakeSplitServer, client: httpx.Client) -> None:
    with open_stream(client) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/event-stream"
        assert resp.headers["transfer-encoding"] == "chunked"
        assert server.wait_for_streams(1, timeout=5) == 1
        [req] = server.stream_requests()
        assert req.query["channels"] == "a_splits,[?occupancy=metrics.publishers]control_pri"
        assert req.query["accessToken"] == "tok"

        lines = resp.iter_lines()
        assert server.push_sse("message", '{"a": 1}', id="e1") == 1
        assert read_event(lines) == ["id:e1", "event:message", 'data:{"a": 1}']
        server.push_raw(":keepalive\n\n")
        assert read_event(lines) == [":keepalive"]
        server.push_sse(None, "x\ny")
        assert read_event(lines) == ["data:x", "data:y"]
        server.close_streams(graceful=True)
        assert list(lines) == []
    server.wait_for_streams(0, timeout=5)


def test_sse_abrupt_close(server: FakeSplitServer, client: httpx.Client) -> None:
    with open_stream(client) as resp:
        server.wait_for_streams(1, timeout=5)
        lines = resp.iter_lines()
        server.push_occupancy("control_sec", publishers=0)
        event = read_event(lines)
        envelope = json.loads(event[-1].removeprefix("data:"))
        assert envelope["channel"] == "[?occupancy=metrics.publishers]control_sec"
        assert envelope["name"] == "[meta]occupancy"
        assert json.loads(envelope["data"]) == {"metrics": {"publishers": 0}}
        server.close_streams()
        with pytest.raises(httpx.RemoteProtocolError):
            list(lines)
    assert server.stream_connections() == 0


def test_sse_client_disconnect_is_noticed(server: FakeSplitServer, client: httpx.Client) -> None:
    with open_stream(client):
        server.wait_for_streams(1, timeout=5)
    server.wait_for_streams(0, timeout=5)
    assert server.push_sse("message", "{}") == 0


def test_sse_update_helpers(server: FakeSplitServer, client: httpx.Client) -> None:
    flag = rollout_flag("f1")
    with open_stream(client) as resp:
        server.wait_for_streams(1, timeout=5)
        lines = resp.iter_lines()

        def inner() -> Any:
            event = read_event(lines)
            envelope = json.loads(event[-1].removeprefix("data:"))
            return envelope["channel"], json.loads(envelope["data"])

        server.push_split_update(1002, flag, pcn=1001, compression=2)
        channel, data = inner()
        assert channel == server.splits_channel
        assert (data["type"], data["changeNumber"], data["pcn"], data["c"]) == (
            "SPLIT_UPDATE",
            1002,
            1001,
            2,
        )
        assert json.loads(zlib.decompress(base64.b64decode(data["d"]))) == flag
        server.push_rbs_update(1003, rbs("r"), compression=1)
        _, data = inner()
        assert json.loads(gzip.decompress(base64.b64decode(data["d"])))["name"] == "r"
        server.push_split_update(1004)
        assert inner()[1] == {"type": "SPLIT_UPDATE", "changeNumber": 1004}
        server.push_split_kill("f1", "off", 1005)
        assert inner()[1]["splitName"] == "f1"
        server.push_segment_update("seg", 1006)
        assert inner() == (
            server.segments_channel,
            {"type": "SEGMENT_UPDATE", "changeNumber": 1006, "segmentName": "seg"},
        )
        server.push_control("STREAMING_PAUSED")
        assert inner() == ("control_pri", {"type": "CONTROL", "controlType": "STREAMING_PAUSED"})
        server.push_ably_error(40142)
        event = read_event(lines)
        assert event[0] == "event:error"
        assert json.loads(event[1].removeprefix("data:"))["statusCode"] == 401


def test_refuse_streams(server: FakeSplitServer, client: httpx.Client) -> None:
    server.refuse_streams(401, times=1)
    with open_stream(client) as resp:
        assert resp.status_code == 401
        assert resp.read()
    with open_stream(client) as resp:
        assert resp.status_code == 200
        server.wait_for_streams(1, timeout=5)
        server.refuse_streams(503)
        with http_client(server.base_url) as other:
            assert other.get(STREAM_PATH).status_code == 503
            server.refuse_streams(None)
            with open_stream(other) as resp2:
                assert resp2.status_code == 200
                assert server.wait_for_streams(2, timeout=5) == 2
    assert len(server.requests_to("/event-stream")) == 4


def test_stop_ends_open_streams() -> None:
    srv = FakeSplitServer().start()
    with http_client(srv.base_url) as c, open_stream(c) as resp:
        srv.wait_for_streams(1, timeout=5)
        srv.stop()
        with pytest.raises(httpx.RemoteProtocolError):
            resp.read()
    assert srv.stream_connections() == 0
