#!/usr/bin/env python3
"""Write the blocking API's copy of the methods both APIs share, from the async source.

The async client and manager (``splitio_async/client.py``, ``splitio_async/manager.py``) hold the
only written copy of the public methods the blocking shim mirrors, between the markers
``# --- shared methods`` and ``# --- end of shared methods ---``. This script rewrites the same
block of the shim's modules by plain text rules (as httpcore's ``scripts/unasync.py`` does):
``async def`` -> ``def``, ``await`` dropped, ``Driver.resolve`` -> ``Driver.resolve_blocking``.

    python scripts/unasync.py          # rewrite the shim's blocks
    python scripts/unasync.py --check  # exit 1 if a block is stale (tests/test_unasync.py)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAIRS = (
    ("splitio_async/client.py", "splitio_sync_shim/client.py"),
    ("splitio_async/manager.py", "splitio_sync_shim/manager.py"),
)
BEGIN = re.compile(r"^    # --- shared methods.*$", re.MULTILINE)
END = "    # --- end of shared methods ---"
RULES = (
    (re.compile(r"\basync def "), "def "),
    (re.compile(r"\bawait "), ""),
    (re.compile(r"\._driver\.resolve\("), "._driver.resolve_blocking("),
)


def _block(text: str, path: str) -> tuple[int, int]:
    """Where the shared block's body starts and ends in ``text``."""
    begin = BEGIN.search(text)
    end = text.find(END)
    if begin is None or end < begin.end():
        raise SystemExit(f"{path}: no '# --- shared methods' ... '{END.strip()}' block")
    return begin.end() + 1, end


def blocking_copy(source: str) -> str:
    """The shared block of the async ``source`` as the blocking API has it."""
    start, end = _block(source, "source")
    body = source[start:end]
    for pattern, replacement in RULES:
        body = pattern.sub(replacement, body)
    return body


def generated(source_path: str, target_path: str) -> tuple[str, str]:
    """The target module's current text and its text with a fresh block."""
    source = (REPO / source_path).read_text()
    target = (REPO / target_path).read_text()
    start, end = _block(target, target_path)
    return target, target[:start] + blocking_copy(source) + target[end:]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for source_path, target_path in PAIRS:
        current, fresh = generated(source_path, target_path)
        if current != fresh:
            stale.append(target_path)
            if not check:
                (REPO / target_path).write_text(fresh)
    if check and stale:
        print(f"stale (run scripts/unasync.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    for path in stale:
        print(f"rewrote the shared block of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
