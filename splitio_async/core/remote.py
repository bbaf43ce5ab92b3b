"""What the cores need from a store whose reads need I/O (Redis consumer mode; pluggable storage
next), and how a failed read is reported.

``RemoteReads`` is the cores' side of the contract: what to read (an evaluation's data, a flag
set's members, whether a traffic type exists, the manager's flags), not which command reads it.
Each read is either answered from the store's local cache at once (``cached``,
``cached_traffic_type``: no generator, the hot path of a cached call) or returned as steps (see
``steps``). ``StorageProblems`` turns a read that failed into None, logged once until the store
answers again, so that a call gets ``control`` with the ``exception`` label rather than an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, TypeVar

from ..engine.evaluator import EvaluationData
from ..models.splits import Split
from .steps import Steps

_LOGGER = logging.getLogger("splitio.storage.redis")

T = TypeVar("T")


class RemoteReads(Protocol):
    """The reads of a remote store, as steps (see the module docstring)."""

    def cached(self, names: tuple[str, ...], matching_key: str) -> EvaluationData | None:
        """The data to evaluate ``names`` for ``matching_key`` if the local cache holds it."""
        ...

    def gather(
        self, names: Sequence[str], matching_key: str | None, flag_sets: Sequence[str] = ()
    ) -> Steps[tuple[EvaluationData, list[str]]]:
        """The data to evaluate ``names`` and the members of ``flag_sets`` for
        ``matching_key``, and the names to evaluate (``names``, then the sets' members)."""
        ...

    def cached_traffic_type(self, name: str) -> bool | None:
        """Whether some flag uses traffic type ``name``, if the local cache knows."""
        ...

    def traffic_type_exists(self, name: str) -> Steps[bool]:
        """Whether some flag uses traffic type ``name``."""
        ...

    def flag_names(self) -> Steps[list[str]]:
        """Every flag's name."""
        ...

    def all_flags(self) -> Steps[list[Split]]:
        """Every flag."""
        ...

    def flag(self, name: str) -> Steps[Split | None]:
        """One flag, None if the store has none by that name."""
        ...


class StorageProblems:
    """Logs a failed read once, and the recovery once, however many calls see them."""

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current: str | None = None

    def failed(self, exc: BaseException) -> None:
        problem = f"{type(exc).__name__}: {exc}"
        if self.current is None:
            _LOGGER.error(
                "Error fetching data from Redis (%s); evaluations return control with the "
                "exception label until Redis answers again", problem,
            )
        self.current = problem

    def recovered(self) -> None:
        if self.current is not None:
            _LOGGER.info("Redis answers again; evaluations use its data")
            self.current = None

    def read(self, steps: Steps[T]) -> Steps[T | None]:
        """``steps``' result, or None (logged once) when the store could not be read."""
        try:
            result = yield from steps
        except Exception as exc:
            self.failed(exc)
            return None
        self.recovered()
        return result


class Remote:
    """A remote store as the cores use it: its reads, the problem log they share with the
    factory's status, and ``dataSampling`` (the share of evaluations whose impressions are
    kept, as the official consumer modes do)."""

    __slots__ = ("problems", "reads", "sampling")

    def __init__(
        self, reads: RemoteReads, problems: StorageProblems | None = None, sampling: float = 1.0
    ) -> None:
        self.reads = reads
        self.problems = problems if problems is not None else StorageProblems()
        self.sampling = sampling
