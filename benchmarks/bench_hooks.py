"""What evaluation hooks cost on the hot path: no hook, one no-op hook, the OpenTelemetry hook.

    .venv/bin/python benchmarks/bench_hooks.py            # ~1 min
    .venv/bin/python benchmarks/bench_hooks.py --quick    # smoke run
    .venv/bin/python benchmarks/bench_hooks.py --json out.json

One localhost factory per variant (examples/flags.json, no network), timed through the blocking
shim and the async API on asyncio: ``get_treatment`` over 1,000 keys and ``get_treatments`` of
three flags, CPU time of the calling thread per call (a shared machine's waits for a CPU left out),
best of ``--reps`` rounds in which the variants take turns (so a busy moment of the machine hits
every variant alike). The variants:

* ``none``: no hook registered: the plain evaluation core, the figure to compare with
  ``bench_evaluation.py``'s (hooks must cost nothing when none is registered);
* ``noop``: one hook whose ``before_evaluation`` and ``after_evaluation`` do nothing;
* ``otel``: ``splitio_async.opentelemetry.OpenTelemetryHook`` with the OpenTelemetry SDK set up
  (a tracer provider with a batch span processor, a meter provider with an in-memory reader),
  every call made inside a recording span, so each evaluation adds a span event and is counted;
* ``otel-spans``: the same, plus one span per evaluation.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from splitio_async import open_factory  # noqa: E402
from splitio_async.hooks import Evaluation, EvaluationDetail, Hook  # noqa: E402
from splitio_sync_shim import get_factory  # noqa: E402

EXAMPLE_FLAGS = REPO / "examples" / "flags.json"
SEGMENTS = str(REPO / "examples" / "segments")
ONE_FLAG = "new_checkout"
THREE_FLAGS = ["new_checkout", "dark_mode", "new_checkout_copy"]
VARIANTS = ("none", "noop", "otel", "otel-spans")


class NoOpHook(Hook):
    def before_evaluation(self, evaluation: Evaluation) -> Any:
        return None

    def after_evaluation(self, evaluation: Evaluation, detail: EvaluationDetail,
                         state: Any) -> None:
        return None


class Variant:
    """A variant's hooks, and the context its calls run in (an OpenTelemetry span)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hooks: list[Any] = []
        self._span: Any = None
        self._providers: list[Any] = []
        if name == "noop":
            self.hooks = [NoOpHook()]
        elif name.startswith("otel"):
            from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
            from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: PLC0415
            from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
            from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
                BatchSpanProcessor,
                SpanExporter,
                SpanExportResult,
            )

            class Discard(SpanExporter):
                """Receives the batches, as a real exporter would, and keeps nothing."""

                def export(self, spans: Any) -> SpanExportResult:
                    return SpanExportResult.SUCCESS

            from splitio_async.opentelemetry import OpenTelemetryHook  # noqa: PLC0415

            tracer_provider = TracerProvider()
            tracer_provider.add_span_processor(BatchSpanProcessor(Discard()))
            meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
            self._providers = [tracer_provider, meter_provider]
            self._tracer = tracer_provider.get_tracer("bench")
            self.hooks = [OpenTelemetryHook(spans=name == "otel-spans",
                                            tracer_provider=tracer_provider,
                                            meter_provider=meter_provider)]

    def config(self, flags: str) -> dict[str, Any]:
        config: dict[str, Any] = {"splitFile": flags, "segmentDirectory": SEGMENTS}
        if self.hooks:  # timed inline: a busy machine must not move them off the hot path
            config.update(hooks=self.hooks, hookBudgetMs=60_000)
        return config

    def enter(self) -> None:
        """Calls are timed inside a recording span (one per round, events capped by the SDK)."""
        if self._providers:
            from opentelemetry import trace  # noqa: PLC0415

            self._span = self._tracer.start_span("request")
            self._token = trace.use_span(self._span, end_on_exit=True)
            self._token.__enter__()

    def leave(self) -> None:
        if self._span is not None:
            self._token.__exit__(None, None, None)
            self._span = None

    def close(self) -> None:
        for provider in self._providers:
            provider.shutdown()


def write_flags(directory: Path) -> str:
    """examples/flags.json plus a copy of its first flag under another name: three flags."""
    data = json.loads(EXAMPLE_FLAGS.read_text())
    data["ff"]["d"].append({**data["ff"]["d"][0], "name": "new_checkout_copy"})
    path = directory / "flags.json"
    path.write_text(json.dumps(data))
    return str(path)


