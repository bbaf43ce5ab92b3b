"""The telemetry model (spec: recording.md §4, streaming.md §8): latency buckets, the hot path's
call records, and the exact shapes of the config and usage payloads, with their resets."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from splitio_async.actors.telemetry import describe_config, storage_stats
from splitio_async.config import Config
from splitio_async.models.telemetry import (
    BUCKETS,
    EXCEPTION,
    LATENCY_BOUNDS_US,
    MAX_STREAMING_EVENTS,
    METHOD_CODES,
    NOT_READY_CALL,
    RESOURCES,
    ConfigSettings,
    RecordingStats,
    StorageStats,
    TelemetryStore,
    bucket_index,
)
from splitio_async.storage.snapshot import Snapshot
from splitio_async.transport.http import DEFAULT_URLS

METHODS = ("t", "ts", "tc", "tcs", "tf", "tfs", "tcf", "tcfs", "tr")
USAGE_KEYS = {"lS", "mL", "mE", "hE", "hL", "tR", "aR", "iQ", "iDe", "iDr", "spC", "seC", "skC",
              "sL", "eQ", "eD", "sE", "t", "ufs"}
CONFIG_KEYS = {"oM", "sT", "sE", "rR", "uO", "iQ", "eQ", "iM", "iL", "hp", "aF", "rF", "fsT",
               "fsI", "bT", "nR", "tR", "t"}


class Clock:
    """Injectable monotonic (s) and epoch (ms) clocks."""

    def __init__(self) -> None:
        self.now = 100.0
        self.epoch = 1_700_000_000_000

    def monotonic(self) -> float:
        return self.now

    def epoch_ms(self) -> int:
        return self.epoch


def new_store(clock: Clock | None = None) -> tuple[TelemetryStore, Clock]:
    clock = clock or Clock()
    return TelemetryStore(clock.monotonic, clock.epoch_ms), clock


def settings(**changes: Any) -> ConfigSettings:
    base = ConfigSettings(
        streaming_enabled=True,
        refresh_rates={"sp": 30, "se": 30, "im": 300, "ev": 10, "te": 3600},
        url_overrides={"s": False, "e": True, "a": False, "st": False, "t": False},
        impressions_queue_size=10000,
        events_queue_size=5000,
        impressions_mode="OPTIMIZED",
        impression_listener=False,
        https_proxy_env=False,
        flag_sets_total=3,
        flag_sets_invalid=1,
    )
    return base._replace(**changes)


# ---------------------------------------------------------------------- buckets


def test_there_are_23_increasing_bounds_in_microseconds() -> None:
    assert BUCKETS == 23 == len(LATENCY_BOUNDS_US)
    assert LATENCY_BOUNDS_US[0] == 1000 and LATENCY_BOUNDS_US[-1] == 7481828
    assert list(LATENCY_BOUNDS_US) == sorted(set(LATENCY_BOUNDS_US))


@pytest.mark.parametrize(("latency_us", "index"), [
    (0, 0), (1, 0), (999, 0), (1000, 0), (1001, 1), (1500, 1), (1501, 2), (2250, 2),
    (5063, 4), (5064, 5), (985261, 17), (985262, 18), (7481828, 22), (7481829, 22),
    (10**12, 22), (-5, 0), (1000.5, 1),
])
def test_bucket_index_is_bisect_left_capped_at_22(latency_us: float, index: int) -> None:
    assert bucket_index(latency_us) == index


def test_every_bound_is_the_top_of_its_own_bucket() -> None:
    for i, bound in enumerate(LATENCY_BOUNDS_US):
        assert bucket_index(bound) == i
        assert bucket_index(bound + 1) == min(i + 1, 22)


def test_method_codes_map_every_public_method() -> None:
    assert METHOD_CODES == {
        "get_treatment": "t", "get_treatments": "ts", "get_treatment_with_config": "tc",
        "get_treatments_with_config": "tcs", "get_treatments_by_flag_set": "tf",
        "get_treatments_by_flag_sets": "tfs", "get_treatments_with_config_by_flag_set": "tcf",
        "get_treatments_with_config_by_flag_sets": "tcfs", "track": "tr",
    }
    assert RESOURCES == ("sp", "se", "im", "ic", "ev", "te", "to")


# ---------------------------------------------------------------------- usage payload


def test_empty_usage_has_exactly_the_spec_keys_and_shapes() -> None:
    store, _ = new_store()
    body = store.pop_usage(StorageStats())
    assert set(body) == USAGE_KEYS
    assert body["mL"] == {m: [0] * 23 for m in METHODS}
    assert body["mE"] == dict.fromkeys(METHODS, 0)
    assert body["hE"] == {r: {} for r in RESOURCES}
    assert body["hL"] == {r: [0] * 23 for r in RESOURCES}
    assert body["lS"] == dict.fromkeys(RESOURCES, 0)
    assert body["ufs"] == {"sp": 0, "rbs": 0}
    assert body["sE"] == [] and body["t"] == []
    for key in ("tR", "aR", "iQ", "iDe", "iDr", "spC", "seC", "skC", "sL", "eQ", "eD"):
        assert body[key] == 0, key


def test_call_records_fill_latencies_exceptions_and_not_ready() -> None:
    store, _ = new_store()
    store.record_calls([
        ("t", 10), ("t", 1000), ("t", 1001), ("ts", 3_000_000), ("tr", 9_000_000),
        ("tc", EXCEPTION), ("tc", 50), NOT_READY_CALL, NOT_READY_CALL, ("bogus", 5),
    ])
    body = store.pop_usage(StorageStats())
    assert body["mL"]["t"][:2] == [2, 1] and sum(body["mL"]["t"]) == 3
    assert body["mL"]["ts"][bucket_index(3_000_000)] == 1
    assert body["mL"]["tr"][22] == 1
    assert body["mL"]["tc"][0] == 1  # the failed call's latency record is separate
    assert body["mE"] == {**dict.fromkeys(METHODS, 0), "tc": 1}
    assert store.not_ready_calls == 2


def test_http_results_per_resource() -> None:
    store, clock = new_store()
    store.record_http("sp", 200, 0.5)  # ms
    store.record_http("sp", 500, 2.0)
    store.record_http("sp", 500, 2.0)
    store.record_http("se", 404, 1.0)
    store.record_http("te", None, 1.0)  # no response: nothing to count
    store.record_http("nope", 200, 1.0)
    body = store.pop_usage(StorageStats())
    assert body["lS"] == {**dict.fromkeys(RESOURCES, 0), "sp": clock.epoch}
    assert body["hE"] == {**{r: {} for r in RESOURCES}, "sp": {"500": 2}, "se": {"404": 1}}
    assert body["hL"]["sp"][0] == 1 and body["hL"]["sp"][bucket_index(2000)] == 2
    assert sum(body["hL"]["se"]) == 1 and sum(body["hL"]["te"]) == 0


def test_per_period_parts_reset_and_cumulative_parts_stay() -> None:
    store, clock = new_store()
    store.record_calls([("t", 5)])
    store.record_http("sp", 200, 1)
    store.record_http("ev", 503, 1)
    store.record_token_refresh()
    store.record_auth_rejection()
    store.record_streaming_event(0, 0)
    store.record_update_from_sse("sp")
    store.record_update_from_sse("rbs")
    store.recording = RecordingStats(5, 3, 2, 7, 1)
    first = store.pop_usage(StorageStats(4, 2, 30))
    assert (first["tR"], first["aR"], first["ufs"]) == (1, 1, {"sp": 1, "rbs": 1})
    assert (first["iQ"], first["iDe"], first["iDr"], first["eQ"], first["eD"]) == (5, 3, 2, 7, 1)
    assert (first["spC"], first["seC"], first["skC"]) == (4, 2, 30)
    assert len(first["sE"]) == 1

    second = store.pop_usage(StorageStats(4, 2, 30))
    assert second["mL"]["t"] == [0] * 23 and second["hE"]["ev"] == {}
    assert sum(second["hL"]["sp"]) == 0
    assert (second["tR"], second["aR"], second["sE"]) == (0, 0, [])
    assert second["ufs"] == {"sp": 0, "rbs": 0}
    assert second["lS"]["sp"] == clock.epoch  # cumulative
    assert (second["iQ"], second["eQ"]) == (5, 7)  # cumulative
    assert first["mL"]["t"][0] == 1  # the popped body is not touched by the reset


def test_session_length_is_recorded_in_ms() -> None:
    store, clock = new_store()
    clock.now += 12.3456
    assert store.pop_usage(StorageStats())["sL"] == 12346


def test_streaming_events_keep_the_first_20_per_period() -> None:
    store, clock = new_store()
    for i in range(25):
        clock.epoch += 1
        store.record_streaming_event(70, i)
    events = store.pop_usage(StorageStats())["sE"]
    assert len(events) == MAX_STREAMING_EVENTS == 20
    assert events[0] == {"e": 70, "d": 0, "t": 1_700_000_000_001}
    assert [e["d"] for e in events] == list(range(20))
    assert all(set(e) == {"e", "d", "t"} for e in events)
    store.record_streaming_event(0, 0)
    assert len(store.pop_usage(StorageStats())["sE"]) == 1


def test_restore_puts_an_unsent_period_back() -> None:
    store, _ = new_store()
    store.record_calls([("t", 5), ("tr", EXCEPTION)])
    store.record_http("se", 500, 1)
    store.record_auth_rejection()
    for i in range(15):
        store.record_streaming_event(10, i)
    unsent = store.pop_usage(StorageStats())
    store.record_calls([("t", 5)])
    store.record_http("se", 500, 1)
    for i in range(15):
        store.record_streaming_event(20, i)
    store.restore_usage(unsent)
    body = store.pop_usage(StorageStats())
    assert body["mL"]["t"][0] == 2 and body["mE"]["tr"] == 1
    assert body["hE"]["se"] == {"500": 2} and sum(body["hL"]["se"]) == 2
    assert body["aR"] == 1
    assert len(body["sE"]) == 20 and body["sE"][0]["e"] == 10  # oldest first, capped


# ---------------------------------------------------------------------- config payload


def test_config_payload_has_exactly_the_spec_keys() -> None:
    store, _ = new_store()
    store.record_calls([NOT_READY_CALL] * 3)
    store.record_ready_timeout()
    store.record_ready(1234.4)
    body = store.config_payload(settings(), 2, 1)
    assert body == {
        "oM": 0, "sT": "memory", "sE": True,
        "rR": {"sp": 30, "se": 30, "im": 300, "ev": 10, "te": 3600},
        "uO": {"s": False, "e": True, "a": False, "st": False, "t": False},
        "iQ": 10000, "eQ": 5000, "iM": 0, "iL": False, "hp": False, "aF": 2, "rF": 1,
        "fsT": 3, "fsI": 1, "bT": 1, "nR": 3, "tR": 1234, "t": [],
    }
    assert set(body) == CONFIG_KEYS


@pytest.mark.parametrize(("mode", "code"), [("OPTIMIZED", 0), ("DEBUG", 1), ("NONE", 2)])
def test_impressions_mode_codes(mode: str, code: int) -> None:
    store, _ = new_store()
    assert store.config_payload(settings(impressions_mode=mode), 1, 0)["iM"] == code


def test_refresh_rates_travel_as_whole_seconds() -> None:
    store, _ = new_store()
    rates = {"sp": 0.1, "se": 2.6, "im": 60, "ev": 10.0, "te": 3600}
    body = store.config_payload(settings(refresh_rates=rates), 1, 0)
    assert body["rR"] == {"sp": 0, "se": 3, "im": 60, "ev": 10, "te": 3600}
    assert all(type(v) is int for v in body["rR"].values())


def test_describe_config_reports_only_real_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    config = Config.from_dict({
        "flagSetsFilter": ["a", "B", "valid", "in valid", "valid"],
        "impressionsMode": "debug", "impressionListener": object(), "streamingEnabled": False,
    })
    described = describe_config(config, {
        "sdk": "http://127.0.0.1:1/api", "events": DEFAULT_URLS["events"] + "/",
        "auth": None, "streaming": "", "telemetry": "https://telemetry.example/api",
    }, DEFAULT_URLS)
    assert described.url_overrides == {"s": True, "e": False, "a": False, "st": False, "t": True}
    assert (described.flag_sets_total, described.flag_sets_invalid) == (5, 2)
    assert described.impressions_mode == "DEBUG" and described.impression_listener
    assert not described.streaming_enabled and not described.https_proxy_env
    assert described.refresh_rates["im"] == 60 and described.refresh_rates["te"] == 3600
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:3128")
    assert describe_config(config, {}, DEFAULT_URLS).https_proxy_env


def test_metrics_refresh_rate_below_60_is_reset_to_3600(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="splitio.client.config"):
        assert Config.from_dict({"metricsRefreshRate": 59}).metrics_refresh_rate == 3600
    assert "metricRefreshRate parameter minimum value is 60 seconds" in caplog.text
    assert Config.from_dict({"metricsRefreshRate": 60}).metrics_refresh_rate == 60
    assert Config.from_dict({}).metrics_refresh_rate == 3600


def test_storage_stats_count_flags_segments_and_keys() -> None:
    assert storage_stats(Snapshot()) == StorageStats(0, 0, 0)
    snapshot = Snapshot(segments={"s1": frozenset({"a", "b"}), "s2": frozenset({"c"})})
    assert storage_stats(snapshot) == StorageStats(0, 2, 3)
