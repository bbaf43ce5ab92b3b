"""The public exception tree of splitio_async.

Kept in a module of its own so every layer can import it without import loops::

    SplitError
    ├── TimeoutException              block_until_ready() ran out of time
    ├── SentinelConfigurationException a bad Redis Sentinel configuration at factory creation
    ├── RedisClusterConfigurationException a bad Redis Cluster configuration at factory creation
    ├── PluggableConfigurationException a storage wrapper that fails the official validation
    ├── LocalhostFileError            a localhost flag or segment file cannot be read or parsed
    ├── InvalidSdkKeyError            open_factory() was given no usable SDK key
    └── MissingDependencyError        a mode or module needs an extra that is not installed

Evaluation, ``track`` and manager calls never raise: these only come out of factory creation and
``block_until_ready``.
"""

from __future__ import annotations


class SplitError(Exception):
    """Base class of every exception splitio_async raises on purpose."""


class TimeoutException(SplitError):
    """``block_until_ready`` expired before the SDK had its data."""


class SentinelConfigurationException(SplitError):
    """The Redis Sentinel settings cannot work (no sentinels, no master service...)."""


class LocalhostFileError(SplitError, ValueError):
    """A localhost file is missing, unreadable or malformed.

    A ``ValueError`` too, because the official SDK raises ``ValueError`` for these and users may
    catch that.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"localhost file {path!r}: {problem}")
        self.path = path
        self.problem = problem


class InvalidSdkKeyError(SplitError, ValueError):
    """``open_factory`` was given no usable SDK key: None, not a string, or empty or blank
    (logged as the official SDK logs it; ``get_factory_async`` returns None instead).

    A ``ValueError`` too, which is what ``open_factory`` raised before this class existed.
    """


class RedisClusterConfigurationException(SplitError):
    """The Redis Cluster settings cannot work (no nodes, a prefix without a hash tag...)."""


class PluggableConfigurationException(SplitError):
    """The ``storageWrapper`` of pluggable storage mode fails the official validation (no
    wrapper, a prefix that is not a string, a method missing or taking too few parameters).

    The message is the official one, ``Pluggable Adapter validation failed, exiting``; the
    reason was logged just before on ``splitio.client.input_validator``, as the official SDK
    does. ``reason`` holds it too.
    """

    def __init__(self, reason: str) -> None:
        super().__init__("Pluggable Adapter validation failed, exiting")
        self.reason = reason


class MissingDependencyError(SplitError, ImportError, NotImplementedError):
    """A mode or module needs an optional dependency that is not installed.

    An ``ImportError`` too, so code that guards an optional import keeps working, and a
    ``NotImplementedError``, which is what the official SDK raises when its Redis extra is
    missing. The message names the extra to install, e.g. ``pip install 'splitio_async[redis]'``.
    """

    def __init__(self, feature: str, package: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs {package}, which is not installed: "
            f"pip install 'splitio_async[{extra}]'"
        )
        self.extra = extra


def at_boundary(error: BaseException) -> BaseException:
    """``error`` ready to be raised out of a public call: an SDK error (a malformed localhost
    file, a bad Sentinel setting...) loses the SDK's and its libraries' frames, since its
    message says everything and forty frames of YAML and anyio internals only hide it; anything
    else (a bug) keeps its whole traceback. Raise it ``from None``."""
    if isinstance(error, SplitError):
        return error.with_traceback(None)
    return error
