"""OpenTelemetry for a Split factory (``pip install 'splitio_async[opentelemetry]'``).

    from splitio_async.opentelemetry import instrument

    instrument(factory)               # our async SplitFactory or the shim's factory

``OpenTelemetryHook`` is an evaluation hook (see ``splitio_async.hooks``). For every evaluation it
adds a ``feature_flag`` event to the current span with the OpenTelemetry semantic conventions'
attributes (``feature_flag.key``, ``feature_flag.provider.name``, ``feature_flag.result.variant``,
``feature_flag.context.id``, ``feature_flag.result.reason`` from the impression label,
``feature_flag.version`` from the change number, ``error.type`` when the SDK could not evaluate),
optionally starts a span per evaluation, and counts evaluations by flag and treatment and the time
spent on them (in the hook; reported when the metric reader collects). ``register_metrics`` adds
the SDK's own figures as observable instruments, read from ``factory.status()`` when the metric
reader collects (nothing on the hot path): records queued, sent, dropped, lost and waiting,
failed posts, seconds since the last successful sync, streaming connected and reconnects,
readiness and the data's change numbers.

Only ``opentelemetry-api`` is needed: without an SDK configured every call is a no-op.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ._optional import require

require("opentelemetry", "splitio_async.opentelemetry")  # before the imports: a clear message

from opentelemetry import metrics, trace  # noqa: E402
from opentelemetry.metrics import CallbackOptions, Observation  # noqa: E402

from ._version import __version__  # noqa: E402
from .hooks import Evaluation, EvaluationDetail, Hook, TrackedEvent  # noqa: E402
from .models import labels  # noqa: E402

if TYPE_CHECKING:
    from .status import FactoryStatus

__all__ = ("OpenTelemetryHook", "SdkMetrics", "instrument", "reason_of", "register_metrics")

EVENT_NAME = "feature_flag"
SPAN_NAME = "feature_flag.evaluation"
PROVIDER_NAME = "Split"
INSTRUMENTATION = "splitio_async"

_DEFAULT_LABELS = frozenset(
    (labels.DEFAULT_RULE, labels.NOT_IN_SPLIT, labels.PREREQUISITES_NOT_MET)
)
_ERRORS = {  # label -> error.type (OpenFeature's error codes, as the conventions suggest)
    labels.DEFINITION_NOT_FOUND: "flag_not_found",
    labels.NOT_READY: "provider_not_ready",
    labels.EXCEPTION: "general",
    labels.UNSUPPORTED: "general",
}
_FALLBACK = "fallback - "


def reason_of(label: str | None) -> tuple[str, str | None]:
    """``(feature_flag.result.reason, error.type or None)`` for an impression label.

    ``killed`` is ``disabled``; the default rule, traffic allocation and unmet prerequisites are
    ``default``; the SDK's failures (missing flag, not ready, exception) are ``error``, and a
    configured fallback treatment answering for one is ``default`` with the same ``error.type``;
    any other label is a targeting rule's: ``targeting_match``."""
    if label is None:
        return "unknown", None
    if label.startswith(_FALLBACK):
        return "default", _ERRORS.get(label[len(_FALLBACK):], "general")
    error = _ERRORS.get(label)
    if error is not None:
        return "error", error
    if label == labels.KILLED:
        return "disabled", None
    if label in _DEFAULT_LABELS:
        return "default", None
    return "targeting_match", None


