"""Fuzzing (hypothesis) of everything the SDK reads from outside: flag JSON, streaming
notifications and their payloads, localhost files, config dicts. Nothing escapes but the
documented result:

* JSON: ``bounded_json.parse`` gives what ``json.loads`` gives, or ``ValueError`` (malformed,
  NaN/Infinity, too deep: ``LimitExceeded``);
* a flag: ``parse_split`` gives a ``Split`` or ``ValueError`` (no name), and the flag then
  evaluates to a treatment for any key and attributes, never an exception;
* a notification: ``parse_message`` / ``parse_error`` give a notification or
  ``NotificationError``; a payload unpacks and decodes to a dict or ``NotificationError``;
* a localhost flag or segment file: loaded, or ``LocalhostFileError``; a bootstrap snapshot:
  used, or ignored (``None``);
* a config dict: ``Config.from_dict`` never raises and every number it keeps is finite and in
  range; ``RedisSettings.from_dict`` raises only the configuration exceptions it documents.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import gzip
import json
import math
import tempfile
import zlib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitio_async import bounded_json
from splitio_async.actors.bootstrap import read_bootstrap
from splitio_async.actors.localhost import load_flags, load_segment
from splitio_async.config import Config
from splitio_async.engine.evaluator import Evaluator
from splitio_async.errors import (
    LocalhostFileError,
    RedisClusterConfigurationException,
    SentinelConfigurationException,
)
from splitio_async.limits import LimitExceeded, Limits
from splitio_async.models.notifications import (
    NotificationError,
    decode_payload,
    parse_error,
    parse_message,
)
from splitio_async.models.splits import parse_split
from splitio_async.redis.settings import RedisSettings
from splitio_async.storage.snapshot import FlagChanges, Snapshot, apply_flag_changes
from tests.helpers import rollout_flag, segment_flag

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

def _digits(count: int) -> int:
    """An integer of ``count`` digits (past 4,300: Python cannot print it; hypothesis neither,
    so it only ever sees the count)."""
    return 10 ** (abs(count) - 1) * (1 if count > 0 else -1)


HUGE = st.sampled_from([5000, -5000]).map(_digits)
SCALARS = (st.none() | st.booleans() | st.integers() | HUGE | st.floats() | st.text(max_size=20))
JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
JSON = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=5)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=25)
ANY = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                   | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=25)


# ---------------------------------------------------------------------------------- JSON


@FUZZ
@given(JSON)
def test_the_sliced_decoder_round_trips_any_json(value: Any) -> None:
    text = json.dumps(value)
    assert bounded_json.parse(text, 1000) == json.loads(text)
    assert bounded_json.parse(text.encode(), 1000) == json.loads(text)


@FUZZ
@given(st.text(alphabet='{}[]",:0123456789.eE+-tfrunlasNIy \n\\', max_size=60))
def test_any_text_decodes_as_json_loads_does_or_is_a_value_error(text: str) -> None:
    try:
        expected = json.loads(text)
    except ValueError:
        expected = ValueError
    try:
        got = bounded_json.parse(text, 1000)
    except ValueError:
        got = ValueError
    if got is ValueError and expected is not ValueError:  # only what is not JSON proper
        assert "NaN" in text or "Infinity" in text or "e" in text.lower()
    else:
        assert got == expected


# ---------------------------------------------------------------------------------- flags

BASES = [rollout_flag("f"), segment_flag("f", "seg"),
         rollout_flag("f", prerequisites=[{"n": "g", "ts": ["on"]}])]
PATHS = [
    (), ("conditions",), ("conditions", 0), ("conditions", 0, "matcherGroup"),
    ("conditions", 0, "matcherGroup", "matchers"), ("conditions", 0, "matcherGroup", "matchers",
                                                     0),
    ("conditions", 0, "matcherGroup", "matchers", 0, "matcherType"),
    ("conditions", 0, "matcherGroup", "matchers", 0, "keySelector"),
    ("conditions", 0, "matcherGroup", "matchers", 0, "userDefinedSegmentMatcherData"),
    ("conditions", 0, "partitions"), ("conditions", 0, "partitions", 0),
    ("conditions", 0, "partitions", 0, "size"), ("conditions", 0, "label"),
    ("seed",), ("trafficAllocation",), ("trafficAllocationSeed",), ("changeNumber",),
    ("defaultTreatment",), ("killed",), ("status",), ("algo",), ("configurations",), ("sets",),
    ("prerequisites",), ("name",), ("trafficTypeName",),
]


def mutate(flag: dict[str, Any], edits: list[tuple[int, Any]]) -> Any:
    flag = copy.deepcopy(flag)
    root: Any = flag
    for path_index, value in edits:
        path = PATHS[path_index % len(PATHS)]
        if not path:
            root = value
            continue
        target: Any = root
        try:
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    return root


@FUZZ
@given(st.sampled_from(BASES), st.lists(st.tuples(st.integers(0, 100), JSON), max_size=4),
       st.one_of(st.text(max_size=10), st.integers()), st.dictionaries(st.text(max_size=5), ANY))
def test_any_flag_json_compiles_or_is_refused_and_then_always_evaluates(
    base: dict[str, Any], edits: list[tuple[int, Any]], key: Any, attributes: dict[str, Any]
) -> None:
    raw = mutate(base, edits)
    try:
        split = parse_split(raw)
    except ValueError:
        assert not isinstance(raw, dict) or not isinstance(raw.get("name"), str)
        return
    snapshot, _ = apply_flag_changes(Snapshot(), FlagChanges(flags=(split,)))
    if split.name in snapshot.flags:
        result = Evaluator().evaluate(str(key)[:250] or "k", None, split.name, attributes,
                                      snapshot)
        assert isinstance(result.treatment, str)


# ---------------------------------------------------------------------------------- streaming


def envelope(data: Any, name: Any = None, channel: Any = "x_splits") -> str:
    body: dict[str, Any] = {"id": "1", "timestamp": 1, "channel": channel,
                            "data": data if isinstance(data, str) else json.dumps(data)}
    if name is not None:
        body["name"] = name
    return json.dumps(body)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (ValueError, TypeError):
        return False
    return True


NOTIFICATION_TYPES = st.sampled_from(["SPLIT_UPDATE", "SPLIT_KILL", "SEGMENT_UPDATE",
                                      "RB_SEGMENT_UPDATE", "CONTROL", "OTHER"])


@FUZZ
@given(st.one_of(
    st.text(max_size=80),
    st.builds(envelope, JSON),
    st.builds(envelope, st.dictionaries(st.sampled_from(
        ["type", "changeNumber", "pcn", "c", "d", "splitName", "defaultTreatment",
         "segmentName", "controlType"]), ANY.filter(_jsonable), max_size=6)
        .map(lambda d: {**d, "type": d.get("type", "SPLIT_UPDATE")})),
    st.builds(envelope, st.fixed_dictionaries({"metrics": st.dictionaries(
        st.just("publishers"), JSON)}), st.just("[meta]occupancy")),
    st.builds(lambda t, rest: envelope({"type": t, **rest}), NOTIFICATION_TYPES,
              st.dictionaries(st.text(max_size=12), JSON, max_size=4)),
))
def test_any_message_is_a_notification_or_a_notification_error(data: str) -> None:
    for parse in (parse_message, parse_error):
        with contextlib.suppress(NotificationError):  # the one error that may come out
            parse(data)


def _encode(raw: bytes, compression: int) -> str:
    if compression == 1:
        raw = gzip.compress(raw)
    elif compression == 2:
        raw = zlib.compress(raw)
    return base64.b64encode(raw).decode()


@FUZZ
@given(st.one_of(JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)),
       st.integers(-1, 3), st.booleans())
def test_any_payload_decodes_to_a_dict_or_a_notification_error(
    raw: bytes, compression: int, garble: bool
) -> None:
    payload = _encode(raw, compression if compression in (1, 2) else 0)
    if garble:
        payload = payload[: len(payload) // 2] + "!*"
    with contextlib.suppress(NotificationError):
        assert isinstance(decode_payload(payload, compression, max_bytes=4096), dict)


# ---------------------------------------------------------------------------------- files

YAML_TEXT = st.one_of(
    st.text(max_size=120),
    st.lists(st.dictionaries(st.text(max_size=6), st.dictionaries(
        st.sampled_from(["treatment", "keys", "config"]), JSON, max_size=3), max_size=2),
        max_size=4).map(json.dumps),  # JSON is YAML
    st.sampled_from(["- &a [*a]", "[" * 3000, "- f: {treatment: " + "9" * 5000 + "}",
                     "a: &a [x]\nb: [*a, *a, *a]", "- f: !!python/object:os.system ls"]),
)
JSON_TEXT = st.one_of(
    st.text(max_size=120),
    JSON.map(json.dumps),
    st.builds(lambda flags, till: json.dumps({"ff": {"d": flags, "t": till}}),
              st.lists(st.builds(mutate, st.sampled_from(BASES), st.lists(
                  st.tuples(st.integers(0, 100), JSON), max_size=3)), max_size=3), JSON),
    st.sampled_from(["[" * 100_000, '{"ff": {"d": [], "t": ' + "9" * 5000 + "}}",
                     '{"ff": {"t": NaN}}']),
)


@FUZZ
@given(st.sampled_from(["flags.json", "flags.yaml", "flags.split"]), st.data())
def test_any_localhost_flag_file_loads_or_is_a_localhost_file_error(
    name: str, data: st.DataObject
) -> None:
    text = data.draw(JSON_TEXT if name.endswith(".json") else YAML_TEXT)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            changes, _ = load_flags(str(path), None, Limits(yaml_max_nodes=10_000))
        except LocalhostFileError as exc:
            assert str(path) in str(exc)
            return
        assert changes is not None


@FUZZ
@given(JSON_TEXT)
def test_any_segment_file_loads_or_is_a_localhost_file_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "s.json").write_text(text, encoding="utf-8", errors="surrogatepass")
        with contextlib.suppress(LocalhostFileError):
            load_segment(directory, "s")


@FUZZ
@given(JSON_TEXT)
def test_any_bootstrap_file_is_used_or_ignored(text: str) -> None:
    """A snapshot is used, or logged and ignored (None): never an exception at start-up."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "snapshot.json"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        data = read_bootstrap(str(path))
        assert data is None or isinstance(data.segments, dict)


