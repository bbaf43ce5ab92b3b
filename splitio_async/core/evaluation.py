"""The evaluation core: what every ``get_treatment*`` and ``track`` call does, for every mode.

One ``EvaluationCore`` per factory validates a call's input (with the official log lines),
takes the data the evaluation needs, evaluates with the pure ``engine.evaluator``, and queues the
impressions or the event for the recorders. It holds no per-call state, takes no lock and does no
I/O, so both APIs call it directly in the caller's context: the async client in the event loop,
the blocking shim in the caller's thread.

What differs between modes is composed in, not subclassed:

* where the data comes from: the current in-memory ``Snapshot`` (standalone, localhost and
  testing modes: one attribute read), or a ``Remote`` store (Redis consumer mode) whose local
  cache may answer at once and whose reads otherwise come back as steps (see ``steps``): then
  the call returns the steps that read, evaluate and record, for the facade's ``Driver``;
* ``telemetry``: an intake the telemetry actor drains; when set (standalone and Redis modes),
  each call that got past validation appends its latency, plus markers for not-ready calls and
  failed evaluations. Localhost and testing modes pass None and pay one ``is not None`` test.

Results are named: a single-flag call returns the ``EvaluationResult`` (treatment, config,
label...), a multi-flag call a dict of them by flag name.
"""

from __future__ import annotations

import inspect
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from time import perf_counter_ns
from typing import Any, NamedTuple

from .._version import SDK_WIRE_VERSION
from ..engine.evaluator import EvaluationData, EvaluationResult, Evaluator
from ..hooks import HookRunner
from ..lifecycle import DESTROYED, NOT_INITIALIZED, READY, WAITING_FORK, FactoryState
from ..models import labels
from ..models.events import Event
from ..models.impressions import Impression, ImpressionRecord, impression_of
from ..models.telemetry import EXCEPTION, METHOD_CODES, NOT_READY_CALL, CallRecord
from ..properties import validate_properties
from ..runtime.intake import Intake
from ..validation import (
    MAX_KEY_LENGTH,
    raw_flag_names,
    validate_attributes,
    validate_flag_name,
    validate_flag_names,
    validate_flag_sets,
    validate_key,
)
from .remote import Remote
from .steps import Steps
from .track import check_event, warn_traffic_type

_LOGGER = logging.getLogger("splitio.client.client")
_VALIDATION_LOGGER = logging.getLogger("splitio.client.input_validator")

SDK_LANGUAGE_VERSION = SDK_WIRE_VERSION
_EXCEPTION_LABELS = frozenset((labels.EXCEPTION, "fallback - " + labels.EXCEPTION))

Keys = tuple[str, str | None]  # (matching key, bucketing key or None)
Results = dict[str, EvaluationResult]  # a multi-flag call's answer, by flag name
Treatments = dict[str, str]  # get_treatments*: flag -> treatment
TreatmentsWithConfig = dict[str, tuple[str, str | None]]  # flag -> (treatment, config)

_new_result = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path
_time_ns = time.time_ns
_TRACK = METHOD_CODES["track"]


class EvaluationOptions(NamedTuple):
    """Extra data for one evaluation call.

    Attributes:
        properties: a dict of properties (string keys; string, number, boolean or None
            values) recorded with the call's impressions. Invalid properties are logged and
            dropped; the evaluation itself is never affected.
    """

    properties: dict[str, Any] | None = None


