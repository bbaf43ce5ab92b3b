"""The bounded readers and the limits, unit by unit: the sliced JSON decoder (same values as
``json.loads``, a nesting limit, slices), bounded decompression, bounded file reading (regular
files only), the config keys of the limits and the validation of numeric keys and ``proxyUrl``,
log redaction, rate-limited warnings, readable transport errors."""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import zlib
from pathlib import Path
from typing import Any

import pytest

from splitio_async import bounded_json
from splitio_async.config import Config
from splitio_async.inflate import GZIP, ZLIB, Inflater, inflate
from splitio_async.limits import LimitExceeded, Limits, is_finite_number, safe_repr
from splitio_async.redaction import RedactingFilter, redact
from splitio_async.redis.settings import RedisSettings
from splitio_async.runtime.backoff import ProblemLog, ThrottledLog
from splitio_async.runtime.files import NotARegularFile, read_bounded
from splitio_async.transport.bounded import describe_error

# ---------------------------------------------------------------------------------- JSON


@pytest.mark.parametrize("text", [
    "{}", "[]", " [ 1 , 2 ] ", '"x"', "1", "-1.5e3", "null", '{"a":1,"a":2}',
    '{"ff": {"d": [{"name": "f", "c": [[{"m": []}]]}], "s": -1, "t": 5}, "rbs": {}}',
    '{"added": ["a", "b,c", "d\\"e", "\\u00e9"], "removed": []}',
    # the last run of an array is cut at the first closing bracket: one inside a string or a
    # nested array must not end it
    '{"added": ["a]", "b"], "removed": ["]"]}', "[1, 2, [3, 4], 5]", '{"x": [1, [2]], "y": []}',
])
def test_the_sliced_decoder_gives_what_json_loads_gives(text: str) -> None:
    assert bounded_json.parse(text, 64) == json.loads(text)
    assert bounded_json.parse(text.encode("utf-16"), 64) == json.loads(text)


def test_long_arrays_are_decoded_in_runs_with_the_same_result() -> None:
    keys = [f"k{i}" if i % 7 else f"comma,{i}" for i in range(60_000)] + [1, None, {"x": [1]}]
    text = json.dumps({"added": keys, "removed": [], "till": 5})
    assert bounded_json.parse(text, 64) == json.loads(text)
    tail = json.dumps({"added": [f"key-{i}" for i in range(30_000)], "removed": ["x]"]})
    assert bounded_json.parse(tail, 64) == json.loads(tail)


@pytest.mark.parametrize("text", [
    "{", "[1,]", '{"a":1,}', '{"a" 1}', "[1 2]", "{1:2}", "1 2", "", '{"a":[}',
])
def test_malformed_json_is_a_value_error_with_its_position(text: str) -> None:
    with pytest.raises(bounded_json.MalformedJSON, match="line 1, column"):
        bounded_json.parse(text, 64)


@pytest.mark.parametrize("text", ["[NaN]", "[Infinity]", "[-Infinity]", "[1e999]",
                                  '{"t": ' + "9" * 5000 + "}"])
def test_what_json_cannot_carry_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        bounded_json.parse(text, 64)


@pytest.mark.parametrize("text", [
    "[" * 65 + "]" * 65,  # walked by the decoder
    '{"ff": {"d": [' + "[" * 70 + "]" * 70 + "]}}",  # inside a value the C scanner decodes
    "[1," + "[" * 100_000,  # past the interpreter's recursion limit
])
def test_nesting_past_the_limit_names_json_max_depth(text: str) -> None:
    with pytest.raises(LimitExceeded, match="jsonMaxDepth"):
        bounded_json.parse(text, 64)


def test_nesting_at_the_limit_is_fine() -> None:
    text = '{"a": ' + "[" * 63 + "]" * 63 + "}"
    assert bounded_json.parse(text, 64) == json.loads(text)
    with pytest.raises(LimitExceeded):
        bounded_json.parse(text, 63)


def test_a_large_document_comes_in_slices() -> None:
    """A budget of zero yields between every value: each slice is one value of the outer
    levels, whatever the document's size."""
    text = json.dumps({"ff": {"d": [{"name": f"f{i}"} for i in range(100)]}})
    steps = bounded_json.parse_steps(text, 64, budget=0)
    slices = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            assert done.value == json.loads(text)
            break
        slices += 1
    assert slices >= 100


# ---------------------------------------------------------------------------------- inflate


def test_inflate_stops_at_the_limit_and_says_so() -> None:
    data = b"x" * 5_000_000
    for packed, wbits in ((gzip.compress(data), GZIP), (zlib.compress(data), ZLIB)):
        assert inflate(packed, wbits, len(data), "w", "k") == data
        with pytest.raises(LimitExceeded, match="k"):
            inflate(packed, wbits, len(data) - 1, "w", "k")


