"""The OpenTelemetry hook (``splitio_async.opentelemetry``) with the OpenTelemetry SDK's in-memory
exporters: the ``feature_flag`` span event and its semantic-convention attributes, a span per
evaluation, evaluation metrics; then through the public API on asyncio, trio and the blocking
shim (every client method, flag-set ones included, seen on the caller's span)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from splitio_async.hooks import Evaluation, EvaluationDetail, TrackedEvent
from splitio_async.opentelemetry import OpenTelemetryHook, reason_of

EVALUATION = Evaluation("get_treatment", "new_checkout", "alice", None, None)


class Telemetry:
    """A tracer provider with an in-memory span exporter, a meter provider with an in-memory
    reader."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])
        self.tracer = self.tracer_provider.get_tracer("test")

    def hook(self, **options: Any) -> OpenTelemetryHook:
        return OpenTelemetryHook(tracer_provider=self.tracer_provider,
                                 meter_provider=self.meter_provider, **options)

    def finished(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans.get_finished_spans() if span.name == name]

    def points(self, name: str) -> dict[frozenset[tuple[str, Any]], Any]:
        data = self.metrics.get_metrics_data()
        found: dict[frozenset[tuple[str, Any]], Any] = {}
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            found[frozenset((point.attributes or {}).items())] = point
        return found

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.close()


@pytest.mark.parametrize(("label", "reason", "error"), [
    ("default rule", "default", None),
    ("not in split", "default", None),
    ("prerequisites not met", "default", None),
    ("killed", "disabled", None),
    ("in segment beta", "targeting_match", None),
    ("whitelisted", "targeting_match", None),
    ("definition not found", "error", "flag_not_found"),
    ("not ready", "error", "provider_not_ready"),
    ("exception", "error", "general"),
    ("fallback - not ready", "default", "provider_not_ready"),
    ("fallback - definition not found", "default", "flag_not_found"),
    (None, "unknown", None),
])
def test_the_reason_comes_from_the_label(label: str | None, reason: str,
                                         error: str | None) -> None:
    assert reason_of(label) == (reason, error)


def test_an_evaluation_is_an_event_on_the_current_span(otel: Telemetry) -> None:
    hook = otel.hook()
    with otel.tracer.start_as_current_span("request"):
        state = hook.before_evaluation(EVALUATION)
        hook.after_evaluation(EVALUATION, EvaluationDetail("on", None, "in segment beta", 42,
                                                            0.000003), state)
    (request,) = otel.finished("request")
    (event,) = request.events
    assert event.name == "feature_flag"
    assert dict(event.attributes or {}) == {
        "feature_flag.key": "new_checkout",
        "feature_flag.provider.name": "Split",
        "feature_flag.result.variant": "on",
        "feature_flag.context.id": "alice",
        "feature_flag.result.reason": "targeting_match",
        "feature_flag.version": "42",
        "splitio.label": "in segment beta",
    }
    assert otel.finished("feature_flag.evaluation") == []  # no span per evaluation by default


def test_a_failed_evaluation_carries_its_error_type(otel: Telemetry) -> None:
    hook = otel.hook(provider_name="Split (eu)")
    with otel.tracer.start_as_current_span("request"):
        hook.after_evaluation(EVALUATION, EvaluationDetail("control", None, "not ready", None,
                                                            0.000001), None)
    (event,) = otel.finished("request")[0].events
    attributes = dict(event.attributes or {})
    assert attributes["feature_flag.result.reason"] == "error"
    assert attributes["error.type"] == "provider_not_ready"
    assert attributes["feature_flag.provider.name"] == "Split (eu)"
    assert "feature_flag.version" not in attributes


def test_a_span_per_evaluation_is_a_child_of_the_current_span(otel: Telemetry) -> None:
    hook = otel.hook(spans=True)
    with otel.tracer.start_as_current_span("request"):
        state = hook.before_evaluation(EVALUATION)
        assert state is not None
        hook.after_evaluation(EVALUATION, EvaluationDetail("off", None, "default rule", 7,
                                                            0.000002), state)
    (request,) = otel.finished("request")
    (evaluation,) = otel.finished("feature_flag.evaluation")
    assert evaluation.parent is not None
    assert evaluation.parent.span_id == request.context.span_id
    assert (evaluation.attributes or {})["feature_flag.result.variant"] == "off"
    assert (evaluation.attributes or {})["feature_flag.result.reason"] == "default"


def test_no_current_span_is_not_a_problem(otel: Telemetry) -> None:
    otel.hook().after_evaluation(EVALUATION, EvaluationDetail("on", None, "x", 1, 0.0), None)
    assert otel.spans.get_finished_spans() == ()


def test_evaluations_are_counted_by_flag_and_treatment_and_timed(otel: Telemetry) -> None:
    hook = otel.hook(latency_histogram=True)
    for treatment in ("on", "on", "off"):
        hook.after_evaluation(EVALUATION, EvaluationDetail(treatment, None, "r", 1, 0.000004),
                              None)
    hook.after_track(TrackedEvent("alice", "user", "checkout", None, None, True))
    counted = otel.points("splitio.evaluations")
    on = frozenset({("feature_flag.key", "new_checkout"), ("feature_flag.result.variant", "on")})
    off = frozenset({("feature_flag.key", "new_checkout"),
                     ("feature_flag.result.variant", "off")})
    assert counted[on].value == 2 and counted[off].value == 1
    (spent,) = otel.points("splitio.evaluation.time").items()
    assert dict(spent[0]) == {"splitio.method": "get_treatment"}
    assert spent[1].value == pytest.approx(0.000012)
    (latency,) = otel.points("splitio.evaluation.duration").values()
    assert latency.count == 3 and latency.sum == pytest.approx(0.000012)
    (tracked,) = otel.points("splitio.track.events").items()
    assert dict(tracked[0]) == {"splitio.event_type": "checkout", "splitio.queued": True}
    assert tracked[1].value == 1


