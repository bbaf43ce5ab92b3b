"""The async client: every method is a coroutine that never raises.

All the work is in the factory's ``EvaluationCore`` (``splitio_async.core``); this class gives it
the official names and argument order, and settles each result with the factory's ``Driver``: in
memory and localhost modes a call never awaits I/O, in Redis consumer mode the driver runs the
call's reads against Redis. The other await: when a recorder has a flush's worth of records
waiting, the call yields to the event loop once (a checkpoint), so code that evaluates in a loop
without awaiting anything else still lets the recorders deliver instead of filling their buffers.

The blocking shim's client (``splitio_sync_shim.client``) has the same methods: the block between
the ``shared methods`` markers below is written here only, and ``scripts/unasync.py`` writes its
blocking copy there (a test fails when the copy is stale), as httpcore does for its sync API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core.evaluation import (
    EvaluationCore,
    Treatments,
    TreatmentsWithConfig,
    treatments_of,
    with_configs,
)
from .core.steps import Driver
from .lowlevel import internals

if TYPE_CHECKING:
    from .factory import SplitFactory

class Client:
    """Evaluates flags and records events for one factory (``factory.client()``).

    Every method is a coroutine that never raises: bad input, a factory that is not ready or
    destroyed, or data that cannot be read give ``control`` (or the flag's fallback treatment),
    ``False`` or an empty answer, with one log line saying why.
    """

    __slots__ = ("__weakref__", "_core", "_driver", "_factory")

    def __init__(self, factory: SplitFactory, core: EvaluationCore, driver: Driver) -> None:
        self._factory = factory
        self._core = core
        self._driver = driver

    @property
    def ready(self) -> bool:
        """Whether the factory has its data (``block_until_ready`` would return at once)."""
        return self._factory.ready

    @property
    def destroyed(self) -> bool:
        """Whether the factory was destroyed (every call then answers ``control``)."""
        return self._factory.destroyed

    # --- shared methods: scripts/unasync.py writes their blocking copy (splitio_sync_shim) ---

    async def get_treatment(
        self, key: Any, feature_flag_name: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> str:
        """The treatment of one flag for one key, recording an impression.

        Args:
            key: the user's key: a string, or a ``Key`` (matching and bucketing keys).
            feature_flag_name: the flag's name.
            attributes: a dict of the user's attributes, for the flag's matchers.
            evaluation_options: an ``EvaluationOptions`` whose properties are recorded with the
                impression.

        Returns:
            The treatment; ``control`` (or the configured fallback treatment) when the flag
            does not exist, the input is invalid, or the factory is not ready or destroyed.
            Never raises.
        """
        result = await self._driver.resolve(self._core.treatment(
            key, feature_flag_name, attributes, evaluation_options, "get_treatment"
        ))
        return result.treatment

    async def get_treatment_with_config(
        self, key: Any, feature_flag_name: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> tuple[str, str | None]:
        """The treatment of one flag for one key and its configuration, recording an impression.

        Args:
            key: the user's key: a string, or a ``Key`` (matching and bucketing keys).
            feature_flag_name: the flag's name.
            attributes: a dict of the user's attributes, for the flag's matchers.
            evaluation_options: an ``EvaluationOptions`` whose properties are recorded with the
                impression.

        Returns:
            ``(treatment, config)``: the configuration attached to the treatment (a JSON
            string), or None. ``("control", None)`` (or the fallback) as for ``get_treatment``.
            Never raises.
        """
        result = await self._driver.resolve(self._core.treatment(
            key, feature_flag_name, attributes, evaluation_options, "get_treatment_with_config"
        ))
        return result.treatment, result.config

    async def get_treatments(
        self, key: Any, feature_flag_names: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> Treatments:
        """The treatments of several flags for one key, in one evaluation context.

        Args:
            key: the user's key: a string, or a ``Key``.
            feature_flag_names: a list of flag names (invalid ones are logged and skipped).
            attributes: a dict of the user's attributes.
            evaluation_options: an ``EvaluationOptions`` recorded with the impressions.

        Returns:
            flag name -> treatment (``control`` for a flag that does not exist, and for every
            flag when the call cannot evaluate). Never raises.
        """
        return treatments_of(await self._driver.resolve(self._core.treatments(
            key, feature_flag_names, attributes, evaluation_options, "get_treatments"
        )))

    async def get_treatments_with_config(
        self, key: Any, feature_flag_names: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> TreatmentsWithConfig:
        """The treatments of several flags for one key, with their configurations.

        Args:
            key: the user's key: a string, or a ``Key``.
            feature_flag_names: a list of flag names (invalid ones are logged and skipped).
            attributes: a dict of the user's attributes.
            evaluation_options: an ``EvaluationOptions`` recorded with the impressions.

        Returns:
            flag name -> ``(treatment, config)``, as ``get_treatment_with_config`` answers
            each. Never raises.
        """
        return with_configs(await self._driver.resolve(self._core.treatments(
            key, feature_flag_names, attributes, evaluation_options, "get_treatments_with_config"
        )))

    async def get_treatments_by_flag_set(
        self, key: Any, flag_set: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> Treatments:
        """The treatments of every flag in one flag set.

        Args:
            key: the user's key: a string, or a ``Key``.
            flag_set: the flag set's name (trimmed and lower-cased, as the official SDK does).
            attributes: a dict of the user's attributes.
            evaluation_options: an ``EvaluationOptions`` recorded with the impressions.

        Returns:
            flag name -> treatment; empty (logged) when the set is invalid or has no flags.
            Never raises.
        """
        return treatments_of(await self._driver.resolve(self._core.treatments_by_flag_sets(
            key, [flag_set], attributes, evaluation_options, "get_treatments_by_flag_set"
        )))

    async def get_treatments_by_flag_sets(
        self, key: Any, flag_sets: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> Treatments:
        """The treatments of every flag in any of several flag sets.

        Args:
            key: the user's key: a string, or a ``Key``.
            flag_sets: a list of flag-set names (invalid ones are logged and skipped).
            attributes: a dict of the user's attributes.
            evaluation_options: an ``EvaluationOptions`` recorded with the impressions.

        Returns:
            flag name -> treatment; empty (logged) when no valid set has flags. Never raises.
        """
        return treatments_of(await self._driver.resolve(self._core.treatments_by_flag_sets(
            key, flag_sets, attributes, evaluation_options, "get_treatments_by_flag_sets"
        )))

    async def get_treatments_with_config_by_flag_set(
        self, key: Any, flag_set: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> TreatmentsWithConfig:
        """The treatments and configurations of every flag in one flag set.

        Args:
            key: the user's key: a string, or a ``Key``.
            flag_set: the flag set's name.
            attributes: a dict of the user's attributes.
            evaluation_options: an ``EvaluationOptions`` recorded with the impressions.

        Returns:
            flag name -> ``(treatment, config)``; empty (logged) when the set is invalid or
            has no flags. Never raises.
        """
        return with_configs(await self._driver.resolve(self._core.treatments_by_flag_sets(
            key, [flag_set], attributes, evaluation_options,
            "get_treatments_with_config_by_flag_set",
        )))

    async def get_treatments_with_config_by_flag_sets(
        self, key: Any, flag_sets: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> TreatmentsWithConfig:
        """The treatments and configurations of every flag in any of several flag sets.

        Args:
            key: the user's key: a string, or a ``Key``.
            flag_sets: a list of flag-set names (invalid ones are logged and skipped).
            attributes: a dict of the user's attributes.
            evaluation_options: an ``EvaluationOptions`` recorded with the impressions.

        Returns:
            flag name -> ``(treatment, config)``; empty (logged) when no valid set has flags.
            Never raises.
        """
        return with_configs(await self._driver.resolve(self._core.treatments_by_flag_sets(
            key, flag_sets, attributes, evaluation_options,
            "get_treatments_with_config_by_flag_sets",
        )))

    async def track(
        self, key: Any, traffic_type: Any, event_type: Any, value: Any = None,
        properties: Any = None,
    ) -> bool:
        """Record an event, for Split's metrics.

        Args:
            key: the user's key (a string; a ``Key`` is refused, as officially).
            traffic_type: the traffic type of the key (lower-cased if needed).
            event_type: the event's name (letters, digits, ``-_.:``, up to 80 characters).
            value: a number, or None.
            properties: a dict of properties (string keys; string, number, boolean or None
                values), or None.

        Returns:
            True if the event was queued for delivery, False (logged) if the input is invalid,
            the factory is destroyed, or the queue is full. Never raises.
        """
        return await self._driver.resolve(self._core.track(
            key, traffic_type, event_type, value, properties
        ))

    # --- end of shared methods ---

    async def on(self, sdk_event: Any, callback: Any) -> None:
        """Subscribe ``callback`` to an SDK event (one handler per event for the factory).

        Args:
            sdk_event: ``SdkEvent.SDK_READY`` or ``SdkEvent.SDK_UPDATE``.
            callback: called with an ``EventsMetadata`` (or None); a plain function runs in a
                worker thread, a coroutine function in the event loop.

        Never raises: an invalid event or callback is logged and ignored.
        """
        internals(self._factory).events_hub.subscribe(sdk_event, callback)

    async def destroy(self) -> None:
        """Destroy the factory (see ``SplitFactory.destroy``): flush what is queued and stop."""
        await self._factory.destroy()
