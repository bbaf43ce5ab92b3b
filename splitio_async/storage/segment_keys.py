"""The members of one segment, immutable, updated in time proportional to the change.

A segment can hold millions of keys and change by a handful; ``(keys | added) - removed`` on a
frozenset copies all of them for every change (0.75 s of CPU for a one-key change to a 5M-key
segment, all of it stalling the event loop). ``SegmentKeys`` keeps a large, rarely rebuilt
``base`` and a short stack of immutable ``layers`` of changes on top of it. Applying a change
adds a layer (the cost of the change); layers are merged like a binary counter (a layer is
merged with the one below when that one is not more than twice its size), so each key is
copied O(log n) times and a lookup checks at most a few small sets before the base. Once the
layers hold half as many keys as the base, everything is rebuilt into a new base: O(n), but
only after n/2 changed keys, so O(1) per changed key overall.

Lookups never lock: the object is immutable; an update returns a new one sharing the base.
``len`` is exact and O(1): each change counts what it really adds and removes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Set

_EMPTY: frozenset[str] = frozenset()
SMALL = 4096  # a segment this small is simply copied: a layer would not pay for itself


class SegmentKeys(Set[str]):
    """A segment's members: ``key in keys``, ``len(keys)``, iteration, set comparisons."""

    __slots__ = ("_base", "_layered", "_layers", "_len")

    def __init__(
        self,
        base: Set[str] = _EMPTY,
        layers: tuple[tuple[frozenset[str], frozenset[str]], ...] = (),
        length: int | None = None,
    ) -> None:
        self._base = base
        self._layers = layers  # (added, removed), oldest first; added and removed are disjoint
        self._layered = sum(len(a) + len(r) for a, r in layers)
        self._len = len(base) if length is None else length

    def __contains__(self, key: object) -> bool:
        for added, removed in reversed(self._layers):
            if key in removed:
                return False
            if key in added:
                return True
        return key in self._base

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[str]:
        if not self._layers:
            return iter(self._base)
        return iter(self._materialize())

    @classmethod
    def _from_iterable(cls, iterable: Iterable[str]) -> frozenset[str]:  # type: ignore[override]
        """Set operators (``keys - other``...) give plain frozensets."""
        return frozenset(iterable)

    def __repr__(self) -> str:
        return f"SegmentKeys({len(self)} keys, {len(self._layers)} layers)"

    def _materialize(self) -> frozenset[str]:
        keys = set(self._base)
        for added, removed in self._layers:
            keys -= removed
            keys |= added
        return frozenset(keys)

    def changed(self, added: Iterable[str], removed: Iterable[str]) -> SegmentKeys:
        """These members plus ``added``, minus ``removed`` (a key in both is removed, as the
        official SDK's storage does: additions first, then removals)."""
        removed = removed if isinstance(removed, frozenset) else frozenset(removed)
        added = (added if isinstance(added, frozenset) else frozenset(added)) - removed
        if not added and not removed:
            return self
        if len(self) <= SMALL and not self._layers:
            return SegmentKeys(frozenset((set(self._base) | added) - removed))
        new_members = sum(1 for key in added if key not in self)
        gone = sum(1 for key in removed if key in self)
        layers = [*self._layers, (added, removed)]
        while len(layers) > 1 and _size(layers[-2]) <= 2 * _size(layers[-1]):
            newer = layers.pop()
            layers[-1] = _merge(layers[-1], newer)
        result = SegmentKeys(self._base, tuple(layers), self._len + new_members - gone)
        if result._layered > len(self._base) // 2:
            return SegmentKeys(result._materialize())
        return result


def _size(layer: tuple[frozenset[str], frozenset[str]]) -> int:
    return len(layer[0]) + len(layer[1])


def _merge(
    older: tuple[frozenset[str], frozenset[str]], newer: tuple[frozenset[str], frozenset[str]]
) -> tuple[frozenset[str], frozenset[str]]:
    """One layer equivalent to ``older`` then ``newer``."""
    old_added, old_removed = older
    new_added, new_removed = newer
    return (old_added - new_removed) | new_added, (old_removed - new_added) | new_removed


def members(keys: Iterable[str]) -> Set[str]:
    """Members from a full list (a first fetch, a file): a plain frozenset."""
    return keys if isinstance(keys, frozenset) else frozenset(keys)
