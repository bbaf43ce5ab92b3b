"""The official ``splitio.exceptions`` names for the blocking API: ``from splitio.exceptions
import TimeoutException`` becomes ``from splitio_sync_shim.exceptions import TimeoutException``."""

from splitio_async.exceptions import (
    PluggableConfigurationException as PluggableConfigurationException,
)
from splitio_async.exceptions import (
    SentinelConfigurationException as SentinelConfigurationException,
)
from splitio_async.exceptions import SplitError as SplitError
from splitio_async.exceptions import TimeoutException as TimeoutException

__all__ = (
    "PluggableConfigurationException",
    "SentinelConfigurationException",
    "SplitError",
    "TimeoutException",
)
