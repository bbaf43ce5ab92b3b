"""What the cores need from a store whose reads need I/O (Redis consumer mode; pluggable storage
next), and how a failed read is reported.

``RemoteReads`` is the cores' side of the contract: what to read (an evaluation's data, a flag
set's members, whether a traffic type exists, the manager's flags), not which command reads it.
Each read is either answered from the store's local cache at once (``cached``,
``cached_traffic_type``: no generator, the hot path of a cached call) or returned as steps (see
``steps``) that read in the storage-neutral vocabulary of ``storage.reads``. ``StorageProblems``
turns a read that failed into None, logged once -- as the store unavailable or as data it could
not use, told apart by ``storage.reads.unavailable`` -- so that a call gets ``control`` with the
``exception`` label rather than an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, TypeVar

from ..engine.evaluator import EvaluationData
from ..models.splits import Split
from ..storage.reads import MAX_DATA_PROBLEMS_LOGGED, describe_error, unavailable
from .steps import Steps

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
    """Logs a failed read once, however many calls see it, telling the store being unavailable
    (logged once until it answers again, and the recovery once) from data it answered that could
    not be used (each distinct problem logged once): a parsing bug must not read as "Redis is
    unavailable". ``current`` is the last call's problem (None once a read succeeds)."""

    __slots__ = ("_data_problems", "_down", "_logger", "_store", "current")

    def __init__(self, store: str = "Redis", logger: str = "splitio.storage.redis") -> None:
        self.current: str | None = None
        self._store = store
        self._logger = logging.getLogger(logger)
        self._down = False
        self._data_problems: set[str] = set()

    def failed(self, exc: BaseException) -> None:
        down = unavailable(exc)
        problem = describe_error(exc)
        self.current = problem
        if down:
            if not self._down:
                self._down = True
                self._logger.error(
                    "Error fetching data from %s (%s); evaluations return control with the "
                    "exception label until %s answers again", self._store, problem, self._store,
                )
        elif problem not in self._data_problems:
            if len(self._data_problems) < MAX_DATA_PROBLEMS_LOGGED:
                self._data_problems.add(problem)
            self._logger.error(
                "Data read from %s could not be used (%s); evaluations that need it return "
                "control with the exception label", self._store, problem,
            )

    def recovered(self) -> None:
        self.current = None
        if self._down:
            self._down = False
            self._logger.info("%s answers again; evaluations use its data", self._store)

    def read(self, steps: Steps[T]) -> Steps[T | None]:
        """``steps``' result, or None (logged) when the store could not be read or what it
        answered could not be used."""
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
