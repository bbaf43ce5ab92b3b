"""``Key``: a matching key plus the bucketing key that decides the treatment's bucket."""

from __future__ import annotations


class Key:
    """Use a bucketing key different from the matching key, e.g. to keep an anonymous visitor and
    the account they later log in to in the same bucket.

    Args:
        matching_key: the key the flags' targeting rules match (user id...).
        bucketing_key: the key hashed to pick the treatment's bucket.

    Both are checked when the key is used, not here: an invalid part makes that call answer
    ``control`` (logged); building a ``Key`` never raises.
    """

    __slots__ = ("_bucketing_key", "_matching_key")

    def __init__(self, matching_key: object, bucketing_key: object) -> None:
        self._matching_key = matching_key
        self._bucketing_key = bucketing_key

    @property
    def matching_key(self) -> object:
        """The key targeting rules match, as given."""
        return self._matching_key

    @property
    def bucketing_key(self) -> object:
        """The key hashed into a bucket, as given."""
        return self._bucketing_key

    def __repr__(self) -> str:
        return f"Key({self._matching_key!r}, {self._bucketing_key!r})"