# ---------------------------------------------------------------------------------- config

CONFIG_KEYS = [
    "connectionTimeout", "featuresRefreshRate", "segmentsRefreshRate", "metricsRefreshRate",
    "impressionsRefreshRate", "impressionsBulkSize", "impressionsQueueSize", "eventsPushRate",
    "eventsBulkSize", "eventsQueueSize", "destroyTimeout", "syncRetryBackoffBase",
    "syncRetryBackoffMax", "streamingReconnectBackoffBase", "streamingKeepaliveTimeout",
    "httpMaxResponseBytes", "httpRequestTimeout", "streamingMaxLineBytes",
    "streamingMaxEventBytes", "streamingMaxPayloadBytes", "maxFileBytes", "yamlMaxNodes",
    "jsonMaxDepth", "impressionsMode", "proxyUrl", "flagSetsFilter", "labelsEnabled",
    "streamingEnabled", "splitFile", "IPAddressesEnabled", "impressionListenerDelivery",
    "proxyFromEnvironment", "fallbackTreatments", "bootstrapFile",
]
REDIS_KEYS = [
    "redisHost", "redisPort", "redisDb", "redisPassword", "redisPrefix", "redisSocketTimeout",
    "redisSocketConnectTimeout", "redisLocalCacheTTL", "redisMaxConnections", "dataSampling",
    "redisSentinels", "redisMasterService", "redisClusterNodes", "redisSsl",
]
VALUES = ANY | HUGE | st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 1e300, "not a url",
                                       "http://u:p@:99999", [("h", "x")], [("h", 1)]])


