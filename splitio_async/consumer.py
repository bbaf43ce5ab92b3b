"""Redis consumer mode's client and manager logic, as steps with no I/O of their own.

Each call of ``RedisEvaluationCore`` returns a generator: it validates exactly as the in-memory
core does, yields the batches of Redis commands that gather what the evaluation needs (see
``storage.redis_view``), then evaluates with the same pure evaluator and queues the impressions
for the recorder actor, which writes them to Redis in bulk, off the caller's path. Whoever owns a
Redis connection runs the steps (module ``steps``): ``drive_async`` on the event loop (redis-py's
asyncio client, or its blocking client in a worker thread under trio) and ``drive_sync`` in a
blocking shim thread, so one implementation serves every way of calling the SDK.

A failure to read Redis does not raise into the caller: the call gets ``control`` with the
``exception`` label (as a failed evaluation does) and the problem is logged once until Redis
answers again.
"""

from __future__ import annotations

import logging
import random
from time import perf_counter_ns
from typing import Any, TypeVar

from .lowlevel import (
    READY,
    EvaluationCore,
    ManyCall,
    ManyResults,
    MeasuredEvaluationCore,
    OneCall,
    TreatmentResult,
    _warn_traffic_type,
)
from .manager import ManagerCore, SplitView, split_view
from .models.events import Event
from .steps import Steps
from .storage.redis_view import Gathered, RedisView
from .validation import validate_flag_name, validate_key

_LOGGER = logging.getLogger("splitio.storage.redis")

T = TypeVar("T")


class StorageProblems:
    """Logs a Redis failure once, and the recovery once, however many calls see them."""

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
        """``steps``' result, or None (logged once) when Redis could not be read."""
        try:
            result = yield from steps
        except Exception as exc:
            self.failed(exc)
            return None
        self.recovered()
        return result


