"""splitio_async: an asyncio-native, trio-compatible Split SDK, API-compatible with
``splitio_client`` 10.x.

    async with open_factory("localhost", config={"splitFile": "flags.yaml"}) as factory:
        client = factory.client()
        treatment = await client.get_treatment("user-1", "new_checkout")

The public names are loaded on first use (PEP 562), so that importing the package, or its pytest
plugin in a test run that never uses the SDK, costs nothing and cannot fail.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__ as __version__

if TYPE_CHECKING:
    from .client import Client as Client
    from .core.evaluation import EvaluationOptions as EvaluationOptions
    from .errors import InvalidSdkKeyError as InvalidSdkKeyError
    from .errors import LocalhostFileError as LocalhostFileError
    from .errors import MissingDependencyError as MissingDependencyError
    from .errors import PluggableConfigurationException as PluggableConfigurationException
    from .errors import SentinelConfigurationException as SentinelConfigurationException
    from .errors import SplitError as SplitError
    from .errors import TimeoutException as TimeoutException
    from .factory import SplitFactory as SplitFactory
    from .factory import get_factory_async as get_factory_async
    from .factory import open_factory as open_factory
    from .key import Key as Key
    from .manager import SplitView as SplitView
    from .models.fallback import FallbackTreatment as FallbackTreatment
    from .models.fallback import (
        FallbackTreatmentsConfiguration as FallbackTreatmentsConfiguration,
    )
    from .sdk_events import EventsMetadata as EventsMetadata
    from .sdk_events import SdkEvent as SdkEvent
    from .sdk_events import SdkEventType as SdkEventType
    from .status import Change as Change
    from .status import ChangeSubscription as ChangeSubscription
    from .status import FactoryStatus as FactoryStatus

_WHERE = {
    "Change": ".status",
    "ChangeSubscription": ".status",
    "Client": ".client",
    "EvaluationOptions": ".core.evaluation",
    "EventsMetadata": ".sdk_events",
    "FactoryStatus": ".status",
    "FallbackTreatment": ".models.fallback",
    "FallbackTreatmentsConfiguration": ".models.fallback",
    "Key": ".key",
    "InvalidSdkKeyError": ".errors",
    "LocalhostFileError": ".errors",
    "MissingDependencyError": ".errors",
    "PluggableConfigurationException": ".errors",
    "SdkEvent": ".sdk_events",
    "SdkEventType": ".sdk_events",
    "SentinelConfigurationException": ".errors",
    "SplitError": ".errors",
    "SplitFactory": ".factory",
    "SplitView": ".manager",
    "TimeoutException": ".errors",
    "get_factory_async": ".factory",
    "open_factory": ".factory",
}

__all__ = (
    "Change",
    "ChangeSubscription",
    "Client",
    "EvaluationOptions",
    "EventsMetadata",
    "FactoryStatus",
    "FallbackTreatment",
    "FallbackTreatmentsConfiguration",
    "Key",
    "InvalidSdkKeyError",
    "LocalhostFileError",
    "MissingDependencyError",
    "PluggableConfigurationException",
    "SdkEvent",
    "SdkEventType",
    "SentinelConfigurationException",
    "SplitError",
    "SplitFactory",
    "SplitView",
    "TimeoutException",
    "__version__",
    "get_factory_async",
    "open_factory",
)


def __getattr__(name: str) -> object:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
