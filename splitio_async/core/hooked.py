"""The evaluation core with hooks: ``EvaluationCore`` that also calls a factory's hooks.

A factory starts with the plain ``EvaluationCore``, which never looks at hooks: with none
registered, a call costs exactly what it did. Registering the first hook turns the factory's core
into this subclass in place (``hook_into``: a ``__class__`` swap between layout-identical classes,
the state pattern), so every client already holding the core, in either API, and the OpenFeature
provider, call the hooks from their next call on, without a per-call test anywhere.

The hooks run where every mode's calls converge once their input is valid: the evaluation of one
flag or of several (``_evaluate_one``, ``_evaluate_many``, whether the data came from the snapshot
or from Redis steps) and the queuing of a tracked event (``_queue_event``).
"""

from __future__ import annotations

from time import perf_counter_ns
from typing import Any

from ..engine.evaluator import EvaluationData, EvaluationResult
from ..hooks import Evaluation, EvaluationDetail, HookRunner, TrackedEvent
from ..models.events import Event
from .evaluation import EvaluationCore, Keys, Results

_new = tuple.__new__  # skips NamedTuple's Python-level __new__


class HookedEvaluationCore(EvaluationCore):
    """``EvaluationCore`` calling ``self._hooks`` around each evaluation and tracked event."""

    __slots__ = ()

    def _evaluate_one(
        self, status: str, keys: Keys, name: str, attributes: Any, properties: str | None,
        method: str, data: EvaluationData | None,
    ) -> EvaluationResult:
        hooks: HookRunner = self._hooks  # type: ignore[assignment]  # set by hook_into
        evaluations = (_new(Evaluation, (method, name, keys[0], keys[1], attributes)),)
        begun = hooks.before(evaluations)
        started = perf_counter_ns()
        result = super()._evaluate_one(status, keys, name, attributes, properties, method, data)
        duration = (perf_counter_ns() - started) / 1e9
        hooks.after(begun, evaluations, (_detail(result, duration),))
        return result

    def _evaluate_many(
        self, status: str, keys: Keys, names: list[str], attributes: Any,
        properties: str | None, method: str, data: EvaluationData | None,
    ) -> Results:
        hooks: HookRunner = self._hooks  # type: ignore[assignment]  # set by hook_into
        matching, bucketing = keys
        evaluations = [_new(Evaluation, (method, name, matching, bucketing, attributes))
                       for name in names]
        begun = hooks.before(evaluations)
        started = perf_counter_ns()
        results = super()._evaluate_many(status, keys, names, attributes, properties, method,
                                         data)
        share = (perf_counter_ns() - started) / 1e9 / max(1, len(names))
        hooks.after(begun, evaluations, [_detail(results[name], share) for name in names])
        return results

    def _queue_event(self, event: Event) -> bool:
        queued = super()._queue_event(event)
        hooks: HookRunner = self._hooks  # type: ignore[assignment]  # set by hook_into
        hooks.tracked(_new(TrackedEvent, (
            event.key, event.traffic_type_name, event.event_type_id, event.value,
            event.properties, queued,
        )))
        return queued


def _detail(result: EvaluationResult, duration: float) -> EvaluationDetail:
    change_number = result.change_number
    if change_number is not None and change_number < 0:  # -1: the flag does not exist
        change_number = None
    return _new(EvaluationDetail, (result.treatment, result.config, result.label,
                                   change_number, duration))


def hook_into(core: EvaluationCore, hooks: HookRunner) -> None:
    """Make ``core`` call ``hooks`` from its next call on (in place; see the module docstring)."""
    core._hooks = hooks
    if type(core) is EvaluationCore:
        core.__class__ = HookedEvaluationCore
