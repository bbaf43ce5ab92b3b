"""The bounded SSE reader (``transport/sse.py``), fed by hand: the event rules httpx-sse
applies, bytes split anywhere, and the limits on lines, events and slow events."""

from __future__ import annotations

import pytest
from httpx_sse import ServerSentEvent

from splitio_async.limits import Limits
from splitio_async.transport.sse import StreamError, _EventDecoder

STREAM = (
    b": keepalive\n"
    b"id: 1\r\nevent: message\r\ndata: {\"a\": 1}\r\n\r\n"
    b"data: first\rdata: second\r\r"  # lone CRs end lines too
    b"event: error\ndata:no space\nretry: 2500\n\n"
    b"id\n\n"  # a field without a colon; an empty id: an event with only an id counts
    b"unknown: field\n\n"
)


def events(decoder: _EventDecoder, data: bytes) -> list[tuple[str, str, str, int | None]]:
    return [(e.event, e.data, e.id, e.retry) for e in decoder.feed(data)]


def expected() -> list[tuple[str, str, str, int | None]]:
    return [
        ("message", '{"a": 1}', "1", None),
        ("message", "first\nsecond", "1", None),  # the id persists (SSE rules)
        ("error", "no space", "1", 2500),
    ]


def test_events_as_httpx_sse_reads_them() -> None:
    assert events(_EventDecoder(Limits(), 70), STREAM) == expected()


def test_the_same_events_whatever_the_bytes_are_split() -> None:
    for cut in range(1, len(STREAM)):
        decoder = _EventDecoder(Limits(), 70)
        got = events(decoder, STREAM[:cut]) + events(decoder, STREAM[cut:])
        assert got == expected(), cut
    decoder = _EventDecoder(Limits(), 70)
    assert [e for b in STREAM for e in events(decoder, bytes([b]))] == expected()


def test_a_line_longer_than_the_limit_ends_the_stream() -> None:
    decoder = _EventDecoder(Limits(streaming_max_line_bytes=1024), 70)
    decoder.feed(b"data: " + b"a" * 1000)
    with pytest.raises(StreamError, match="streamingMaxLineBytes") as caught:
        decoder.feed(b"a" * 100)
    assert caught.value.limit
    with pytest.raises(StreamError, match="streamingMaxLineBytes"):  # arriving whole
        _EventDecoder(Limits(streaming_max_line_bytes=1024), 70).feed(b"a" * 2000 + b"\n")


def test_an_event_longer_than_the_limit_ends_the_stream() -> None:
    decoder = _EventDecoder(Limits(streaming_max_event_bytes=1024), 70)
    with pytest.raises(StreamError, match="streamingMaxEventBytes"):
        decoder.feed(b"data: x\n" * 200)
    ok = _EventDecoder(Limits(streaming_max_event_bytes=1024), 70)
    for _ in range(1000):  # many events, each small: fine
        assert len(ok.feed(b"data: x\n\n")) == 1
    assert len(ok.feed(b": comment\n" * 1000)) == 0  # comments are not an event


def test_an_event_that_takes_too_long_to_arrive_ends_the_stream() -> None:
    decoder = _EventDecoder(Limits(), stall=0.0)
    decoder.feed(b"data: slo")
    with pytest.raises(StreamError, match="keepalive window") as caught:
        decoder.feed(b"w")
    assert caught.value.limit
    calm = _EventDecoder(Limits(), stall=0.0)
    for _ in range(3):  # keepalives between events never count as an event in progress
        assert calm.feed(b":keepalive\n") == []


def test_the_event_type_is_httpx_sses() -> None:
    [event] = _EventDecoder(Limits(), 70).feed(b"data: x\n\n")
    assert isinstance(event, ServerSentEvent)
