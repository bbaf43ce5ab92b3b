"""Optional dependencies: imported by the mode or module that needs them, never at package import.

A plain ``pip install splitio_async`` must import and run (localhost, standalone, testing kit,
command line); redis-py, trio, openfeature-sdk, Django, opentelemetry-api and prometheus-client
come with extras. When a feature needs one that is missing, the user gets one
``MissingDependencyError`` naming the extra, not a ``ModuleNotFoundError`` from deep inside the
SDK.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

# module -> (what PyPI calls it, the extra of splitio_async that installs it)
EXTRAS = {
    "redis": ("redis-py", "redis"),
    "trio": ("trio", "trio"),
    "openfeature": ("openfeature-sdk", "openfeature"),
    "django": ("Django", "django"),
    "opentelemetry": ("opentelemetry-api", "opentelemetry"),
    "prometheus_client": ("prometheus-client", "prometheus"),
}


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` (a top-level optional dependency, or a submodule of one) for
    ``feature``, or raise ``MissingDependencyError`` naming the extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.partition(".")[0]
        if exc.name is None or exc.name.partition(".")[0] != top:
            raise  # the dependency is there but something it imports is not: not ours to hide
        package, extra = EXTRAS[top]
        raise MissingDependencyError(feature, package, extra) from None
