"""Many threads on one shim factory while updates stream in: no torn reads, nothing lost, no
deadlock at destroy, no thread left behind.

Flags "a" and "b" always change together in one splitChanges page (the push carries no payload,
so the SDK fetches that page), so an evaluation that saw one snapshot gives them equal
treatments; a torn read would show them different.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from splitio_sync_shim import get_factory
from tests.e2e.test_standalone import FAST
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag

THREADS = 8
ROUNDS = 1500


def _pair(version: str) -> list[dict[str, Any]]:
    return [rollout_flag("a", ((version, 100),)), rollout_flag("b", ((version, 100),))]


def test_threads_evaluate_consistently_while_updates_stream_in(server: FakeSplitServer) -> None:
    server.set_flags(_pair("v0"))
    baseline = {t.ident for t in threading.enumerate()}
    factory = get_factory("SDK-KEY-0001", config={
        **FAST, "streamingEnabled": True, "impressionsMode": "DEBUG",
        "featuresRefreshRate": 30, "segmentsRefreshRate": 30,
    }, **server.url_kwargs())
    assert factory is not None
    factory.block_until_ready(10)
    assert server.wait_for_streams(1, 10) >= 1
    client, manager = factory.client(), factory.manager()
    errors: list[BaseException] = []
    torn: list[dict[str, str]] = []
    calls: Counter[str] = Counter()
    seen: set[str] = set()
    start = threading.Barrier(THREADS + 1)

    def worker(n: int) -> None:
        counts: Counter[str] = Counter()
        try:
            start.wait()
            for i in range(ROUNDS):
                key = f"t{n}-{i}"
                both = client.get_treatments(key, ["a", "b"])
                counts["impressions"] += 2
                seen.add(both["a"])
                if both["a"] != both["b"]:
                    torn.append(both)
                with_config = client.get_treatments_with_config(key, ["a", "b"])
                counts["impressions"] += 2
                if with_config["a"][0] != with_config["b"][0]:
                    torn.append({k: v[0] for k, v in with_config.items()})
                assert client.get_treatment(key, "a") != "control"
                assert client.get_treatment_with_config(key, "b")[0] != "control"
                counts["impressions"] += 2
                assert client.track(key, "user", "stress", i)
                counts["events"] += 1
                assert set(manager.split_names()) == {"a", "b"}
                assert manager.split("a") is not None
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)
        finally:
            with lock:
                calls.update(counts)

    lock = threading.Lock()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait()
    for version in range(1, 11):  # ten pair updates while the threads run
        server.set_flags(_pair(f"v{version}"))
        server.push_split_update(server.flags_change_number)  # no payload: fetch the page
        server.wait_for_requests("/api/splitChanges", version + 2, 10)
    for thread in threads:
        thread.join(60)
    assert not errors, errors[0]
    assert not torn, torn[:3]
    assert len(seen) >= 3, f"the updates did not overlap the evaluations: {seen}"

    done = threading.Event()
    factory.destroy(done)
    assert done.wait(15), "destroy did not finish"
    impressions = sum(len(group["i"]) for body in server.accepted("/api/testImpressions/bulk")
                      for group in body)
    events = sum(len(body) for body in server.accepted("/api/events/bulk"))
    assert impressions == calls["impressions"]
    assert events == calls["events"]
    assert factory.delivery_counts()["impressions_dropped"] == 0
    for thread in threading.enumerate():
        if thread.ident not in baseline and thread.name == "splitio-portal":
            thread.join(5)
    leftover = [t for t in threading.enumerate()
                if t.ident not in baseline and t.name.startswith("splitio")]
    assert not leftover, leftover