def _finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


@FUZZ
@given(st.dictionaries(st.sampled_from(CONFIG_KEYS), VALUES, max_size=12))
def test_any_config_dict_validates_without_raising(raw: dict[str, Any]) -> None:
    config = Config.from_dict(raw)
    for field in ("connection_timeout_ms", "features_refresh_rate", "segments_refresh_rate",
                  "metrics_refresh_rate", "impressions_refresh_rate", "impressions_bulk_size",
                  "impressions_queue_size", "events_push_rate", "events_bulk_size",
                  "events_queue_size", "destroy_timeout", "sync_retry_base", "sync_retry_max",
                  "streaming_reconnect_base", "streaming_keepalive"):
        value = getattr(config, field)
        assert _finite(value) and value >= 0, field
    assert all(_finite(v) and v > 0 for v in vars_of(config.limits))
    assert config.proxy_url is None or isinstance(config.proxy_url, str)


def vars_of(limits: Limits) -> list[float]:
    return [getattr(limits, name) for name in limits.__slots__]


@FUZZ
@given(st.dictionaries(st.sampled_from(REDIS_KEYS), VALUES, max_size=8))
def test_any_redis_config_validates_or_raises_a_configuration_exception(
    raw: dict[str, Any]
) -> None:
    try:
        settings_ = RedisSettings.from_dict({"redisHost": "h", **raw})
    except (SentinelConfigurationException, RedisClusterConfigurationException):
        return
    assert 0 <= settings_.port <= 65535 and settings_.db >= 0
    assert 0.1 <= settings_.data_sampling <= 1 and _finite(settings_.local_cache_ttl)
    for timeout in (settings_.socket_timeout, settings_.socket_connect_timeout):
        assert timeout is None or (_finite(timeout) and timeout > 0)


def test_limits_exceeded_is_a_value_error() -> None:
    """So every caller that handles malformed data handles a limit breach the same way."""
    assert issubclass(LimitExceeded, ValueError)