def test_concatenated_gzip_members_all_count() -> None:
    """A decoder that stopped after the first member could be fed a bomb in the next ones."""
    data = gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 5_000_000)
    assert len(inflate(data, GZIP, 6_000_000, "w", "k")) == 5_001_000
    with pytest.raises(LimitExceeded):
        inflate(data, GZIP, 5_000_000, "w", "k")


def test_pieces_never_exceed_a_step_and_deflate_is_detected() -> None:
    data = b"y" * 3_000_000
    raw = zlib.compressobj(wbits=-15)
    for packed in (zlib.compress(data), raw.compress(data) + raw.flush()):
        inflater = Inflater(None, 10**9, "w", "k")
        pieces = list(inflater.feed(packed))
        assert b"".join(pieces) == data and max(map(len, pieces)) <= 1024 * 1024
        inflater.finish()


@pytest.mark.parametrize("packed", [gzip.compress(b"x" * 100)[:20], b"not compressed"])
def test_corrupt_or_truncated_data_is_a_value_error(packed: bytes) -> None:
    with pytest.raises(ValueError):
        inflate(packed, GZIP, 10**6, "w", "k")


# ---------------------------------------------------------------------------------- files


def test_read_bounded_reads_regular_files_within_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 2048)
    assert read_bounded(str(path), 2048) == b"x" * 2048
    with pytest.raises(LimitExceeded, match="maxFileBytes"):
        read_bounded(str(path), 2047)


def test_read_bounded_refuses_fifos_devices_and_directories_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: opening it for reading would block forever
    for path, kind in ((fifo, "FIFO"), ("/dev/zero", "character device"),
                       (tmp_path, "directory")):
        with pytest.raises(NotARegularFile, match=kind):
            read_bounded(str(path), 10**6)
    with pytest.raises(FileNotFoundError):
        read_bounded(str(tmp_path / "missing"), 10)


# ---------------------------------------------------------------------------------- config

