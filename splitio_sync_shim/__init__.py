"""Blocking facade of splitio_async, with the official ``splitio`` sync API.

    factory = get_factory("localhost", config={"splitFile": "flags.yaml"})
    factory.block_until_ready(5)
    treatment = factory.client().get_treatment("user-1", "new_checkout")
"""

from splitio_async import EvaluationOptions as EvaluationOptions
from splitio_async import FactoryStatus as FactoryStatus
from splitio_async import FallbackTreatment as FallbackTreatment
from splitio_async import FallbackTreatmentsConfiguration as FallbackTreatmentsConfiguration
from splitio_async import Key as Key
from splitio_async import SdkEvent as SdkEvent
from splitio_async import SplitView as SplitView
from splitio_async import TimeoutException as TimeoutException
from splitio_async import __version__ as __version__

from .client import Client as Client
from .factory import SyncSplitFactory as SyncSplitFactory
from .factory import get_factory as get_factory
from .manager import Manager as Manager

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
