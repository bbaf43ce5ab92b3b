"""Blocking facade of splitio_async, with the official ``splitio`` sync API.

    factory = get_factory("localhost", config={"splitFile": "flags.yaml"})
    factory.block_until_ready(5)
    treatment = factory.client().get_treatment("user-1", "new_checkout")

Public names load on first use, like ``splitio_async``'s.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from splitio_async import __version__ as __version__

if TYPE_CHECKING:
    from splitio_async import EvaluationOptions as EvaluationOptions
    from splitio_async import FactoryStatus as FactoryStatus
    from splitio_async import FallbackTreatment as FallbackTreatment
    from splitio_async import FallbackTreatmentsConfiguration as FallbackTreatmentsConfiguration
    from splitio_async import Key as Key
    from splitio_async import SdkEvent as SdkEvent
    from splitio_async import SplitView as SplitView

    from .client import Client as Client
    from .exceptions import TimeoutException as TimeoutException
    from .factory import SyncSplitFactory as SyncSplitFactory
    from .factory import get_factory as get_factory
    from .manager import Manager as Manager

_WHERE = {
    "Client": ".client",
    "EvaluationOptions": "splitio_async",
    "FactoryStatus": "splitio_async",
    "FallbackTreatment": "splitio_async",
    "FallbackTreatmentsConfiguration": "splitio_async",
    "Key": "splitio_async",
    "Manager": ".manager",
    "SdkEvent": "splitio_async",
    "SplitView": "splitio_async",
    "SyncSplitFactory": ".factory",
    "TimeoutException": ".exceptions",
    "get_factory": ".factory",
}

__all__ = (
    "Client",
    "EvaluationOptions",
    "FactoryStatus",
    "FallbackTreatment",
    "FallbackTreatmentsConfiguration",
    "Key",
    "Manager",
    "SdkEvent",
    "SplitView",
    "SyncSplitFactory",
    "TimeoutException",
    "__version__",
    "get_factory",
)


def __getattr__(name: str) -> object:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
