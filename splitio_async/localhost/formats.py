"""Which parser reads a localhost split file, decided from its name alone.

The rule is the official SDK's, byte for byte, so a file keeps meaning the same thing after a
migration (e.g. ``flags.JSON`` is JSON but ``flags.YML`` is YAML, both case-insensitive, while a
``.json5`` file falls through to the legacy text format).
"""

from __future__ import annotations

from typing import Literal

LocalhostFormat = Literal["json", "yaml", "legacy"]


def detect_format(path: str) -> LocalhostFormat:
    """Return the format of the split file at ``path``; anything unrecognised is legacy."""
    if path[-5:].lower() == ".json":
        return "json"
    if path.lower().endswith((".yaml", ".yml")):
        return "yaml"
    return "legacy"
