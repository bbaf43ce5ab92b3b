"""The I/O-free core of every client call: validate, evaluate on the current snapshot, record.

Both the async ``Client`` and the sync shim's client call this directly in the caller's context,
so an evaluation never awaits and never hops threads: it reads ``state.snapshot`` (one attribute
read of an immutable object), evaluates, and appends the impression to a bounded intake. The sync
shim imports this module by its public name, like anyio's and trio's ``lowlevel``.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable
from time import perf_counter_ns
from typing import Any, NamedTuple, TypeVar

from ._optional import require as require
from ._version import SDK_WIRE_VERSION
from .actors.intake import Intake
from .engine.evaluator import EvaluationData, EvaluationResult, Evaluator
from .errors import at_boundary as at_boundary
from .lifecycle import DESTROYED as DESTROYED
from .lifecycle import NOT_INITIALIZED as NOT_INITIALIZED
from .lifecycle import READY as READY
from .lifecycle import WAITING_FORK as WAITING_FORK
from .lifecycle import FactoryState
from .limits import is_finite_number
from .manager import ManagerCore as ManagerCore
from .manager import SplitView as SplitView
from .models import labels
from .models.events import Event
from .models.impressions import Impression
from .models.telemetry import EXCEPTION, METHOD_CODES, NOT_READY_CALL, CallRecord
from .properties import validate_properties
from .steps import Steps as Steps
from .steps import drive_sync as drive_sync
from .steps import is_steps as is_steps
from .storage.snapshot import Snapshot
from .validation import (
    EVENT_TYPE_RE,
    MAX_KEY_LENGTH,
    raw_flag_names,
    validate_attributes,
    validate_flag_name,
    validate_flag_names,
    validate_flag_sets,
    validate_key,
    validate_track_key,
)

_LOGGER = logging.getLogger("splitio.client.client")

SEED_SNAPSHOT = "_seedSnapshot"  # config key (internal): data a preforked worker hands over
_VALIDATION_LOGGER = logging.getLogger("splitio.client.input_validator")

SDK_LANGUAGE_VERSION = SDK_WIRE_VERSION
_EXCEPTION_LABELS = frozenset((labels.EXCEPTION, "fallback - " + labels.EXCEPTION))



TreatmentResult = tuple[str, str | None, str | None]  # treatment, config, label
ManyResults = dict[str, tuple[str, str | None]]  # flag -> (treatment, config)
OneCall = tuple[str, tuple[str, str | None], str, str | None, str]  # a checked single-flag call
ManyCall = tuple[str, tuple[str, str | None], list[str], str | None, str]


class EvaluationOptions(NamedTuple):
    """Extra data for one evaluation call; ``properties`` travel with its impressions."""

    properties: dict[str, Any] | None = None


# The impression fields in ``Impression`` order, then whether the flag has impressionsDisabled: a
# plain tuple on the hot path; the recorder builds the ``Impression`` objects.
ImpressionRecord = tuple[
    str, str, str, str | None, int | None, str | None, int, int | None, str | None, bool
]


class EvaluationCore:
    """Validation, evaluation and recording for one factory; holds no per-call state."""

    __slots__ = (
        "_async_listener_results",
        "_evaluator",
        "_event_types",
        "_events",
        "_impressions",
        "_instance_id",
        "_labels",
        "_listener",
        "_state",
    )

    def __init__(
        self,
        state: FactoryState,
        evaluator: Evaluator,
        impressions: Intake[ImpressionRecord],
        events: Intake[Event],
        labels_enabled: bool,
        listener: Any,
        async_listener_results: Callable[[Awaitable[Any]], bool] | None,
        instance_id: str,
    ) -> None:
        self._state = state
        self._evaluator = evaluator
        self._impressions = impressions
        self._events = events
        self._labels = labels_enabled
        self._listener = listener
        self._async_listener_results = async_listener_results
        self._instance_id = instance_id
        self._event_types: set[str] = set()

    # ------------------------------------------------------------------ single flag

    def treatment(
        self, key: Any, flag_name: Any, attributes: Any, options: Any, method: str
    ) -> TreatmentResult | Steps[TreatmentResult]:
        """``(treatment, config, label)`` for get_treatment / get_treatment_with_config (the
        label is the evaluation's, whatever ``labelsEnabled`` says; None without one). Redis
        mode's core returns the steps that produce it (see ``consumer``)."""
        checked = self._check_one(key, flag_name, attributes, options, method)
        if len(checked) == 3:
            return checked
        return self._evaluate_one(checked, attributes, self._state.snapshot)

    def _check_one(
        self, key: Any, flag_name: Any, attributes: Any, options: Any, method: str
    ) -> TreatmentResult | OneCall:
        """The final result when the call cannot evaluate (not ready, destroyed, bad input),
        else what the evaluation needs: ``(status, keys, name, properties, method)``."""
        status = self._state.status
        if status is not READY and not self._usable(status):
            return (*self._fallback(flag_name), None)
        # the common case (a plain, clean key and flag name) skips the validators' calls
        if type(key) is str and 0 < len(key) <= MAX_KEY_LENGTH and not key.isspace():
            keys: tuple[str, str | None] | None = (key, None)
        else:
            keys = validate_key(key, method)
        if type(flag_name) is str and flag_name and flag_name.strip() == flag_name:
            name: str | None = flag_name
        else:
            name = validate_flag_name(flag_name, method)
        if keys is None or name is None or (
            attributes is not None and not validate_attributes(attributes, method)
        ):
            return (*self._fallback(name if name is not None else flag_name), None)
        properties = None if options is None else self._properties(options, method)
        return status, keys, name, properties, method

    def _evaluate_one(
        self, call: OneCall, attributes: Any, data: EvaluationData | None
    ) -> TreatmentResult:
        """Evaluate a checked call on ``data`` (None: the data could not be read) and record."""
        status, keys, name, properties, method = call
        if status is READY:
            if data is None:
                result = self._evaluator.failed(name, labels.EXCEPTION)
                self._note((METHOD_CODES[method], EXCEPTION))
            else:
                result = self._evaluator.evaluate(keys[0], keys[1], name, attributes, data)
                if not result.found:
                    _warn_missing(method, name)
                    return result.treatment, result.config, result.label
                if result.change_number is None and result.label in _EXCEPTION_LABELS:
                    self._note((METHOD_CODES[method], EXCEPTION))
        else:
            result = self._evaluator.failed(name, labels.NOT_READY)
        self._record(keys, name, result, attributes, properties)
        return result.treatment, result.config, result.label

    # ------------------------------------------------------------------ several flags

    def treatments(
        self, key: Any, flag_names: Any, attributes: Any, options: Any, method: str
    ) -> ManyResults | Steps[ManyResults]:
        checked = self._check_many(key, flag_names, attributes, options, method)
        if isinstance(checked, dict):
            return checked
        return self._evaluate_many(checked, attributes, self._state.snapshot)

    def _check_many(
        self, key: Any, flag_names: Any, attributes: Any, options: Any, method: str
    ) -> ManyResults | ManyCall:
        status = self._state.status
        if status is not READY and not self._usable(status):
            return {n: self._fallback(n) for n in raw_flag_names(flag_names)}
        keys = validate_key(key, method)
        names = validate_flag_names(flag_names, method)
        if keys is None or names is None or not validate_attributes(attributes, method):
            return {n: self._fallback(n) for n in raw_flag_names(flag_names)}
        return status, keys, names, self._properties(options, method), method

    def treatments_by_flag_sets(
        self, key: Any, flag_sets: Any, attributes: Any, options: Any, method: str
    ) -> ManyResults | Steps[ManyResults]:
        snapshot = self._state.snapshot
        names = self._flag_set_names(self._flag_sets_argument(flag_sets, method), snapshot)
        checked = self._check_by_sets(key, names, attributes, options, method)
        if isinstance(checked, dict):
            return checked
        return self._evaluate_many(checked, attributes, snapshot)

    @staticmethod
    def _flag_set_names(valid_sets: list[str], snapshot: Snapshot) -> list[str]:
        names: set[str] = set()
        for flag_set in valid_sets:
            members = snapshot.flag_sets.get(flag_set)
            if members is None:
                _LOGGER.warning(
                    "Flag set %s is not part of the configured flag set list, ignoring it.",
                    flag_set,
                )
                continue
            names |= members
        return sorted(names)

    @staticmethod
    def _flag_sets_argument(flag_sets: Any, method: str) -> list[str]:
        if not isinstance(flag_sets, list):
            _VALIDATION_LOGGER.warning(
                "%s: flag sets parameter type should be list object, parameter is discarded",
                method,
            )
            flag_sets = []
        return validate_flag_sets(flag_sets, method)

    def _check_by_sets(
        self, key: Any, names: list[str], attributes: Any, options: Any, method: str,
        keys: tuple[str, str | None] | bool | None = None,
    ) -> ManyResults | ManyCall:
        """``keys``: the key if the caller validated it already (False: found invalid)."""
        if not names:
            _VALIDATION_LOGGER.warning(
                "%s: No valid Flag set or no feature flags found for evaluating treatments",
                method,
            )
            return {}
        status = self._state.status
        if status is not READY and not self._usable(status):
            return {n: self._fallback(n) for n in names}
        if keys is None:
            keys = validate_key(key, method)
        if not isinstance(keys, tuple) or not validate_attributes(attributes, method):
            return {n: self._fallback(n) for n in names}
        return status, keys, names, self._properties(options, method), method

    def _evaluate_many(
        self, call: ManyCall, attributes: Any, data: EvaluationData | None
    ) -> ManyResults:
        """Evaluate a checked call on ``data`` (None: the data could not be read) and record."""
        status, keys, names, properties, method = call
        if status is READY and data is not None:
            evaluated = self._evaluator.evaluate_many(
                keys[0], keys[1], names, attributes, data
            )
            first = evaluated[0] if evaluated else None  # one failure fails them all
            if first is not None and first.change_number is None and (
                first.label in _EXCEPTION_LABELS
            ):
                self._note((METHOD_CODES[method], EXCEPTION))
        elif status is READY:
            evaluated = [self._evaluator.failed(name, labels.EXCEPTION) for name in names]
            self._note((METHOD_CODES[method], EXCEPTION))
        else:
            evaluated = [self._evaluator.failed(name, labels.NOT_READY) for name in names]
        results: ManyResults = {}
        for name, result in zip(names, evaluated, strict=True):
            results[name] = (result.treatment, result.config)
            if not result.found:
                _warn_missing(method, name)
                continue
            self._record(keys, name, result, attributes, properties)
        return results

    # ------------------------------------------------------------------ track

    def track(
        self, key: Any, traffic_type: Any, event_type: Any, value: Any, properties: Any
    ) -> bool | Steps[bool]:
        checked = self._check_track(key, traffic_type, event_type, value, properties)
        if checked is None:
            return False
        return self._track_checked(checked)

    def _track_checked(self, checked: tuple[str, Event, int]) -> bool:
        if (
            checked[0] is READY
            and not self._state.localhost
            and checked[1].traffic_type_name not in self._state.snapshot.traffic_types
        ):
            _warn_traffic_type(checked[1].traffic_type_name)
        return self._queue_event(checked[1], checked[2])

    def _check_track(
        self, key: Any, traffic_type: Any, event_type: Any, value: Any, properties: Any
    ) -> tuple[str, Event, int] | None:
        """``(status, event, size)`` for a valid ``track`` call, else None (logged)."""
        status = self._state.status
        if status is NOT_INITIALIZED:
            _LOGGER.warning(
                "track: the SDK is not ready, results may be incorrect. Make sure to wait for "
                "SDK readiness before using this method"
            )
            self._note(NOT_READY_CALL)
        # fast paths for what nearly every call passes: a clean key, a lower-case traffic type
        # and an event type seen before (valid event types are few; the set is bounded)
        if type(traffic_type) is str and traffic_type and traffic_type.lower() == traffic_type \
                and not traffic_type.isspace():
            traffic: str | None = traffic_type
        else:
            traffic = _validate_traffic_type(traffic_type)
        if traffic is None:
            return None
        if status is DESTROYED:
            _LOGGER.error("Client has already been destroyed - no calls possible")
            return None
        if status is WAITING_FORK:
            _LOGGER.error("Client is not ready - no calls possible")
            return None
        if type(key) is str and 0 < len(key) <= MAX_KEY_LENGTH and not key.isspace():
            matching_key: str | None = key
        else:
            matching_key = validate_track_key(key)
        if matching_key is None:
            return None
        if type(event_type) is not str or event_type not in self._event_types:
            if not _valid_event_type(event_type):
                return None
            if len(self._event_types) < KNOWN_EVENT_TYPES:
                self._event_types.add(event_type)
        if value is not None and not is_finite_number(value):  # NaN is not JSON: refused
            _VALIDATION_LOGGER.error("track: value must be a number.")
            return None
        valid, cleaned, size = validate_properties(properties, "track")
        if not valid:
            return None
        return status, _new_event(Event, (
            matching_key, traffic, event_type, value, int(time.time() * 1000), cleaned, size
        )), size

    def _queue_event(self, event: Event, size: int) -> bool:
        if not self._events.append(event, size):
            if self._events.dropped == 1:
                _LOGGER.warning(
                    "Events queue is full, failing to add more events. \nConsider increasing "
                    "parameter `eventsQueueSize` in configuration"
                )
            return False
        return True

    # ------------------------------------------------------------------ helpers

    def backlogged(self) -> bool:
        """Whether a recorder has a flush's worth waiting: the async client then yields to the
        event loop once, so a caller that rarely awaits anything lets the recorder keep up."""
        impressions, events = self._impressions, self._events
        return len(impressions) >= impressions.threshold or len(events) >= events.threshold

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
        """A telemetry marker (a not-ready call, a failed evaluation). No telemetry here:
        ``MeasuredEvaluationCore`` records them."""

    def _fallback(self, flag_name: Any) -> tuple[str, str | None]:
        name = flag_name.strip() if isinstance(flag_name, str) else ""
        treatment, config, _ = self._evaluator.fallbacks.resolve(name, "")
        return treatment, config

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
        keys: tuple[str, str | None],
        name: str,
        result: EvaluationResult,
        attributes: dict[str, Any] | None,
        properties: str | None,
    ) -> None:
        record = (
            keys[0],
            name,
            result.treatment,
            result.label if self._labels else None,
            result.change_number,
            keys[1],
            int(time.time() * 1000),
            None,
            properties,
            result.impressions_disabled,
        )
        if not self._impressions.append(record) and self._impressions.dropped == 1:
            _LOGGER.warning(
                "Impression queue is full, failing to add more impressions. \nConsider "
                "increasing parameter `impressionsQueueSize` in configuration"
            )
        if self._listener is not None:
            self._notify_listener(Impression(*record[:9]), attributes)

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


