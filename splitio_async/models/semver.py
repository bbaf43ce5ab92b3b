"""Semantic versions exactly as the official SDK parses and orders them.

The official parser converts components with Python's ``int()``, so it tolerates leading zeros,
surrounding whitespace, ``+1`` and ``1_0``; the conformance data relies on that leniency, so we keep
it rather than validate strictly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Semver:
    """A parsed version; ``normalized`` is what the equality and list matchers compare."""

    major: int
    minor: int
    patch: int
    pre_release: tuple[int | str, ...]
    metadata: str | None
    normalized: str

    @classmethod
    def parse(cls, text: str) -> Semver | None:
        """Return the version, or None when ``text`` is not one (the matcher then says no)."""
        try:
            return cls._parse(text)
        except (ValueError, TypeError):
            return None

    @classmethod
    def _parse(cls, text: str) -> Semver | None:
        rest, metadata = text, None
        if "+" in rest:
            rest, metadata = rest.split("+", 1)
            if not metadata:
                return None
        pre: tuple[int | str, ...] = ()
        if "-" in rest:
            rest, pre_text = rest.split("-", 1)
            if not pre_text:
                return None
            pre = tuple(int(p) if p.isnumeric() else p for p in pre_text.split("."))
        parts = rest.split(".")
        if len(parts) != 3:
            return None
        major, minor, patch = (int(p) for p in parts)
        normalized = f"{major}.{minor}.{patch}"
        if pre:
            normalized += "-" + ".".join(str(p) for p in pre)
        if metadata is not None:
            normalized += "+" + metadata
        return cls(major, minor, patch, pre, metadata, normalized)

    def compare(self, other: Semver) -> int:
        """-1, 0 or 1; build metadata is ignored here (but not by EQUAL_TO_SEMVER)."""
        if self.normalized == other.normalized:
            return 0
        for mine, theirs in (
            (self.major, other.major),
            (self.minor, other.minor),
            (self.patch, other.patch),
        ):
            if mine != theirs:
                return 1 if mine > theirs else -1
        if not self.pre_release and other.pre_release:
            return 1
        if self.pre_release and not other.pre_release:
            return -1
        for mine_id, theirs_id in zip(self.pre_release, other.pre_release, strict=False):
            if mine_id == theirs_id:
                continue
            if isinstance(mine_id, int) and isinstance(theirs_id, int):
                return 1 if mine_id > theirs_id else -1
            a, b = str(mine_id), str(theirs_id)
            if a != b:
                return 1 if a > b else -1
        if len(self.pre_release) != len(other.pre_release):
            return 1 if len(self.pre_release) > len(other.pre_release) else -1
        return 0