def test_no_latency_histogram_unless_asked(otel: Telemetry) -> None:
    otel.hook().after_evaluation(EVALUATION, EvaluationDetail("on", None, "r", 1, 0.0), None)
    assert otel.points("splitio.evaluation.duration") == {}
    assert otel.points("splitio.evaluations") != {}


def test_metrics_can_be_left_out(otel: Telemetry) -> None:
    otel.hook(metrics=False).after_evaluation(
        EVALUATION, EvaluationDetail("on", None, "r", 1, 0.0), None
    )
    assert otel.points("splitio.evaluations") == {}


def _flags(tmp_path: Path) -> str:
    from tests.helpers import rollout_flag, write_split_changes  # noqa: PLC0415

    flags = [rollout_flag("f", (("on", 100),), sets=["s"]),
             rollout_flag("g", (("off", 100),), sets=["s"])]
    return str(write_split_changes(tmp_path / "flags.json", flags))


def every_method(client: Any) -> list[Callable[[], Any]]:
    """Every client method once: plain calls for the shim, coroutines for the async API."""
    return [
        lambda: client.get_treatment("alice", "f"),
        lambda: client.get_treatment_with_config("alice", "f"),
        lambda: client.get_treatments("alice", ["f", "g"]),
        lambda: client.get_treatments_with_config("alice", ["f"]),
        lambda: client.get_treatments_by_flag_set("alice", "s"),
        lambda: client.get_treatments_by_flag_sets("alice", ["s"]),
        lambda: client.get_treatments_with_config_by_flag_set("alice", "s"),
        lambda: client.get_treatments_with_config_by_flag_sets("alice", ["s"]),
        lambda: client.track("alice", "user", "checkout", 2.5),
    ]


EXPECTED_EVENTS = [  # (method, flag) of every span event _call_everything produces
    ("get_treatment", "f"), ("get_treatment_with_config", "f"),
    ("get_treatments", "f"), ("get_treatments", "g"), ("get_treatments_with_config", "f"),
    ("get_treatments_by_flag_set", "f"), ("get_treatments_by_flag_set", "g"),
    ("get_treatments_by_flag_sets", "f"), ("get_treatments_by_flag_sets", "g"),
    ("get_treatments_with_config_by_flag_set", "f"),
    ("get_treatments_with_config_by_flag_set", "g"),
    ("get_treatments_with_config_by_flag_sets", "f"),
    ("get_treatments_with_config_by_flag_sets", "g"),
]


def _check(otel: Telemetry) -> None:
    (request,) = otel.finished("request")
    flags = [(event.attributes or {})["feature_flag.key"] for event in request.events]
    assert flags == [flag for _, flag in EXPECTED_EVENTS]
    assert {(event.attributes or {})["feature_flag.result.variant"]
            for event in request.events} == {"on", "off"}
    assert all((event.attributes or {})["feature_flag.context.id"] == "alice"
               for event in request.events)
    assert len(otel.finished("feature_flag.evaluation")) == len(EXPECTED_EVENTS)
    counted = otel.points("splitio.evaluations")
    assert sum(point.value for point in counted.values()) == len(EXPECTED_EVENTS)
    (tracked,) = otel.points("splitio.track.events").values()
    assert tracked.value == 1


@pytest.mark.anyio
async def test_every_async_client_method_is_traced(tmp_path: Path, otel: Telemetry) -> None:
    from splitio_async import open_factory  # noqa: PLC0415
    from splitio_async.opentelemetry import instrument  # noqa: PLC0415

    config = {"splitFile": _flags(tmp_path), "hookBudgetMs": 60_000}  # a loaded machine stalls
    async with open_factory("localhost", config=config) as factory:
        await factory.block_until_ready(5)
        instrument(factory, spans=True, tracer_provider=otel.tracer_provider,
                   meter_provider=otel.meter_provider)
        with otel.tracer.start_as_current_span("request"):
            for call in every_method(factory.client()):
                await call()
    _check(otel)
    ready = otel.points("splitio.ready")
    assert [point.value for point in ready.values()] == [0]  # collected after destroy


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_every_shim_client_method_is_traced(tmp_path: Path, otel: Telemetry,
                                            backend: str) -> None:
    from splitio_async.opentelemetry import OpenTelemetryHook  # noqa: PLC0415
    from splitio_sync_shim import get_factory  # noqa: PLC0415

    hook = OpenTelemetryHook(spans=True, tracer_provider=otel.tracer_provider,
                             meter_provider=otel.meter_provider)
    factory = get_factory("localhost", config={"splitFile": _flags(tmp_path), "hooks": [hook],
                                               "hookBudgetMs": 60_000}, async_backend=backend)
    assert factory is not None
    try:
        factory.block_until_ready(5)
        with otel.tracer.start_as_current_span("request"):
            for call in every_method(factory.client()):
                call()
    finally:
        factory.destroy()
    _check(otel)
