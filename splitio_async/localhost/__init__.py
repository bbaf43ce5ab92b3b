"""Pure parsers of the localhost-mode files: no I/O, no anyio.

Callers read the file (off the event loop) and hand the text over, with the path as ``source``
for error messages. Legacy ``.split`` and YAML files become ready-made Split API flag dicts; JSON
files are sanitized like the official SDK does, so they evaluate the same way.
"""

from __future__ import annotations

from splitio_async.localhost.formats import LocalhostFormat as LocalhostFormat
from splitio_async.localhost.formats import detect_format as detect_format
from splitio_async.localhost.json_file import SegmentFile as SegmentFile
from splitio_async.localhost.json_file import SplitChangesFile as SplitChangesFile
from splitio_async.localhost.json_file import parse_segment as parse_segment
from splitio_async.localhost.json_file import parse_split_changes as parse_split_changes
from splitio_async.localhost.json_file import sanitize_segment as sanitize_segment
from splitio_async.localhost.json_file import sanitize_split_changes as sanitize_split_changes
from splitio_async.localhost.legacy_file import parse_legacy as parse_legacy
from splitio_async.localhost.yaml_file import parse_yaml as parse_yaml

__all__ = (
    "LocalhostFormat",
    "SegmentFile",
    "SplitChangesFile",
    "detect_format",
    "parse_legacy",
    "parse_segment",
    "parse_split_changes",
    "parse_yaml",
    "sanitize_segment",
    "sanitize_split_changes",
)