class OpenTelemetryHook(Hook):
    """Span events, optional spans and evaluation metrics for every evaluation.

    The evaluation metrics are counted in the hook (a dict update under a lock, about 0.3 µs)
    and reported by observable instruments when the metric reader collects: the SDK's
    synchronous instruments cost 4 to 7 µs per call each, more than the evaluation itself.

    :param provider_name: ``feature_flag.provider.name``.
    :param spans: also start one span per evaluation (a child of the current span).
    :param metrics: count evaluations by flag and treatment (``splitio.evaluations``), the time
        spent evaluating by client method (``splitio.evaluation.time``, seconds: with the count,
        the mean latency) and ``track`` calls (``splitio.track.events``).
    :param latency_histogram: also record each evaluation's latency in a histogram
        (``splitio.evaluation.duration``, seconds), on the hot path.
    :param tracer_provider: default: the global one.
    :param meter_provider: default: the global one.
    """

    name = "OpenTelemetryHook"

    def __new__(cls, *, spans: bool = False, **options: Any) -> OpenTelemetryHook:
        # with spans, an instance of the subclass that has a before_evaluation (starting the
        # span); without, none: the SDK then calls nothing before an evaluation
        return super().__new__(_SpanningHook if spans and cls is OpenTelemetryHook else cls)

    def __init__(
        self,
        *,
        provider_name: str = PROVIDER_NAME,
        spans: bool = False,
        metrics: bool = True,
        latency_histogram: bool = False,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: Any = None,
    ) -> None:
        self._provider = provider_name
        self._tracer = trace.get_tracer(INSTRUMENTATION, __version__, tracer_provider)
        self._attributes: dict[tuple[str, str, str | None, int | None], dict[str, Any]] = {}
        self._metrics = metrics
        self._lock = threading.Lock()
        self._evaluations: dict[tuple[str, str], int] = {}  # (flag, treatment) -> count
        self._seconds: dict[str, float] = {}  # client method -> seconds spent evaluating
        self._tracks: dict[tuple[str, bool], int] = {}  # (event type, queued) -> count
        self._latency: Any = None
        if metrics or latency_histogram:
            meter = _meter(meter_provider)
        if metrics:
            meter.create_observable_counter(
                "splitio.evaluations", [self._observe_evaluations], unit="{evaluation}",
                description="Feature flag evaluations, by flag and treatment",
            )
            meter.create_observable_counter(
                "splitio.evaluation.time", [self._observe_seconds], unit="s",
                description="Seconds spent evaluating, by client method",
            )
            meter.create_observable_counter(
                "splitio.track.events", [self._observe_tracks], unit="{event}",
                description="track() calls that passed validation, by event type and outcome",
            )
        if latency_histogram:
            self._latency = meter.create_histogram(
                "splitio.evaluation.duration", unit="s",
                description="Time the SDK spent evaluating a flag",
            )

    def after_evaluation(
        self, evaluation: Evaluation, detail: EvaluationDetail, state: Any
    ) -> None:
        """Add the ``feature_flag`` event to the current span (when it records), end this
        evaluation's span (``spans=True``), count the evaluation."""
        span = trace.get_current_span()
        if span.is_recording() or state is not None:
            attributes = self._event_attributes(evaluation, detail)
            if span.is_recording():
                span.add_event(EVENT_NAME, attributes)
            if state is not None:  # this evaluation's own span
                state.set_attributes(attributes)
                state.end()
        if self._metrics:
            counted = (evaluation.flag, detail.treatment)
            method = evaluation.method
            with self._lock:
                self._evaluations[counted] = self._evaluations.get(counted, 0) + 1
                self._seconds[method] = self._seconds.get(method, 0.0) + detail.duration
        if self._latency is not None:
            self._latency.record(detail.duration, {"splitio.method": evaluation.method})

    def after_track(self, event: TrackedEvent) -> None:
        """Count the ``track`` call by event type and outcome."""
        if self._metrics:
            counted = (event.event_type, event.queued)
            with self._lock:
                self._tracks[counted] = self._tracks.get(counted, 0) + 1

    def _observe_evaluations(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            counts = list(self._evaluations.items())
        return [Observation(count, {"feature_flag.key": flag,
                                    "feature_flag.result.variant": treatment})
                for (flag, treatment), count in counts]

    def _observe_seconds(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            seconds = list(self._seconds.items())
        return [Observation(total, {"splitio.method": method}) for method, total in seconds]

    def _observe_tracks(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            counts = list(self._tracks.items())
        return [Observation(count, {"splitio.event_type": event_type, "splitio.queued": queued})
                for (event_type, queued), count in counts]

    def _event_attributes(
        self, evaluation: Evaluation, detail: EvaluationDetail
    ) -> dict[str, Any]:
        """The event's attributes; the key-independent part is built once per flag, treatment,
        label and change number, and copied (an SDK may keep the mapping it is given)."""
        cache_key = (evaluation.flag, detail.treatment, detail.label, detail.change_number)
        common = self._attributes.get(cache_key)
        if common is None:
            reason, error = reason_of(detail.label)
            common = {
                "feature_flag.key": evaluation.flag,
                "feature_flag.provider.name": self._provider,
                "feature_flag.result.variant": detail.treatment,
                "feature_flag.result.reason": reason,
            }
            if detail.change_number is not None and detail.change_number >= 0:
                common["feature_flag.version"] = str(detail.change_number)
            if error is not None:
                common["error.type"] = error
            if detail.label:
                common["splitio.label"] = detail.label
            if len(self._attributes) < 10_000:  # bounded: flags x treatments x labels
                self._attributes[cache_key] = common
        attributes = dict(common)
        attributes["feature_flag.context.id"] = evaluation.key
        return attributes


Reader = Callable[["FactoryStatus"], Iterable[tuple[float, dict[str, Any]]]]


class _SpanningHook(OpenTelemetryHook):
    """``OpenTelemetryHook(spans=True)``: a span per evaluation, ended by ``after_evaluation``."""

    def before_evaluation(self, evaluation: Evaluation) -> Any:
        """Start this evaluation's span, a child of the current span."""
        return self._tracer.start_span(SPAN_NAME, attributes={
            "feature_flag.key": evaluation.flag,
            "feature_flag.provider.name": self._provider,
            "feature_flag.context.id": evaluation.key,
        })


class _HasStatus(Protocol):
    def status(self) -> FactoryStatus: ...


def _meter(meter_provider: Any) -> Any:
    if meter_provider is None:
        return metrics.get_meter(INSTRUMENTATION, __version__)
    return meter_provider.get_meter(INSTRUMENTATION, __version__)


class SdkMetrics:
    """The factory's figures as observable instruments (see ``register_metrics``).

    Holds the factory weakly: once it is garbage-collected the instruments report nothing."""

    def __init__(
        self, factory: _HasStatus, meter_provider: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self._factory = weakref.ref(factory)
        self._attributes = dict(attributes or {})
        meter = _meter(meter_provider)
        kinds = ("impressions", "events")

        def per_kind(field: str) -> Reader:
            def read(status: FactoryStatus) -> Iterable[tuple[float, dict[str, Any]]]:
                figures: Mapping[str, Any] = getattr(status, field)
                return [(figures.get(kind, 0), {"splitio.record.kind": kind}) for kind in kinds]
            return read

        counters = {
            "splitio.records.queued": ("queued", "Records handed to the SDK's recorders"),
            "splitio.records.sent": ("delivered", "Records delivered"),
            "splitio.records.dropped": ("dropped", "Records refused at a bound"),
            "splitio.records.lost": ("lost", "Records still undelivered at the shutdown deadline"),
            "splitio.posts.failed": ("post_failures", "Sends that failed (each is retried)"),
        }
        for name, (field, description) in counters.items():
            meter.create_observable_counter(
                name, [self._callback(per_kind(field))],
                unit="{failure}" if field == "post_failures" else "{record}",
                description=description,
            )
        meter.create_observable_up_down_counter(
            "splitio.records.waiting", [self._callback(per_kind("queue_depths"))],
            unit="{record}", description="Records waiting for delivery",
        )
        meter.create_observable_gauge(
            "splitio.sync.age", [self._callback(_sync_age)], unit="s",
            description="Seconds since the last successful fetch, by kind of data",
        )
        meter.create_observable_gauge(
            "splitio.streaming.connected", [self._callback(_streaming_connected)],
            description="1 while streaming delivers updates, else 0",
        )
        meter.create_observable_counter(
            "splitio.streaming.reconnects", [self._callback(_streaming_reconnects)],
            unit="{reconnect}", description="Times the stream was opened again",
        )
        meter.create_observable_gauge(
            "splitio.ready", [self._callback(_ready)],
            description="1 when the factory is ready and not destroyed, else 0",
        )
        meter.create_observable_gauge(
            "splitio.change_number", [self._callback(_change_numbers)],
            description="Change number of the data held, by kind",
        )

    def _status(self) -> FactoryStatus | None:
        """A fresh ``status()`` per instrument: a plain read of what the actors keep, some
        microseconds, a dozen times per collection."""
        factory = self._factory()
        return None if factory is None else factory.status()

    def _callback(self, read: Reader) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            status = self._status()
            if status is None:
                return []
            return [Observation(value, {**self._attributes, **attributes})
                    for value, attributes in read(status)]
        return observe


def _sync_age(status: FactoryStatus) -> list[tuple[float, dict[str, Any]]]:
    now = time.time() * 1000
    return [((now - last) / 1000, {"splitio.sync.kind": kind})
            for kind, last in status.last_sync.items() if last is not None]


def _streaming_connected(status: FactoryStatus) -> list[tuple[float, dict[str, Any]]]:
    return [(1 if status.streaming.get("connected") else 0, {})]


def _streaming_reconnects(status: FactoryStatus) -> list[tuple[float, dict[str, Any]]]:
    reconnects = status.streaming.get("reconnects", 0)
    return [(reconnects if isinstance(reconnects, int) else 0, {})]


def _ready(status: FactoryStatus) -> list[tuple[float, dict[str, Any]]]:
    return [(1 if status.ready and not status.destroyed else 0, {})]


def _change_numbers(status: FactoryStatus) -> list[tuple[float, dict[str, Any]]]:
    return [(number, {"splitio.data.kind": kind})
            for kind, number in status.change_numbers.items() if isinstance(number, int)]


def register_metrics(
    factory: _HasStatus, *, meter_provider: Any = None,
    attributes: Mapping[str, Any] | None = None,
) -> SdkMetrics:
    """The factory's figures as observable OpenTelemetry instruments; ``attributes`` are added
    to every observation (e.g. to tell several factories apart)."""
    return SdkMetrics(factory, meter_provider, attributes)


class _Hookable(_HasStatus, Protocol):
    def add_hook(self, hook: Any) -> bool: ...


def instrument(
    factory: _Hookable, *, spans: bool = False, provider_name: str = PROVIDER_NAME,
    tracer_provider: trace.TracerProvider | None = None, meter_provider: Any = None,
    attributes: Mapping[str, Any] | None = None,
) -> OpenTelemetryHook:
    """Everything at once: an ``OpenTelemetryHook`` on ``factory`` and its SDK metrics."""
    hook = OpenTelemetryHook(provider_name=provider_name, spans=spans,
                             tracer_provider=tracer_provider, meter_provider=meter_provider)
    factory.add_hook(hook)
    register_metrics(factory, meter_provider=meter_provider, attributes=attributes)
    return hook
