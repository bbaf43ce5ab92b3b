"""Parser of the legacy ``.split`` text format: one ``<flag> <treatment>`` pair per line.

The format is forgiving in the official SDK (a bad line is only logged), so it is here too: one
typo must not take every other flag down with it.
"""

from __future__ import annotations

import re
from typing import Any

from splitio_async.localhost._common import LOGGER, all_keys_condition, synthesized_flag

# The official regex, kept verbatim (the look-behind is a no-op) so that exactly the same lines
# are accepted. Applied to a line without its newline, ``$`` rejects trailing whitespace, as there.
_DEFINITION_RE = re.compile(r"^(?<![^#])(?P<feature>[\w_-]+)\s+(?P<treatment>[\w_-]+)$")


def _lines(text: str) -> list[str]:
    # Universal newlines, as reading the file in text mode would give; ``str.splitlines`` would also
    # split on form feeds and Unicode separators, which a file iterator never does.
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_legacy(text: str, source: str) -> list[dict[str, Any]]:
    """Turn the text of a ``.split`` file into Split API flag dicts, one per flag name.

    ``source`` is accepted for symmetry with the other parsers; this format never fails, so it is
    not used in any message.
    """
    del source
    treatments: dict[str, str] = {}
    for line in _lines(text):
        if not line.strip() or line.startswith("#"):
            continue
        match = _DEFINITION_RE.match(line)
        if match is None:
            LOGGER.warning(
                "Invalid line on localhost environment feature flag definition. Line = %s", line
            )
            continue
        treatments[match.group("feature")] = match.group("treatment")
    return [
        synthesized_flag(name, [all_keys_condition(treatment)], None)
        for name, treatment in treatments.items()
    ]
