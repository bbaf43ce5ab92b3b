"""gzip / zlib / deflate decompression that never produces more than it is allowed to.

A megabyte of gzip can unpack to a gigabyte. ``Inflater`` feeds the compressed bytes to zlib
asking for at most ``STEP`` bytes of output at a time (``max_length``), so a bomb is detected
after ``limit`` bytes, not after it has filled the memory; between steps an async caller yields
to the event loop. Concatenated gzip members (valid gzip, and a way round a decoder that stops
after the first) are followed too.

Pure: stdlib only.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from .limits import LimitExceeded

STEP = 1024 * 1024  # bytes of output per zlib call (about a millisecond)

GZIP = 16 + zlib.MAX_WBITS
ZLIB = zlib.MAX_WBITS
RAW_DEFLATE = -zlib.MAX_WBITS


class Inflater:
    """Decompresses a stream fed in chunks; ``feed`` yields output pieces of at most ``STEP``
    bytes and raises ``LimitExceeded`` as soon as the total passes ``limit``."""

    def __init__(self, wbits: int | None, limit: int, what: str, key: str) -> None:
        """``wbits`` None: "deflate" as HTTP servers send it, zlib-wrapped or raw (told
        apart by the first byte)."""
        self._wbits = wbits
        self._limit = limit
        self._what = what
        self._key = key
        self._inflater: zlib._Decompress | None = None
        self._produced = 0

    @property
    def produced(self) -> int:
        return self._produced

    def _new(self, first: bytes) -> zlib._Decompress:
        wbits = self._wbits
        if wbits is None:  # zlib header: CM = 8 and a header checksum that divides by 31
            zlib_wrapped = len(first) >= 2 and first[0] & 0x0F == 8 and (
                (first[0] << 8) | first[1]) % 31 == 0
            wbits = ZLIB if zlib_wrapped else RAW_DEFLATE
        return zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._inflater is None:
                self._inflater = self._new(data)
            inflater = self._inflater
            while True:
                try:
                    piece = inflater.decompress(data, STEP)
                except zlib.error as exc:
                    raise ValueError(f"{self._what}: corrupt compressed data ({exc})") from None
                data = inflater.unconsumed_tail
                if piece:
                    self._produced += len(piece)
                    if self._produced > self._limit:
                        raise LimitExceeded(self._what, self._key, self._limit)
                    yield piece
                if inflater.eof or (not data and len(piece) < STEP):
                    break  # the stream ended, or all input is consumed and nothing is pending
            data = b""
            if inflater.eof and self._wbits == GZIP:  # a gzip member ended: another may follow
                data = inflater.unused_data
                self._inflater = None

    def finish(self) -> None:
        """The input ended: it must have ended a complete stream (after the bytes that
        follow a complete zlib or deflate stream are ignored)."""
        if self._inflater is not None and not self._inflater.eof:
            raise ValueError(f"{self._what}: the compressed data is truncated")


def inflate(data: bytes, wbits: int, limit: int, what: str, key: str) -> bytes:
    """All of ``data`` decompressed at once, refused past ``limit`` bytes."""
    inflater = Inflater(wbits, limit, what, key)
    out = b"".join(inflater.feed(data))
    inflater.finish()
    return out
