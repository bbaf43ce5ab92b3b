"""The user's storage wrapper (``storageWrapper``): checked once, when the factory is built.

The check is the official one (``splitio_client`` 10.7.0, ``validate_pluggable_adapter``), with
its messages and its order, so a wrapper the official SDK accepts is accepted here and one it
refuses is refused with the same words: a wrapper must be given, a ``storagePrefix`` must be a
string, and each of the fourteen methods must be a bound method taking at least the official
number of parameters. The first failure is logged (ERROR, ``splitio.client.input_validator``)
and raised as ``PluggableConfigurationException("Pluggable Adapter validation failed,
exiting")``.

What the official check leaves out, we note rather than refuse: the *flavour* of each method
(plain or ``async def``). Each API then calls it the right way (``runner``): the async API
awaits coroutine methods and runs plain ones in worker threads (a blocking wrapper works on
asyncio and trio); the blocking API calls plain methods in the caller's thread and runs
coroutine methods on its event loop thread.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any

from ..errors import PluggableConfigurationException

_LOGGER = logging.getLogger("splitio.client.input_validator")

# The official method set, in the official order, with the fewest parameters each must take
# (``self`` not counted).
METHODS: tuple[tuple[str, int], ...] = (
    ("get", 1), ("get_items", 1), ("get_many", 1), ("set", 2), ("push_items", 2),
    ("delete", 1), ("increment", 2), ("decrement", 2), ("get_keys_by_prefix", 1),
    ("add_items", 2), ("remove_items", 2), ("item_contains", 2), ("get_items_count", 1),
    ("expire", 2),
)


@dataclass(frozen=True, slots=True)
class StorageWrapper:
    """A validated wrapper, its key prefix and which of its methods are coroutine functions."""

    target: Any
    prefix: str | None
    coroutine_methods: frozenset[str]

    @property
    def blocking(self) -> bool:
        """Every method is a plain one: the blocking API calls it in the caller's thread."""
        return not self.coroutine_methods

    def describe(self) -> str:
        """The wrapper's type and flavour, for status and logs (never its contents)."""
        kind = type(self.target).__name__
        if self.blocking:
            return f"{kind} (blocking methods)"
        if len(self.coroutine_methods) == len(METHODS):
            return f"{kind} (async methods)"
        return f"{kind} (async methods: {', '.join(sorted(self.coroutine_methods))})"


def validate_wrapper(raw: dict[str, Any]) -> StorageWrapper:
    """The ``storageWrapper`` and ``storagePrefix`` of ``raw`` (the user's config), checked as
    the official SDK checks them; raises ``PluggableConfigurationException`` (logged first).

    An empty ``storagePrefix`` means no prefix, as an empty ``redisPrefix`` does and as the
    Split Synchronizer reads it (the official SDK would use keys starting with a lone ``.``).
    """
    wrapper = raw.get("storageWrapper")
    if wrapper is None:
        _fail("Expecting pluggable storage `wrapper` in options, but no valid wrapper instance "
              "was provided.")
    prefix = raw.get("storagePrefix")
    if prefix is not None and not isinstance(prefix, str):
        _fail("Pluggable storage prefix should be string type only")
    coroutines = set()
    for name, least in METHODS:
        method = _bound_method(wrapper, name)
        if method is None:
            _fail(f"Pluggable adapter does not have required method: {name}")
        count = _parameter_count(method)
        if count is not None and count < least:
            _fail(f"Pluggable adapter method {name} has less than required arguments count: "
                  f"{count} : ")
        if inspect.iscoroutinefunction(method):
            coroutines.add(name)
    return StorageWrapper(wrapper, prefix or None, frozenset(coroutines))


def _fail(reason: str) -> Any:
    _LOGGER.error(reason)
    raise PluggableConfigurationException(reason)


def _bound_method(wrapper: Any, name: str) -> Any:
    """The wrapper's bound method ``name``, or None: as in the official check, a static
    method, a plain function or a callable stored on the instance is not a method."""
    try:
        member = getattr(wrapper, name, None)
    except Exception:  # a property or __getattr__ that raises: no such method
        return None
    return member if inspect.ismethod(member) else None


def _parameter_count(method: Any) -> int | None:
    """Parameters of a bound method (``*args`` counts as one, as in the official check);
    None when the signature cannot be read (a method implemented in C): not held against it."""
    try:
        return len(inspect.signature(method).parameters)
    except (TypeError, ValueError):
        return None


_CONFIG_LOGGER = logging.getLogger("splitio.client.config")


def is_pluggable_mode(raw: dict[str, Any]) -> bool:
    """Whether ``storageType`` selects pluggable storage (``'pluggable'``, any case). Any other
    value is logged (official warning) and means in-memory storage. Asked only when neither
    the SDK key (``localhost``) nor a Redis key selected a mode: those take precedence."""
    storage_type = raw.get("storageType")
    if storage_type is None:
        return False
    if isinstance(storage_type, str) and storage_type.lower() == "pluggable":
        return True
    _CONFIG_LOGGER.warning(
        "You passed an invalid storageType, acceptable value is `pluggable`. Defaulting storage "
        "to In-Memory mode."
    )
    return False
