"""Reading the files an operator points the SDK at (localhost flags and segments, bootstrap and
cache snapshots), within bounds. Called in worker threads, never on the event loop.

Only regular files are read, and only up to ``maxFileBytes``: a FIFO would block the reading
thread until some writer appears (a thread anyio cannot cancel, so ``get_factory`` would hang
for good), and ``/dev/zero`` or ``/dev/urandom`` never end. The file is opened without blocking
and checked with ``fstat`` on the open descriptor, so what is checked is what is read.
"""

from __future__ import annotations

import os
import stat

from ..limits import LimitExceeded

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_CHUNK = 1024 * 1024


class NotARegularFile(OSError):
    """A FIFO, a device, a directory, a socket: nothing the SDK can read as a whole."""


def read_bounded(path: str, limit: int) -> bytes:
    """The file's bytes; ``NotARegularFile``, ``LimitExceeded`` (naming ``maxFileBytes``) or
    the ``OSError`` of opening it."""
    descriptor = os.open(path, _OPEN_FLAGS)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"not a regular file ({_kind(info.st_mode)})")
        if info.st_size > limit:
            raise LimitExceeded(f"the file ({info.st_size:,} bytes)", "maxFileBytes", limit)
        chunks = []
        size = 0
        while True:  # the file may grow while it is read: read at most one byte past the limit
            chunk = os.read(descriptor, min(_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise LimitExceeded("the file", "maxFileBytes", limit)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"