def _time_sync(call: Callable[[str], Any], keys: list[str], budget: float) -> float:
    """CPU ns of the calling thread per call of ``call(key)`` over ``keys``, repeated for
    about ``budget`` seconds of that thread's CPU time (so time spent waiting for a CPU on a
    busy machine is not counted, and neither is the recorders' work in other threads)."""
    calls, started = 0, time.thread_time_ns()
    deadline = started + budget * 1e9
    while True:
        for key in keys:
            call(key)
        calls += len(keys)
        now = time.thread_time_ns()
        if now >= deadline:
            return (now - started) / calls


async def _time_async(call: Callable[[str], Any], keys: list[str], budget: float) -> float:
    """``_time_sync`` for a coroutine function (the loop's thread: the SDK's tasks count)."""
    calls, started = 0, time.thread_time_ns()
    deadline = started + budget * 1e9
    while True:
        for key in keys:
            await call(key)
        calls += len(keys)
        now = time.thread_time_ns()
        if now >= deadline:
            return (now - started) / calls


def run_shim(variants: list[Variant], flags: str, keys: list[str], budget: float, reps: int,
             best: dict[str, float]) -> None:
    factories = {}
    for variant in variants:
        factory = get_factory("localhost", config=variant.config(flags))
        assert factory is not None
        factory.block_until_ready(10)
        factories[variant.name] = factory
    try:
        for _ in range(reps):
            for variant in variants:
                client = factories[variant.name].client()
                variant.enter()
                try:
                    one = _time_sync(lambda k, c=client: c.get_treatment(k, ONE_FLAG), keys,
                                     budget)
                    three = _time_sync(lambda k, c=client: c.get_treatments(k, THREE_FLAGS),
                                       keys, budget)
                finally:
                    variant.leave()
                _keep(best, f"shim/get_treatment/{variant.name}", one)
                _keep(best, f"shim/get_treatments(3)/{variant.name}", three)
    finally:
        for factory in factories.values():
            factory.destroy()


def run_async(variants: list[Variant], flags: str, keys: list[str], budget: float, reps: int,
              best: dict[str, float], backend: str) -> None:
    async def body() -> None:
        from contextlib import AsyncExitStack  # noqa: PLC0415

        async with AsyncExitStack() as stack:
            clients = {}
            for variant in variants:
                factory = await stack.enter_async_context(
                    open_factory("localhost", config=variant.config(flags)))
                await factory.block_until_ready(10)
                clients[variant.name] = factory.client()
            for _ in range(reps):
                for variant in variants:
                    client = clients[variant.name]
                    variant.enter()
                    try:
                        one = await _time_async(
                            lambda k, c=client: c.get_treatment(k, ONE_FLAG), keys, budget)
                        three = await _time_async(
                            lambda k, c=client: c.get_treatments(k, THREE_FLAGS), keys, budget)
                    finally:
                        variant.leave()
                    _keep(best, f"{backend}/get_treatment/{variant.name}", one)
                    _keep(best, f"{backend}/get_treatments(3)/{variant.name}", three)

    anyio.run(body, backend=backend)


def _keep(best: dict[str, float], name: str, ns: float) -> None:
    best[name] = min(ns, best.get(name, ns))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--budget", type=float, help="s per measurement (default 0.5)")
    parser.add_argument("--reps", type=int, help="rounds, best kept (default 5, quick 1)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--apis", nargs="+", choices=("shim", "asyncio", "trio"),
                        default=["shim", "asyncio"])
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)
    budget = args.budget or (0.05 if args.quick else 0.5)
    reps = args.reps or (1 if args.quick else 5)
    logging.disable(logging.CRITICAL)  # not-ready and similar lines would distort timings
    keys = [f"user-{n}" for n in range(1000)]
    variants = [Variant(name) for name in args.variants]
    best: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-hooks-") as tmp:
            flags = write_flags(Path(tmp))
            for api in args.apis:
                if api == "shim":
                    run_shim(variants, flags, keys, budget, reps, best)
                else:
                    run_async(variants, flags, keys, budget, reps, best, api)
    finally:
        for variant in variants:
            variant.close()
    rows = sorted({name.rsplit("/", 1)[0] for name in best})
    header = f"{'api / call':<28}" + "".join(f"{v:>14}" for v in args.variants)
    print(header)
    for row in rows:
        base = best.get(f"{row}/none")
        cells = []
        for variant in args.variants:
            ns = best.get(f"{row}/{variant}")
            if ns is None:
                cells.append(f"{'-':>14}")
            elif base is None or variant == "none":
                cells.append(f"{ns / 1000:>11.2f} µs")
            else:
                cells.append(f"{ns / 1000:>6.2f} (+{(ns - base) / 1000:.2f})")
        print(f"{row:<28}" + "".join(f"{cell:>14}" for cell in cells))
    print("CPU µs per call, best of", reps, "rounds; (+x): added to the same call with no hook")
    if args.json:
        args.json.write_text(json.dumps({"budget_s": budget, "reps": reps,
                                         "ns_per_call": best}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
