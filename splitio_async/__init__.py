"""splitio_async: an asyncio-native, trio-compatible Split SDK, API-compatible with
``splitio_client`` 10.x.

    async with open_factory("localhost", config={"splitFile": "flags.yaml"}) as factory:
        client = factory.client()
        treatment = await client.get_treatment("user-1", "new_checkout")
"""

from ._version import __version__ as __version__
from .client import Client as Client
from .errors import LocalhostFileError as LocalhostFileError
from .errors import SentinelConfigurationException as SentinelConfigurationException
from .errors import SplitError as SplitError
from .errors import TimeoutException as TimeoutException
from .factory import SplitFactory as SplitFactory
from .factory import get_factory_async as get_factory_async
from .factory import open_factory as open_factory
from .key import Key as Key
from .lowlevel import EvaluationOptions as EvaluationOptions
from .manager import SplitView as SplitView
from .models.fallback import FallbackTreatment as FallbackTreatment
from .models.fallback import FallbackTreatmentsConfiguration as FallbackTreatmentsConfiguration
from .sdk_events import EventsMetadata as EventsMetadata
from .sdk_events import SdkEvent as SdkEvent
from .sdk_events import SdkEventType as SdkEventType
from .status import Change as Change
from .status import ChangeSubscription as ChangeSubscription
from .status import FactoryStatus as FactoryStatus

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
    "LocalhostFileError",
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