class EvaluationCore:
    """Validation, evaluation and recording for one factory (see the module docstring)."""

    __slots__ = (
        "_async_listener_results",
        "_evaluator",
        "_event_types",
        "_events",
        "_hooks",
        "_impressions",
        "_instance_id",
        "_labels",
        "_listener",
        "_remote",
        "_state",
        "_telemetry",
    )

    def __init__(
        self,
        state: FactoryState,
        evaluator: Evaluator,
        impressions: Intake[ImpressionRecord],
        events: Intake[Event],
        *,
        labels_enabled: bool = True,
        listener: Any = None,
        async_listener_results: Callable[[Awaitable[Any]], bool] | None = None,
        instance_id: str = "NA",
        telemetry: Intake[CallRecord] | None = None,
        remote: Remote | None = None,
    ) -> None:
        self._state = state
        self._evaluator = evaluator
        self._impressions = impressions
        self._events = events
        self._labels = labels_enabled
        self._listener = listener
        self._async_listener_results = async_listener_results
        self._instance_id = instance_id
        self._telemetry = telemetry
        self._remote = remote
        self._event_types: set[str] = set()
        self._hooks: HookRunner | None = None  # read only by core.hooked's subclass

    # ------------------------------------------------------------------ single flag

    def treatment(
        self, key: Any, flag_name: Any, attributes: Any, options: Any, method: str
    ) -> EvaluationResult | Steps[EvaluationResult]:
        """The evaluation of one flag for get_treatment / get_treatment_with_config: its
        treatment, config and label (the evaluation's, whatever ``labelsEnabled`` says; None
        when the call was refused: bad input, destroyed). Never raises."""
        telemetry = self._telemetry
        started = perf_counter_ns() if telemetry is not None else 0
        status = self._state.status
        if status is not READY and not self._usable(status):
            return self._refused(flag_name)
        # the common case (a plain, clean key and flag name) skips the validators' calls
        if type(key) is str and 0 < len(key) <= MAX_KEY_LENGTH and not key.isspace():
            keys: Keys | None = (key, None)
        else:
            keys = validate_key(key, method)
        if type(flag_name) is str and flag_name and flag_name.strip() == flag_name:
            name: str | None = flag_name
        else:
            name = validate_flag_name(flag_name, method)
        if keys is None or name is None or (
            attributes is not None and not validate_attributes(attributes, method)
        ):
            return self._refused(flag_name)
        properties = None if options is None else self._properties(options, method)
        data: EvaluationData | None = None
        if status is READY:
            remote = self._remote
            if remote is None:
                data = self._state.snapshot
            else:
                data = remote.reads.cached((name,), keys[0])
                if data is None:
                    return self._treatment_steps(
                        remote, keys, name, attributes, properties, method, started
                    )
        result = self._evaluate_one(status, keys, name, attributes, properties, method, data)
        if telemetry is not None and result.found:  # official: a missing flag is not timed
            telemetry.append((METHOD_CODES[method], (perf_counter_ns() - started) // 1000))
        return result

    def _treatment_steps(
        self, remote: Remote, keys: Keys, name: str, attributes: Any, properties: str | None,
        method: str, started: int,
    ) -> Steps[EvaluationResult]:
        gathered = yield from remote.problems.read(remote.reads.gather((name,), keys[0]))
        data = gathered[0] if gathered is not None else None
        result = self._evaluate_one(READY, keys, name, attributes, properties, method, data)
        if self._telemetry is not None and result.found:
            self._telemetry.append((METHOD_CODES[method], (perf_counter_ns() - started) // 1000))
        return result

    def _evaluate_one(
        self, status: str, keys: Keys, name: str, attributes: Any, properties: str | None,
        method: str, data: EvaluationData | None,
    ) -> EvaluationResult:
        """Evaluate a valid call on ``data`` (None: not ready, or the data could not be read)
        and record its impression."""
        matching_key, bucketing_key = keys
        if status is READY and data is not None:
            result = self._evaluator.evaluate(matching_key, bucketing_key, name, attributes, data)
        else:
            result = self._evaluator.failed(
                name, labels.EXCEPTION if status is READY else labels.NOT_READY
            )
        # unpacked once: each named field read would cost as much as the whole unpacking
        treatment, _, label, change_number, impressions_disabled, found = result
        if not found:
            _warn_missing(method, name)
            return result
        if change_number is None and label in _EXCEPTION_LABELS:  # a failed evaluation
            self._note((METHOD_CODES[method], EXCEPTION))
        self._record(matching_key, bucketing_key, name, treatment, label, change_number,
                     impressions_disabled, attributes, properties)
        return result

    # ------------------------------------------------------------------ several flags

    def treatments(
        self, key: Any, flag_names: Any, attributes: Any, options: Any, method: str
    ) -> Results | Steps[Results]:
        """The evaluations of several flags (get_treatments*), by flag name. Never raises."""
        telemetry = self._telemetry
        started = perf_counter_ns() if telemetry is not None else 0
        status = self._state.status
        if status is not READY and not self._usable(status):
            return self._all_refused(raw_flag_names(flag_names))
        keys = validate_key(key, method)
        names = validate_flag_names(flag_names, method)
        if keys is None or names is None or not validate_attributes(attributes, method):
            return self._all_refused(raw_flag_names(flag_names))
        properties = self._properties(options, method)
        data: EvaluationData | None = None
        if status is READY:
            remote = self._remote
            if remote is None:
                data = self._state.snapshot
            else:
                data = remote.reads.cached(tuple(names), keys[0])
                if data is None:
                    return self._treatments_steps(
                        remote, keys, names, attributes, properties, method, started
                    )
        results = self._evaluate_many(status, keys, names, attributes, properties, method, data)
        if telemetry is not None:
            telemetry.append((METHOD_CODES[method], (perf_counter_ns() - started) // 1000))
        return results

    def _treatments_steps(
        self, remote: Remote, keys: Keys, names: list[str], attributes: Any,
        properties: str | None, method: str, started: int,
    ) -> Steps[Results]:
        gathered = yield from remote.problems.read(remote.reads.gather(tuple(names), keys[0]))
        data = gathered[0] if gathered is not None else None
        results = self._evaluate_many(READY, keys, names, attributes, properties, method, data)
        if self._telemetry is not None:
            self._telemetry.append((METHOD_CODES[method], (perf_counter_ns() - started) // 1000))
        return results

    def treatments_by_flag_sets(
        self, key: Any, flag_sets: Any, attributes: Any, options: Any, method: str
    ) -> Results | Steps[Results]:
        """The evaluations of the flags of ``flag_sets`` (a list), by flag name. Never
        raises."""
        if self._remote is not None:
            return self._by_flag_sets_steps(self._remote, key, flag_sets, attributes, options,
                                            method)
        telemetry = self._telemetry
        started = perf_counter_ns() if telemetry is not None else 0
        snapshot = self._state.snapshot
        names = _flag_set_members(_flag_sets_argument(flag_sets, method), snapshot.flag_sets)
        if not names:
            _warn_no_flag_sets(method)
            return {}
        status = self._state.status
        if status is not READY and not self._usable(status):
            return self._all_refused(names)
        keys = validate_key(key, method)
        if keys is None or not validate_attributes(attributes, method):
            return self._all_refused(names)
        results = self._evaluate_many(
            status, keys, names, attributes, self._properties(options, method), method, snapshot
        )
        if telemetry is not None:
            telemetry.append((METHOD_CODES[method], (perf_counter_ns() - started) // 1000))
        return results

    def _by_flag_sets_steps(
        self, remote: Remote, key: Any, flag_sets: Any, attributes: Any, options: Any,
        method: str,
    ) -> Steps[Results]:
        """The sets' members, the flags' data and the memberships in one gathering; the key is
        validated first so that the gathering knows whose memberships to read."""
        started = perf_counter_ns()
        valid_sets = _flag_sets_argument(flag_sets, method)
        names: list[str] = []
        data: EvaluationData | None = None
        keys: Keys | None = None
        if valid_sets and self._state.status is READY:
            keys = validate_key(key, method)
            gathered = yield from remote.problems.read(
                remote.reads.gather((), keys[0] if keys is not None else None, valid_sets)
            )
            if gathered is None:
                _LOGGER.warning(
                    "Fetching feature flags for flag set %s encountered an error, skipping "
                    "this flag set.", valid_sets,
                )
            else:
                data, names = gathered
        if not names:
            _warn_no_flag_sets(method)
            return {}
        status = self._state.status
        if status is not READY and not self._usable(status):
            return self._all_refused(names)
        if keys is None or not validate_attributes(attributes, method):
            return self._all_refused(names)
        results = self._evaluate_many(
            status, keys, names, attributes, self._properties(options, method), method, data
        )
        if self._telemetry is not None:
            self._telemetry.append((METHOD_CODES[method], (perf_counter_ns() - started) // 1000))
        return results

    def _evaluate_many(
        self, status: str, keys: Keys, names: list[str], attributes: Any,
        properties: str | None, method: str, data: EvaluationData | None,
    ) -> Results:
        """Evaluate a valid call on ``data`` (None: not ready, or the data could not be read)
        and record the impressions of the flags that exist."""
        evaluator = self._evaluator
        if status is READY and data is not None:
            evaluated = evaluator.evaluate_many(keys[0], keys[1], names, attributes, data)
            first = evaluated[0] if evaluated else None  # one failure fails them all
            if first is not None and first.change_number is None and (
                first.label in _EXCEPTION_LABELS
            ):
                self._note((METHOD_CODES[method], EXCEPTION))
        elif status is READY:
            evaluated = [evaluator.failed(name, labels.EXCEPTION) for name in names]
            self._note((METHOD_CODES[method], EXCEPTION))
        else:
            evaluated = [evaluator.failed(name, labels.NOT_READY) for name in names]
        results: Results = {}
        record = self._record
        matching_key, bucketing_key = keys
        for name, result in zip(names, evaluated, strict=True):
            results[name] = result
            treatment, _, label, change_number, impressions_disabled, found = result
            if found:
                record(matching_key, bucketing_key, name, treatment, label, change_number,
                       impressions_disabled, attributes, properties)
            else:
                _warn_missing(method, name)
        return results

    # ------------------------------------------------------------------ track

    def track(
        self, key: Any, traffic_type: Any, event_type: Any, value: Any, properties: Any
    ) -> bool | Steps[bool]:
        """Queue an event; True if it was queued, False (logged) otherwise. Never raises."""
        telemetry = self._telemetry
        started = perf_counter_ns() if telemetry is not None else 0
        state = self._state
        status = state.status
        if status is NOT_INITIALIZED:
            _LOGGER.warning(
                "track: the SDK is not ready, results may be incorrect. Make sure to wait for "
                "SDK readiness before using this method"
            )
            self._note(NOT_READY_CALL)
        event = check_event(
            status, key, traffic_type, event_type, value, properties, self._event_types
        )
        if event is None:
            return False
        if status is READY:
            remote = self._remote
            if remote is None:
                if not state.localhost and (
                    event.traffic_type_name not in state.snapshot.traffic_types
                ):
                    warn_traffic_type(event.traffic_type_name)
            else:
                exists = remote.reads.cached_traffic_type(event.traffic_type_name)
                if exists is None:
                    return self._track_steps(remote, event, started)
                if not exists:
                    warn_traffic_type(event.traffic_type_name)
        queued = self._queue_event(event)
        if telemetry is not None:
            telemetry.append((_TRACK, (perf_counter_ns() - started) // 1000))
        return queued

    def _track_steps(self, remote: Remote, event: Event, started: int) -> Steps[bool]:
        """The traffic-type check (a warning only) when the remote store must be read."""
        exists = yield from remote.problems.read(
            remote.reads.traffic_type_exists(event.traffic_type_name)
        )
        if exists is False:
            warn_traffic_type(event.traffic_type_name)
        queued = self._queue_event(event)
        if self._telemetry is not None:
            self._telemetry.append((_TRACK, (perf_counter_ns() - started) // 1000))
        return queued

    def _queue_event(self, event: Event) -> bool:
        if not self._events.append(event, event.size):
            if self._events.dropped == 1:
                _LOGGER.warning(
                    "Events queue is full, failing to add more events. \nConsider increasing "
                    "parameter `eventsQueueSize` in configuration"
                )
            return False
        return True

    # ------------------------------------------------------------------ helpers

    def backlogged(self) -> bool:
        """Whether a recorder has a flush's worth waiting (queued, or taken and not delivered
        yet): the async API then yields to the event loop once, so a caller that rarely awaits
        anything lets the recorder keep up."""
        return self._impressions.backlogged() or self._events.backlogged()

    def _usable(self, status: str) -> bool:
        """False (logged) when the factory cannot answer; True when not ready yet."""
        if status is DESTROYED:
            _LOGGER.error("Client has already been destroyed - no calls possible")
            return False
        _LOGGER.error("Client is not ready - no calls possible")
        if status is WAITING_FORK:
            return False
        self._note(NOT_READY_CALL)
        return True

    def _note(self, record: CallRecord) -> None:
        """A telemetry marker (a not-ready call, a failed evaluation), when measured."""
        if self._telemetry is not None:
            self._telemetry.append(record)

    def _refused(self, flag_name: Any) -> EvaluationResult:
        """The answer to a call that cannot evaluate (bad input, destroyed): the flag's
        fallback treatment, no label, nothing recorded."""
        name = flag_name.strip() if isinstance(flag_name, str) else ""
        treatment, config, _ = self._evaluator.fallbacks.resolve(name, "")
        return _new_result(EvaluationResult, (treatment, config, None, None, False, False))

    def _all_refused(self, names: list[str]) -> Results:
        return {name: self._refused(name) for name in names}

    def _properties(self, options: Any, method: str) -> str | None:
        if options is None:
            return None
        if not isinstance(options, EvaluationOptions):
            _VALIDATION_LOGGER.error(
                "%s: evaluation options should be an instance of EvaluationOptions. Setting its "
                "value to None.", method,
            )
            return None
        valid, cleaned, _ = validate_properties(options.properties, method)
        return json.dumps(cleaned) if valid and cleaned else None

    def _record(
        self,
        matching_key: str,
        bucketing_key: str | None,
        name: str,
        treatment: str,
        label: str | None,
        change_number: int | None,
        impressions_disabled: bool,
        attributes: dict[str, Any] | None,
        properties: str | None,
    ) -> None:
        """Queue the impression of one evaluation and call the impression listener."""
        remote = self._remote
        if remote is not None and remote.sampling < 1 and random.random() >= remote.sampling:
            return  # dataSampling (official): neither the impression nor the listener call
        record: ImpressionRecord = (
            matching_key,
            name,
            treatment,
            label if self._labels else None,
            change_number,
            bucketing_key,
            _time_ns() // 1_000_000,
            properties,
            impressions_disabled,
        )
        if not self._impressions.append(record) and self._impressions.dropped == 1:
            _LOGGER.warning(
                "Impression queue is full, failing to add more impressions. \nConsider "
                "increasing parameter `impressionsQueueSize` in configuration"
            )
        if self._listener is not None:
            self._notify_listener(impression_of(record), attributes)

    def _notify_listener(self, impression: Impression, attributes: dict[str, Any] | None) -> None:
        """Call the user's listener inline, as the official SDK does; a coroutine it returns is
        awaited by the listener actor, so a slow async listener never holds up an evaluation."""
        data = {
            "impression": impression,
            "attributes": attributes,
            "instance-id": self._instance_id,
            "sdk-language-version": SDK_LANGUAGE_VERSION,
        }
        try:
            outcome = self._listener.log_impression(data)
        except Exception:
            _LOGGER.exception("Impression listener raised; the evaluation is not affected")
            return
        if inspect.isawaitable(outcome) and (
            self._async_listener_results is None or not self._async_listener_results(outcome)
        ):
            _close(outcome)


def treatments_of(results: Results) -> Treatments:
    """A multi-flag call's answer as get_treatments* return it: flag -> treatment."""
    return {name: result.treatment for name, result in results.items()}


def with_configs(results: Results) -> TreatmentsWithConfig:
    """A multi-flag call's answer as get_treatments_with_config* return it: flag ->
    ``(treatment, config)``."""
    return {name: (result.treatment, result.config) for name, result in results.items()}


def _flag_sets_argument(flag_sets: Any, method: str) -> list[str]:
    if not isinstance(flag_sets, list):
        _VALIDATION_LOGGER.warning(
            "%s: flag sets parameter type should be list object, parameter is discarded",
            method,
        )
        flag_sets = []
    return validate_flag_sets(flag_sets, method)


def _flag_set_members(valid_sets: list[str], members_of: Mapping[str, frozenset[str]]) -> list[str]:
    names: set[str] = set()
    for flag_set in valid_sets:
        members = members_of.get(flag_set)
        if members is None:
            _LOGGER.warning(
                "Flag set %s is not part of the configured flag set list, ignoring it.",
                flag_set,
            )
            continue
        names |= members
    return sorted(names)


def _warn_no_flag_sets(method: str) -> None:
    _VALIDATION_LOGGER.warning(
        "%s: No valid Flag set or no feature flags found for evaluating treatments", method,
    )


def _warn_missing(method: str, name: str) -> None:
    _LOGGER.warning(
        '%s: you passed "%s" that does not exist in this environment, please double check what '
        "Feature flags exist in the Split user interface.", method, name,
    )


def _close(outcome: Awaitable[Any]) -> None:
    close = getattr(outcome, "close", None)
    if close is not None:
        close()
