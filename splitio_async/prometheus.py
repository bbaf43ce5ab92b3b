"""The factory's health figures for Prometheus (``pip install 'splitio_async[prometheus]'``).

    from prometheus_client import REGISTRY
    from splitio_async.prometheus import StatusCollector

    REGISTRY.register(StatusCollector(factory))    # our async SplitFactory or the shim's

A custom collector: each scrape reads ``factory.status()`` once (a plain call, safe from the
scraping thread) and reports what it says; the SDK keeps no Prometheus state and the hot path pays
nothing. ``examples/metrics_prometheus.py`` serves it as a text endpoint.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ._optional import require

require("prometheus_client", "splitio_async.prometheus")  # before the imports: a clear message

from prometheus_client.core import (  # noqa: E402
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector  # noqa: E402

if TYPE_CHECKING:
    from .status import FactoryStatus

__all__ = ("StatusCollector",)

KINDS = ("impressions", "events")


class _HasStatus(Protocol):
    def status(self) -> FactoryStatus: ...


class StatusCollector(Collector):
    """``factory.status()`` as Prometheus metrics named ``<prefix>_...``; ``labels`` are added
    to every sample (to tell several factories apart). Holds the factory weakly."""

    def __init__(
        self, factory: _HasStatus, prefix: str = "splitio",
        labels: dict[str, str] | None = None,
    ) -> None:
        self._factory = weakref.ref(factory)
        self._prefix = prefix
        self._labels = dict(labels or {})

    def collect(self) -> Iterator[Metric]:
        """The metrics of one scrape, from one ``factory.status()`` read (nothing once the
        factory is gone)."""
        factory = self._factory()
        if factory is None:
            return
        status = factory.status()
        names, values = list(self._labels), list(self._labels.values())
        p = self._prefix

        def family(kind: type[Any], name: str, doc: str, extra: str | None = None) -> Any:
            return kind(f"{p}_{name}", doc, labels=[*names, extra] if extra else names)

        ready = family(GaugeMetricFamily, "ready", "1 when ready and not destroyed")
        ready.add_metric(values, 1 if status.ready and not status.destroyed else 0)
        yield ready
        per_kind = {
            "records_queued": ("queued", "Records handed to the recorders", CounterMetricFamily),
            "records_sent": ("delivered", "Records delivered", CounterMetricFamily),
            "records_dropped": ("dropped", "Records refused at a bound", CounterMetricFamily),
            "records_lost": ("lost", "Records undelivered at the shutdown deadline",
                             CounterMetricFamily),
            "posts_failed": ("post_failures", "Sends that failed (each is retried)",
                             CounterMetricFamily),
            "records_waiting": ("queue_depths", "Records waiting for delivery",
                                GaugeMetricFamily),
        }
        for name, (field, doc, kind) in per_kind.items():
            metric = family(kind, name, doc, "kind")
            figures = getattr(status, field)
            for record_kind in KINDS:
                metric.add_metric([*values, record_kind], figures.get(record_kind, 0))
            yield metric
        age = family(GaugeMetricFamily, "sync_age_seconds",
                     "Seconds since the last successful fetch", "kind")
        now = time.time() * 1000
        for sync_kind, last in status.last_sync.items():
            if last is not None:
                age.add_metric([*values, sync_kind], (now - last) / 1000)
        yield age
        connected = family(GaugeMetricFamily, "streaming_connected",
                           "1 while streaming delivers updates")
        connected.add_metric(values, 1 if status.streaming.get("connected") else 0)
        yield connected
        reconnects = family(CounterMetricFamily, "streaming_reconnects",
                            "Times the stream was opened again")
        count = status.streaming.get("reconnects", 0)
        reconnects.add_metric(values, count if isinstance(count, int) else 0)
        yield reconnects
        numbers = family(GaugeMetricFamily, "change_number", "Change number of the data held",
                         "kind")
        for data_kind, number in status.change_numbers.items():
            if isinstance(number, int):
                numbers.add_metric([*values, data_kind], number)
        yield numbers