NUMERIC_KEYS = [
    "connectionTimeout", "featuresRefreshRate", "segmentsRefreshRate", "metricsRefreshRate",
    "impressionsRefreshRate", "impressionsBulkSize", "impressionsQueueSize", "eventsPushRate",
    "eventsBulkSize", "eventsQueueSize", "destroyTimeout", "syncRetryBackoffBase",
    "syncRetryBackoffMax", "streamingReconnectBackoffBase", "streamingKeepaliveTimeout",
    "httpMaxResponseBytes", "httpRequestTimeout", "streamingMaxLineBytes",
    "streamingMaxEventBytes", "streamingMaxPayloadBytes", "maxFileBytes", "yamlMaxNodes",
    "jsonMaxDepth",
]
BAD_NUMBERS = [float("nan"), float("inf"), -float("inf"), -1, 10**400, 1e300, "10", None, True]


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
def test_bad_numbers_are_logged_and_replaced_by_the_default(
    value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = Config.from_dict(dict.fromkeys(NUMERIC_KEYS, value))
    default = Config()
    for field in ("connection_timeout_ms", "features_refresh_rate", "segments_refresh_rate",
                  "metrics_refresh_rate", "impressions_bulk_size", "impressions_queue_size",
                  "events_push_rate", "events_bulk_size", "events_queue_size",
                  "destroy_timeout", "sync_retry_base", "sync_retry_max",
                  "streaming_reconnect_base", "streaming_keepalive", "limits"):
        assert getattr(config, field) == getattr(default, field), field
    assert config.impressions_refresh_rate in (60, 300)  # official: raised to the minimum
    if value is not None:
        assert caplog.records and all(r.levelno == logging.WARNING for r in caplog.records)


def test_the_official_warnings_keep_their_wording(caplog: pytest.LogCaptureFixture) -> None:
    assert Config.from_dict({"metricsRefreshRate": -5}).metrics_refresh_rate == 3600
    assert "metricRefreshRate parameter minimum value is 60 seconds, defaulting to 3600 " \
           "seconds." in caplog.text


def test_limits_can_be_raised() -> None:
    limits = Config.from_dict({"httpMaxResponseBytes": 2**30, "jsonMaxDepth": 200,
                               "httpRequestTimeout": 120}).limits
    assert (limits.http_max_response_bytes, limits.json_max_depth,
            limits.http_request_timeout) == (2**30, 200, 120.0)
    assert Limits() == Config().limits


@pytest.mark.parametrize("url", ["not a url", "ftp://proxy:21", "http://:3128", "http://p:99999",
                                 "http://u:hunter2@p:port", 3128, ["http://p"]],
                         ids=repr)
def test_a_bad_proxy_url_is_ignored_and_its_password_never_shown(
    url: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert Config.from_dict({"proxyUrl": url}).proxy_url is None
    assert "proxyUrl" in caplog.text and "ignoring it" in caplog.text
    assert "hunter2" not in caplog.text


def test_good_proxy_urls_and_a_config_that_is_not_a_dict() -> None:
    for url in ("http://proxy:3128", "https://u:p@proxy.example.com", "socks5://127.0.0.1:1080"):
        assert Config.from_dict({"proxyUrl": url}).proxy_url == url
    assert Config.from_dict([("a", 1)]) == Config.from_dict({})  # type: ignore[arg-type]


def test_redis_numbers_are_validated_too(caplog: pytest.LogCaptureFixture) -> None:
    settings = RedisSettings.from_dict({
        "redisHost": "h", "redisPort": float("nan"), "redisDb": -1,
        "redisSocketTimeout": float("inf"), "redisLocalCacheTTL": -3,
        "redisMaxConnections": 0, "dataSampling": float("nan"),
    })
    assert (settings.port, settings.db, settings.socket_timeout, settings.local_cache_ttl,
            settings.max_connections, settings.data_sampling) == (6379, 0, None, 5.0, None, 1.0)
    assert RedisSettings.from_dict({"redisHost": "h", "redisPort": "6380"}).port == 6380
    assert caplog.text.count("is not a valid value") == 6


def test_finite_numbers() -> None:
    assert is_finite_number(1) and is_finite_number(-2.5) and is_finite_number(10**300)
    for value in (True, "1", None, math.nan, math.inf, 10**400):
        assert not is_finite_number(value)


def test_safe_repr_is_short_and_never_raises() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    deep: Any = []
    for _ in range(2000):
        deep = [deep]
    for value in (10**5000, deep, Broken(), "x" * 10_000, {"k": "v" * 500}):
        assert len(safe_repr(value)) <= 80


# ---------------------------------------------------------------------------------- logs


def test_redaction_masks_tokens_passwords_and_bearer_credentials() -> None:
    line = ('GET http://s/event-stream?v=1.1&accessToken=eyJ.abc.def&channels=x via '
            'http://user:hunter2@proxy:3128 with Authorization: Bearer sdk-key-123')
    cleaned = redact(line)
    for secret in ("eyJ.abc.def", "hunter2", "sdk-key-123"):
        assert secret not in cleaned
    assert "accessToken=***&channels=x" in cleaned and "http://user:***@proxy:3128" in cleaned
    assert redact("nothing to hide here") == "nothing to hide here"


def test_the_filter_rewrites_library_records_before_any_handler() -> None:
    record = logging.LogRecord("httpx", logging.INFO, "f", 1, "HTTP Request: %s %s", (
        "GET", "http://s/event-stream?accessToken=SECRET"), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "HTTP Request: GET http://s/event-stream?accessToken=***"


def test_throttled_log_says_how_many_lines_it_left_out(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = ThrottledLog(logging.getLogger("splitio.test"), interval=60, clock=lambda: now[0])
    for _ in range(5000):
        log.log(logging.WARNING, "bad", "Ignoring a streaming message: %s", "junk")
    log.log(logging.WARNING, "other", "another kind")
    now[0] = 61.0
    log.log(logging.WARNING, "bad", "Ignoring a streaming message: %s", "junk")
    assert [r.getMessage() for r in caplog.records] == [
        "Ignoring a streaming message: junk", "another kind",
        "Ignoring a streaming message: junk (4999 more like this in the last 61 s)",
    ]
    assert log.suppressed == 4999


def test_problem_log_logs_a_traceback_once_and_can_keep_what_it_saw(
    caplog: pytest.LogCaptureFixture
) -> None:
    problems = ProblemLog(logging.getLogger("splitio.test"))
    error = RuntimeError("bug")
    for _ in range(3):
        problems.problem("it failed", logging.ERROR, exc_info=error)
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is not None
    problems.recovered("x", forget=False)
    problems.problem("it failed")
    assert len(caplog.records) == 1 and problems.current == "it failed"


def test_a_transport_error_without_a_message_takes_its_causes() -> None:
    try:
        try:
            raise OSError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        except OSError as cause:
            raise ConnectionError() from cause
    except ConnectionError as exc:
        assert describe_error(exc) == ("ConnectionError: [SSL: CERTIFICATE_VERIFY_FAILED] "
                                       "certificate verify failed")
    assert describe_error(ValueError()) == "ValueError"
