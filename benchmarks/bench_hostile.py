"""What the defences against hostile input cost, and what they bound (issue 16).

    .venv/bin/python benchmarks/bench_hostile.py

* RESP: a 20,000-flag ``MGET`` reply (2 KB per flag) parsed as it arrives in 64 KiB reads;
  linear now (the reader used to re-parse the buffer from its start on every read).
* Segments: one-key deltas to a 5,000,000-key segment (they used to copy the whole set).
* JSON: a 20,000-flag ``splitChanges`` answer, ``json.loads`` against the sliced decoder, with
  the longest slice (the longest the event loop would wait between two checkpoints), with the
  cyclic garbage collector on (as in production) and off (to show what is the decoder's).
* Bombs: unpacking a 1 GiB gzip bomb up to the 64 MiB default limit.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from splitio_async import bounded_json
from splitio_async.inflate import GZIP, inflate
from splitio_async.limits import LimitExceeded
from splitio_async.redis.resp import ReplyReader
from splitio_async.storage.snapshot import Snapshot, apply_segment_change
from tests.fakes.hostile import deflate_bomb
from tests.helpers import rollout_flag


def resp() -> str:
    item = b"$2000\r\n" + b"x" * 2000 + b"\r\n"
    data = b"*20000\r\n" + item * 20000
    reader = ReplyReader()
    started = time.perf_counter()
    replies = None
    for start in range(0, len(data), 65536):
        reader.feed(data[start:start + 65536])
        replies = reader.take(1)
    assert replies is not None and len(replies[0]) == 20000
    return f"RESP, 20,000 x 2 KB MGET in 64 KiB reads: {time.perf_counter() - started:.3f} s"


def segments() -> str:
    big = frozenset(f"user-{i}" for i in range(5_000_000))
    snapshot = apply_segment_change(Snapshot(), "s", big, frozenset(), 1, True)
    started = time.perf_counter()
    for i in range(1000):
        snapshot = apply_segment_change(snapshot, "s", {f"new-{i}"}, {f"user-{i}"}, 2 + i)
    per = (time.perf_counter() - started) / 1000
    return f"segment, one-key delta to 5M keys: {per * 1e6:.0f} us per delta"


def decoding() -> list[str]:
    flags = [rollout_flag(f"flag_{i}", sets=["a"], extra=[f"u{j}" for j in range(30)])
             for i in range(20000)]
    text = json.dumps({"ff": {"d": flags, "s": -1, "t": 1}, "rbs": {"d": [], "s": -1, "t": -1}})
    size = len(text) / 2**20
    lines = []
    for collector in ("on", "off"):
        if collector == "off":
            gc.disable()
        gc.collect()
        started = time.perf_counter()
        json.loads(text)
        whole = time.perf_counter() - started
        steps = bounded_json.parse_steps(text, 64)
        longest, last, started = 0.0, time.perf_counter(), time.perf_counter()
        while True:
            try:
                next(steps)
            except StopIteration:
                break
            now = time.perf_counter()
            longest, last = max(longest, now - last), now
        longest = max(longest, time.perf_counter() - last)
        lines.append(f"JSON {size:.1f} MiB, gc {collector}: json.loads {whole:.2f} s in one "
                     f"go; sliced {time.perf_counter() - started:.2f} s, longest slice "
                     f"{longest * 1000:.0f} ms")
        gc.enable()
    return lines


def bomb() -> str:
    blob = deflate_bomb(31)
    started = time.perf_counter()
    with contextlib.suppress(LimitExceeded):
        inflate(blob, GZIP, 64 * 2**20, "bomb", "httpMaxResponseBytes")
    return f"gzip bomb (1 GiB) refused at 64 MiB after {time.perf_counter() - started:.3f} s"


if __name__ == "__main__":
    for line in (resp(), segments(), *decoding(), bomb()):
        print(line)