class RedisEvaluationCore(MeasuredEvaluationCore):
    """The evaluation core of Redis consumer mode: same validation, evaluation, recording and
    telemetry as the other modes, with the data gathered from Redis by the steps it returns.
    Latencies cover the whole call, Redis round trip included (as the official SDK measures)."""

    __slots__ = ("_sampling", "problems", "view")
    view: RedisView
    problems: StorageProblems
    _sampling: float

    @classmethod
    def over(
        cls, core: EvaluationCore, telemetry: Any, view: RedisView, data_sampling: float
    ) -> RedisEvaluationCore:
        redis_core = cls.measuring(core, telemetry)
        assert isinstance(redis_core, RedisEvaluationCore)
        redis_core.view = view
        redis_core.problems = StorageProblems()
        redis_core._sampling = data_sampling
        return redis_core

    def treatment(
        self, key: Any, flag_name: Any, attributes: Any, options: Any, method: str
    ) -> TreatmentResult | Steps[TreatmentResult]:
        """The result at once when the call needs no read (cached data, bad input, not
        ready); else the steps that read Redis first."""
        started = perf_counter_ns()
        checked = self._check_one(key, flag_name, attributes, options, method)
        if len(checked) == 3:
            return checked
        data = None
        if checked[0] is READY:
            data = self.view.cached((checked[2],), checked[1][0])
            if data is None:
                return self._treatment_steps(checked, attributes, started)
        return self._timed_one(self._evaluate_one(checked, attributes, data), method, started)

    def _treatment_steps(
        self, checked: OneCall, attributes: Any, started: int
    ) -> Steps[TreatmentResult]:
        gathered = yield from self.problems.read(self.view.gather((checked[2],), checked[1][0]))
        data = gathered[0] if gathered is not None else None
        result = self._evaluate_one(checked, attributes, data)
        return self._timed_one(result, checked[4], started)

    def treatments(
        self, key: Any, flag_names: Any, attributes: Any, options: Any, method: str
    ) -> ManyResults | Steps[ManyResults]:
        started = perf_counter_ns()
        checked = self._check_many(key, flag_names, attributes, options, method)
        if isinstance(checked, dict):
            return checked
        data = None
        if checked[0] is READY:
            data = self.view.cached(tuple(checked[2]), checked[1][0])
            if data is None:
                return self._treatments_steps(checked, attributes, started)
        return self._timed(self._evaluate_many(checked, attributes, data), method, started)

    def _treatments_steps(
        self, checked: ManyCall, attributes: Any, started: int
    ) -> Steps[ManyResults]:
        gathered = yield from self.problems.read(
            self.view.gather(tuple(checked[2]), checked[1][0])
        )
        data = gathered[0] if gathered is not None else None
        return self._timed(self._evaluate_many(checked, attributes, data), checked[4], started)

    def treatments_by_flag_sets(
        self, key: Any, flag_sets: Any, attributes: Any, options: Any, method: str
    ) -> Steps[ManyResults]:
        """The sets' members, the flags' data and the memberships in one gathering; the key is
        validated first so that the gathering knows whose memberships to read."""
        started = perf_counter_ns()
        valid_sets = self._flag_sets_argument(flag_sets, method)
        names: list[str] = []
        data: Gathered | None = None
        keys: tuple[str, str | None] | None = None
        if valid_sets and self._state.status is READY:
            keys = validate_key(key, method)
            gathered = yield from self.problems.read(
                self.view.gather((), keys[0] if keys is not None else None, valid_sets)
            )
            if gathered is None:
                _LOGGER.warning(
                    "Fetching feature flags for flag set %s encountered an error, skipping "
                    "this flag set.", valid_sets,
                )
            else:
                data, names = gathered
        checked = self._check_by_sets(
            key, names, attributes, options, method, keys if keys is not None else False
        )
        if isinstance(checked, dict):
            return checked
        return self._timed(self._evaluate_many(checked, attributes, data), method, started)

    def track(
        self, key: Any, traffic_type: Any, event_type: Any, value: Any, properties: Any
    ) -> bool | Steps[bool]:
        """Validated and queued as in the other modes; the traffic-type check (a warning only)
        reads Redis unless the local cache knows the answer."""
        started = perf_counter_ns()
        checked = self._check_track(key, traffic_type, event_type, value, properties)
        if checked is None:
            return False
        if checked[0] is READY:
            exists = self.view.cached_traffic_type(checked[1].traffic_type_name)
            if exists is None:
                return self._track_steps(checked[1], checked[2], started)
            if not exists:
                _warn_traffic_type(checked[1].traffic_type_name)
        return self._timed(self._queue_event(checked[1], checked[2]), "track", started)

    def _track_steps(self, event: Event, size: int, started: int) -> Steps[bool]:
        exists = yield from self.problems.read(
            self.view.traffic_type_exists(event.traffic_type_name)
        )
        if exists is False:
            _warn_traffic_type(event.traffic_type_name)
        return self._timed(self._queue_event(event, size), "track", started)

    def _record(self, *args: Any) -> None:
        """``dataSampling`` (Redis only): each recorded evaluation is kept with that
        probability, its impressions and listener call skipped otherwise (official)."""
        if self._sampling >= 1 or random.random() < self._sampling:
            super()._record(*args)


class RedisManagerCore(ManagerCore):
    """The manager over Redis: ``KEYS`` and the flags' definitions, read fresh at each call;
    a Redis failure gives the empty answer, logged (and a success ends the logged problem, as
    an evaluation's does)."""

    __slots__ = ("_problems", "_view")

    def __init__(self, state: Any, view: RedisView, problems: StorageProblems) -> None:
        super().__init__(state)
        self._view = view
        self._problems = problems

    def split_names(self) -> Steps[list[str]]:
        if not self._usable("split_names"):
            return []
        names = yield from self._problems.read(self._view.flag_names())
        return names or []

    def splits(self) -> Steps[list[SplitView]]:
        if not self._usable("splits"):
            return []
        flags = yield from self._problems.read(self._view.all_flags())
        return [split_view(flag) for flag in flags or ()]

    def split(self, feature_flag_name: Any) -> Steps[SplitView | None]:
        if not self._usable("split"):
            return None
        name = validate_flag_name(feature_flag_name, "split", trim=False)
        if name is None:
            return None
        found = yield from self._problems.read(self._view.flag(name))
        if found is None and self._problems.current is not None:
            return None  # not read (logged), rather than missing
        return self._view_of(found, name)
