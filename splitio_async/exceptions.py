"""The official ``splitio.exceptions`` names, so ``from splitio.exceptions import
TimeoutException`` migrates by changing the package name. The tree itself is in ``errors``."""

from .errors import PluggableConfigurationException as PluggableConfigurationException
from .errors import SentinelConfigurationException as SentinelConfigurationException
from .errors import SplitError as SplitError
from .errors import TimeoutException as TimeoutException

__all__ = (
    "PluggableConfigurationException",
    "SentinelConfigurationException",
    "SplitError",
    "TimeoutException",
)
