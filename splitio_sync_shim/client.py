"""The blocking client: evaluations run right here, in the caller's thread.

It calls the same ``EvaluationCore`` as the async client, and settles each result with the same
``Driver`` (``resolve_blocking``: in Redis consumer mode the call's reads run in this thread, on
the blocking Redis client); nothing crosses into the portal thread except ``on`` (subscriptions
belong to the loop) and ``destroy``. The methods between the ``shared methods`` markers are
written by ``scripts/unasync.py`` from ``splitio_async/client.py``: edit them there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from splitio_async.lowlevel import (
    Treatments,
    TreatmentsWithConfig,
    internals,
    treatments_of,
    with_configs,
)

if TYPE_CHECKING:
    from splitio_async import SplitFactory

    from .factory import SyncSplitFactory

class Client:
    """Evaluates flags and records events for one factory (``factory.client()``).

    Every method is a plain call that never raises: bad input, a factory that is not ready or
    destroyed, or data that cannot be read give ``control`` (or the flag's fallback treatment),
    ``False`` or an empty answer, with one log line saying why.
    """

    __slots__ = ("__weakref__", "_core", "_driver", "_factory")

    def __init__(self, factory: SyncSplitFactory) -> None:
        self._factory = factory
        self.bind(factory.async_factory)

    def bind(self, factory: SplitFactory) -> None:
        """Evaluate with ``factory``'s core (``resume()`` in a forked worker starts a new one)."""
        parts = internals(factory)
        self._core = parts.core
        self._driver = parts.driver

    @property
    def ready(self) -> bool:
        """Whether the factory has its data (``block_until_ready`` would return at once)."""
        return self._factory.ready

    @property
    def destroyed(self) -> bool:
        """Whether the factory was destroyed (every call then answers ``control``)."""
        return self._factory.destroyed

    # --- shared methods: written by scripts/unasync.py from splitio_async/client.py ---

    def get_treatment(
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
        result = self._driver.resolve_blocking(self._core.treatment(
            key, feature_flag_name, attributes, evaluation_options, "get_treatment"
        ))
        return result.treatment

    def get_treatment_with_config(
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
        result = self._driver.resolve_blocking(self._core.treatment(
            key, feature_flag_name, attributes, evaluation_options, "get_treatment_with_config"
        ))
        return result.treatment, result.config

    def get_treatments(
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
        return treatments_of(self._driver.resolve_blocking(self._core.treatments(
            key, feature_flag_names, attributes, evaluation_options, "get_treatments"
        )))

    def get_treatments_with_config(
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
        return with_configs(self._driver.resolve_blocking(self._core.treatments(
            key, feature_flag_names, attributes, evaluation_options, "get_treatments_with_config"
        )))

    def get_treatments_by_flag_set(
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
        return treatments_of(self._driver.resolve_blocking(self._core.treatments_by_flag_sets(
            key, [flag_set], attributes, evaluation_options, "get_treatments_by_flag_set"
        )))

    def get_treatments_by_flag_sets(
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
        return treatments_of(self._driver.resolve_blocking(self._core.treatments_by_flag_sets(
            key, flag_sets, attributes, evaluation_options, "get_treatments_by_flag_sets"
        )))

    def get_treatments_with_config_by_flag_set(
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
        return with_configs(self._driver.resolve_blocking(self._core.treatments_by_flag_sets(
            key, [flag_set], attributes, evaluation_options,
            "get_treatments_with_config_by_flag_set",
        )))

    def get_treatments_with_config_by_flag_sets(
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
        return with_configs(self._driver.resolve_blocking(self._core.treatments_by_flag_sets(
            key, flag_sets, attributes, evaluation_options,
            "get_treatments_with_config_by_flag_sets",
        )))

    def track(
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
        return self._driver.resolve_blocking(self._core.track(
            key, traffic_type, event_type, value, properties
        ))

    # --- end of shared methods ---

    def on(self, sdk_event: Any, callback: Any) -> None:
        """Subscribe ``callback`` to an SDK event (one handler per event for the factory).

        Args:
            sdk_event: ``SdkEvent.SDK_READY`` or ``SdkEvent.SDK_UPDATE``.
            callback: called with an ``EventsMetadata`` (or None); a plain function runs in a
                worker thread.

        Never raises: an invalid event or callback is logged and ignored.
        """
        self._factory.subscribe(sdk_event, callback)

    def destroy(self) -> None:
        """Destroy the factory (see ``SyncSplitFactory.destroy``): flush and stop."""
        self._factory.destroy()
