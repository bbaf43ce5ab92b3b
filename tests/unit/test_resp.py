"""The RESP reader and packer behind the Redis batches (``transport/resp.py``), fed by hand:
replies split anywhere, every RESP2 type, the RESP3 types a user's pool may negotiate."""

from __future__ import annotations

import pytest
import redis

from splitio_async.redis.resp import ReplyReader, first_error, node_unusable, pack

STREAM = (
    b"$6\r\nh\xc3\xa9llo\r\n"  # bulk string (UTF-8: 6 bytes)
    b"$-1\r\n"  # null bulk
    b":42\r\n"
    b"+OK\r\n"
    b"*3\r\n$1\r\na\r\n*1\r\n:1\r\n$-1\r\n"  # nested array
    b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    b"*-1\r\n"
)
EXPECTED = ["héllo", None, 42, "OK", ["a", [1], None]]


def test_replies_split_at_every_byte_come_out_whole() -> None:
    for cut in range(1, len(STREAM)):
        reader = ReplyReader()
        reader.feed(STREAM[:cut])
        taken = reader.take(7)
        if taken is None:
            reader.feed(STREAM[cut:])
            taken = reader.take(7)
        assert taken is not None
        assert taken[:5] == EXPECTED
        assert isinstance(taken[5], redis.ResponseError) and taken[6] is None
        assert first_error(taken) is taken[5]


def test_nothing_is_consumed_until_all_replies_arrived() -> None:
    reader = ReplyReader()
    reader.feed(b":1\r\n$3\r\nab")
    assert reader.take(2) is None
    assert reader.take(1) == [1]
    reader.feed(b"c\r\n")
    assert reader.take(1) == ["abc"]


def test_resp3_types() -> None:
    reader = ReplyReader()
    reader.feed(b"~2\r\n$1\r\nb\r\n$1\r\na\r\n_\r\n#t\r\n,1.5\r\n%1\r\n+k\r\n:2\r\n")
    assert reader.take(5) == [["b", "a"], None, True, 1.5, ["k", 2]]


def test_garbage_and_a_closed_connection_are_connection_errors() -> None:
    reader = ReplyReader()
    reader.feed(b"?what\r\n")
    with pytest.raises(redis.ConnectionError):
        reader.take(1)
    with pytest.raises(redis.ConnectionError):
        ReplyReader().feed(b"")


def test_pack_makes_resp_arrays_of_bulk_strings() -> None:
    assert pack([("get", "ké"), ("hincrby", "h", "f", 3)]) == (
        b"*2\r\n$3\r\nget\r\n$3\r\nk\xc3\xa9\r\n*4\r\n$7\r\nhincrby\r\n$1\r\nh\r\n$1\r\nf\r\n"
        b"$1\r\n3\r\n"
    )
    with pytest.raises(TypeError):
        pack([("set", "k", True)])
    long_value, many = "v" * 600, ("rpush", "k", *("x" * 40))
    assert pack([("set", "k", long_value)]) == (
        b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$600\r\n" + long_value.encode() + b"\r\n"
    )
    assert pack([many]).startswith(b"*42\r\n$5\r\nrpush\r\n$1\r\nk\r\n$1\r\nx\r\n")


def test_errors_that_mean_connect_afresh() -> None:
    for message in ("READONLY You can't write against a read only replica.",
                    "LOADING Redis is loading the dataset in memory",
                    "MASTERDOWN Link with MASTER is down"):
        assert node_unusable(redis.ResponseError(message))
    assert not node_unusable(redis.ResponseError("WRONGTYPE Operation against a key"))
