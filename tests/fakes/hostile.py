"""Hostile inputs for the fake Split server, and how the tests measure what they cost.

Everything big is generated lazily (``FakeSplitServer.serve_generated``, ``push_generated``):
a 1 GiB gzip bomb is about 1 MiB built once per session, a 1 GB body is one 1 MiB chunk sent
again and again, an endless line never ends. The SDK stops reading at its limits, so a test
costs what the limit allows, not what the server offers.

Measures:

* ``PeakRss``: the process's peak resident memory above a baseline. Linux lets a process reset
  its own high-water mark (``/proc/self/clear_refs``), so ``VmHWM`` then reads the peak of the
  measured window exactly, spikes included. File I/O: call it from a worker thread in async
  tests (``anyio.to_thread``), as the blocking-call detector requires.
* ``LoopWatch``: the longest stall of an event loop: a task sleeps 5 ms again and again and
  records how late it wakes up. The test harness's own garbage (pytest keeps every log record
  and report) is frozen out of the collector while it runs (``gc.freeze``), so a full
  collection of pytest's objects is not counted against the SDK.
"""

from __future__ import annotations

import base64
import functools
import gc
import itertools
import json
import re
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio

from tests.fakes.split_server import FakeSplitServer

MiB = 1024 * 1024
GiB = 1024 * MiB
RSS_BOUND_MB = 200  # documented bound: peak resident memory above baseline under attack
STALL_BOUND_S = 0.100  # documented bound: longest event-loop stall under attack


@functools.cache
def deflate_bomb(wbits: int, size: int = GiB) -> bytes:
    """``size`` bytes of spaces, gzip (``wbits`` 31) or zlib (15) compressed to about a
    thousandth: one full-flushed 1 MiB block repeated (identical bytes after a full flush),
    then the right trailer. Built in well under a second."""
    chunk = b" " * MiB
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    last_block = compressor.flush()  # final empty block + the trailer for 2 MiB: replaced
    count = size // MiB
    body = first + repeated * (count - 1)
    check = 0 if wbits == 31 else 1
    for _ in range(count):  # crc32 / adler32 of the whole, without building it
        check = zlib.crc32(chunk, check) if wbits == 31 else zlib.adler32(chunk, check)
    trailer_size = 8 if wbits == 31 else 4
    final_block = last_block[:-trailer_size]
    if wbits == 31:
        trailer = check.to_bytes(4, "little") + (size % 2**32).to_bytes(4, "little")
    else:
        trailer = check.to_bytes(4, "big")
    return body + final_block + trailer


def gzip_bomb_body() -> Callable[[], Iterator[bytes]]:
    """A body for ``serve_generated`` with ``Content-Encoding: gzip``."""
    blob = deflate_bomb(31)
    return lambda: (blob[i:i + 65536] for i in range(0, len(blob), 65536))


def endless(chunk: bytes = b" " * MiB, prefix: bytes = b"") -> Callable[[], Iterator[bytes]]:
    """``prefix`` then ``chunk`` forever (the client has to stop reading)."""
    return lambda: itertools.chain((prefix,) if prefix else (), itertools.repeat(chunk))


def sized(total: int, chunk: bytes = b" " * MiB) -> Callable[[], Iterator[bytes]]:
    """Exactly ``total`` bytes (a multiple of ``len(chunk)``)."""
    return lambda: itertools.repeat(chunk, total // len(chunk))


def trickle(every: float, byte: bytes = b" ") -> Callable[[], Iterator[bytes]]:
    """One byte every ``every`` seconds, forever: each read arrives in time, the answer never
    ends."""
    def chunks() -> Iterator[bytes]:
        yield b'{"ff": '
        while True:
            time.sleep(every)
            yield byte
    return chunks


def bomb_update(server: FakeSplitServer, compression: int, pcn: int, cn: int) -> str:
    """A SPLIT_UPDATE whose payload (base64, 1.4 MB on the wire) unpacks to 1 GiB."""
    blob = deflate_bomb(31 if compression == 1 else 15)
    data = {"type": "SPLIT_UPDATE", "changeNumber": cn, "pcn": pcn, "c": compression,
            "d": base64.b64encode(blob).decode()}
    return server.message_event(server.splits_channel, json.dumps(data))


def nested_message(server: FakeSplitServer, depth: int = 100_000) -> str:
    """A message whose payload nests ``depth`` levels (far past the recursion limit)."""
    return server.message_event(server.splits_channel, "[" * depth + "]" * depth)


class PeakRss:
    """Peak resident memory of this process above a baseline (MB); see the module docstring."""

    def __init__(self) -> None:
        self.baseline_kb = 0

    @staticmethod
    def _status() -> dict[str, int]:
        text = Path("/proc/self/status").read_text()
        return {key: int(value) for key, value in re.findall(r"(VmHWM|VmRSS):\s+(\d+)", text)}

    def reset(self) -> None:
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        self.baseline_kb = self._status()["VmRSS"]

    def above_baseline_mb(self) -> float:
        return (self._status()["VmHWM"] - self.baseline_kb) / 1024


class LoopWatch:
    """The longest stall of the event loop it runs in (seconds); see the module docstring."""

    PERIOD = 0.005

    def __init__(self) -> None:
        self.worst = 0.0
        self.samples = 0

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        gc.freeze()
        try:
            task_status.started()
            while True:
                started = time.perf_counter()
                await anyio.sleep(self.PERIOD)
                self.worst = max(self.worst, time.perf_counter() - started - self.PERIOD)
                self.samples += 1
        finally:
            gc.unfreeze()