class MeasuredEvaluationCore(EvaluationCore):
    """The core of standalone mode: every public call is also timed for telemetry.

    Each call appends one ``(method code, latency µs)`` tuple to ``telemetry``, an intake the
    telemetry actor drains: two ``perf_counter_ns`` reads and one lock-free append, about 0.6 µs
    on a 2.4 µs ``get_treatment`` (half of it the two clock reads). A subclass, so that localhost
    mode (no telemetry) pays nothing; built from a plain core with ``measuring``. Calls on a
    destroyed or waiting-for-fork factory are not measured (spec: client-api §4.1).
    """

    __slots__ = ("_telemetry",)
    _telemetry: Intake[CallRecord]

    @classmethod
    def measuring(
        cls, core: EvaluationCore, telemetry: Intake[CallRecord]
    ) -> MeasuredEvaluationCore:
        """A core with ``core``'s settings whose calls are also timed into ``telemetry``."""
        measured = cls.__new__(cls)
        for name in EvaluationCore.__slots__:
            setattr(measured, name, getattr(core, name))
        measured._telemetry = telemetry
        return measured

    def treatment(
        self, key: Any, flag_name: Any, attributes: Any, options: Any, method: str
    ) -> TreatmentResult | Steps[TreatmentResult]:
        started = perf_counter_ns()
        checked = self._check_one(key, flag_name, attributes, options, method)
        if len(checked) == 3:
            return checked  # invalid input, destroyed: no latency (official)
        result = self._evaluate_one(checked, attributes, self._state.snapshot)
        return self._timed_one(result, method, started)

    def treatments(
        self, key: Any, flag_names: Any, attributes: Any, options: Any, method: str
    ) -> ManyResults | Steps[ManyResults]:
        started = perf_counter_ns()
        checked = self._check_many(key, flag_names, attributes, options, method)
        if isinstance(checked, dict):
            return checked
        return self._timed(
            self._evaluate_many(checked, attributes, self._state.snapshot), method, started
        )

    def treatments_by_flag_sets(
        self, key: Any, flag_sets: Any, attributes: Any, options: Any, method: str
    ) -> ManyResults | Steps[ManyResults]:
        started = perf_counter_ns()
        snapshot = self._state.snapshot
        names = self._flag_set_names(self._flag_sets_argument(flag_sets, method), snapshot)
        checked = self._check_by_sets(key, names, attributes, options, method)
        if isinstance(checked, dict):
            return checked
        return self._timed(self._evaluate_many(checked, attributes, snapshot), method, started)

    def track(
        self, key: Any, traffic_type: Any, event_type: Any, value: Any, properties: Any
    ) -> bool | Steps[bool]:
        started = perf_counter_ns()
        checked = self._check_track(key, traffic_type, event_type, value, properties)
        if checked is None:
            return False
        return self._timed(self._track_checked(checked), "track", started)

    def _timed(self, result: R, method: str, started: int) -> R:
        """``result``, its call's latency recorded (calls that got past validation)."""
        self._telemetry.append((METHOD_CODES[method], (perf_counter_ns() - started) // 1000))
        return result

    def _timed_one(self, result: TreatmentResult, method: str, started: int) -> TreatmentResult:
        """A single-flag call is timed only when its flag exists (official)."""
        if result[2] is None or labels.DEFINITION_NOT_FOUND not in result[2]:
            self._telemetry.append((METHOD_CODES[method], (perf_counter_ns() - started) // 1000))
        return result

    def _note(self, record: CallRecord) -> None:
        self._telemetry.append(record)


R = TypeVar("R")
_new_event = tuple.__new__  # skips NamedTuple's Python-level __new__ on the track path
KNOWN_EVENT_TYPES = 1000  # valid event types remembered per factory


def _close(outcome: Awaitable[Any]) -> None:
    close = getattr(outcome, "close", None)
    if close is not None:
        close()


def _warn_missing(method: str, name: str) -> None:
    _LOGGER.warning(
        '%s: you passed "%s" that does not exist in this environment, please double check what '
        "Feature flags exist in the Split user interface.", method, name,
    )


def _warn_traffic_type(traffic_type: str) -> None:
    _VALIDATION_LOGGER.warning(
        "track: Traffic Type %s does not have any corresponding Feature flags in this "
        "environment, make sure you're tracking your events to a valid traffic type "
        "defined in the Split user interface.", traffic_type,
    )


def _validate_traffic_type(traffic_type: Any) -> str | None:
    if traffic_type is None:
        _VALIDATION_LOGGER.error(
            "track: you passed a null traffic_type, traffic_type must be a non-empty string."
        )
        return None
    if not isinstance(traffic_type, str):
        _VALIDATION_LOGGER.error(
            "track: you passed an invalid traffic_type, traffic_type must be a non-empty string."
        )
        return None
    if not traffic_type.strip():
        _VALIDATION_LOGGER.error(
            "track: you passed an empty traffic_type, traffic_type must be a non-empty string."
        )
        return None
    if traffic_type.lower() != traffic_type:
        _VALIDATION_LOGGER.warning(
            "track: traffic type '%s' should be all lowercase - converting string to lowercase",
            traffic_type,
        )
    return traffic_type.lower()


def _valid_event_type(event_type: Any) -> bool:
    if event_type is None:
        _VALIDATION_LOGGER.error(
            "track: you passed a null event_type, event_type must be a non-empty string."
        )
        return False
    if not isinstance(event_type, str):
        _VALIDATION_LOGGER.error(
            "track: you passed an invalid event_type, event_type must be a non-empty string."
        )
        return False
    if not event_type:
        _VALIDATION_LOGGER.error(
            "track: you passed an empty event_type, event_type must be a non-empty string."
        )
        return False
    if not EVENT_TYPE_RE.fullmatch(event_type):
        _VALIDATION_LOGGER.error(
            "track: you passed %s, an event name must adhere to the regular expression %s. This "
            "means an event name must be alphanumeric, cannot be more than 80 characters long, "
            "and can only include a dash, underscore, period, or colon as separators of "
            "alphanumeric characters.", event_type, EVENT_TYPE_RE.pattern,
        )
        return False
    return True

