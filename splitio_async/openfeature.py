"""An OpenFeature provider backed by a Split factory (``pip install splitio_async[openfeature]``).

    from openfeature import api
    from splitio_async.openfeature import SplitProvider

    api.set_provider(SplitProvider(factory))   # our async SplitFactory or the shim's factory
    value = await api.get_client().get_boolean_value_async("new_checkout", False, context)

Evaluations run on the factory's evaluation core, exactly like ``client.get_treatment_with_config``
(same validation, impressions and fallback treatments): the sync resolvers never block, and the
async ones only await our async client, so they work on asyncio and trio alike.

Treatments are converted to the requested type: booleans from ``on``/``off``/``true``/``false``,
numbers parsed from the treatment, objects from the treatment's configuration JSON. The
evaluation context's ``targeting_key`` is the matching key; an attribute ``bucketingKey`` makes
it a ``Key(matching, bucketing)``; the other attributes are passed as Split attributes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._optional import require

require("openfeature", "splitio_async.openfeature")  # before the imports: a clear message

from openfeature.evaluation_context import EvaluationContext  # noqa: E402
from openfeature.event import ProviderEventDetails  # noqa: E402
from openfeature.exception import ErrorCode, ProviderNotReadyError  # noqa: E402
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason  # noqa: E402
from openfeature.provider import AbstractProvider, Metadata  # noqa: E402
from openfeature.track import TrackingEventDetails  # noqa: E402

from .factory import SplitFactory  # noqa: E402
from .key import Key  # noqa: E402
from .lowlevel import internals  # noqa: E402
from .models import labels  # noqa: E402
from .sdk_events import EventsMetadata, SdkEvent  # noqa: E402

if TYPE_CHECKING:
    from splitio_sync_shim.factory import SyncSplitFactory

__all__ = ("SplitProvider",)

CONTROL = "control"
BUCKETING_KEY = "bucketingKey"
TRAFFIC_TYPE = "trafficType"
DEFAULT_TRAFFIC_TYPE = "user"
_METHOD = "get_treatment_with_config"
_TRUE = frozenset(("on", "true"))
_FALSE = frozenset(("off", "false"))
_DEFAULT_LABELS = frozenset(
    (labels.DEFAULT_RULE, labels.NOT_IN_SPLIT, labels.PREREQUISITES_NOT_MET)
)

T = TypeVar("T")
ObjectValue = Sequence[FlagValueType] | Mapping[str, FlagValueType]


class _TypeMismatch(Exception):
    pass


class SplitProvider(AbstractProvider):
    """OpenFeature provider over ``splitio_async.SplitFactory`` or the shim's ``SyncSplitFactory``.

    The factory stays yours: ``shutdown()`` detaches the provider but does not destroy it.
    Construct the provider in the factory's event loop when you pass an async factory (it
    subscribes to SDK_READY and SDK_UPDATE there). Split allows one handler per SDK event per
    factory, so do not also register your own SDK_READY / SDK_UPDATE handler on that factory.
    """

    def __init__(self, factory: SplitFactory | SyncSplitFactory) -> None:
        super().__init__()
        if isinstance(factory, SplitFactory):
            self._factory = factory
            self._sync: SyncSplitFactory | None = None
        else:  # the shim hosts one async factory on its portal thread
            self._factory = factory.async_factory
            self._sync = factory
        self._internals = internals(self._factory)
        self._subscribe(SdkEvent.SDK_READY, self._on_sdk_ready)
        self._subscribe(SdkEvent.SDK_UPDATE, self._on_sdk_update)

    # ------------------------------------------------------------------ lifecycle and events

    def get_metadata(self) -> Metadata:
        """The provider's name for OpenFeature: ``Split``."""
        return Metadata(name="Split")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Ready at once when the factory is; otherwise the provider reports PROVIDER_ERROR
        (``PROVIDER_NOT_READY``) now and PROVIDER_READY when the factory becomes ready."""
        if not self._factory.ready:
            raise ProviderNotReadyError("the Split factory is not ready yet")

    def _subscribe(self, event: SdkEvent, callback: Callable[..., None]) -> None:
        if self._sync is not None:
            self._sync.subscribe(event, callback)
        else:
            self._internals.events_hub.subscribe(event, callback)

    def _on_sdk_ready(self, _metadata: EventsMetadata | None) -> None:
        # plain functions: the SDK runs them in a worker thread, off the event loop
        self.emit_provider_ready(ProviderEventDetails(message="Split factory ready"))

    def _on_sdk_update(self, metadata: EventsMetadata | None) -> None:
        names = sorted(metadata.get_names()) if metadata is not None else None
        kind = metadata.get_type().name if metadata is not None else ""
        self.emit_provider_configuration_changed(ProviderEventDetails(
            flags_changed=names, message="Split definitions updated",
            metadata={"type": kind} if kind else {},
        ))

    # ------------------------------------------------------------------ tracking

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        """Our ``track(key, trafficType attribute or "user", event, value, attributes)``.

        Args:
            tracking_event_name: the event type.
            evaluation_context: its ``targeting_key`` is the key (nothing is tracked without
                one); a ``trafficType`` attribute picks the traffic type (default ``user``).
            tracking_event_details: the event's value and attributes (its properties).

        Never raises: an invalid event is logged and dropped, as ``client.track`` does.
        """
        context = evaluation_context or EvaluationContext()
        if not context.targeting_key:
            return
        traffic_type = context.attributes.get(TRAFFIC_TYPE, DEFAULT_TRAFFIC_TYPE)
        value = tracking_event_details.value if tracking_event_details is not None else None
        properties = (
            dict(tracking_event_details.attributes) if tracking_event_details is not None
            else None
        )
        self._internals.driver.resolve_blocking(self._internals.core.track(
            context.targeting_key, traffic_type, tracking_event_name, value, properties or None
        ))

    # ------------------------------------------------------------------ sync resolution

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """The flag's treatment as a boolean: ``on`` and ``true`` are True, ``off`` and ``false``
        False (in any case); another treatment is a ``TYPE_MISMATCH``.

        Args:
            flag_key: the flag's name.
            default_value: the value returned, with an error code, when the flag cannot be
                resolved (factory not ready or destroyed, flag not found, type mismatch).
            evaluation_context: its ``targeting_key`` is the matching key, a ``bucketingKey``
                attribute the bucketing key; the other attributes are Split attributes.

        Returns:
            The value, the reason (from the evaluation's label), the treatment as the variant, and
            the label and configuration as flag metadata. Never blocks in memory modes (in Redis
            consumer mode it reads Redis in the calling thread). Never raises: errors are reported
            in the details' ``error_code``.
        """
        return self._resolve(flag_key, default_value, evaluation_context, _to_bool, None)

    def resolve_string_details(
        self, flag_key: str, default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        """The flag's treatment, as a string.

        Args:
            flag_key: the flag's name.
            default_value: the value returned, with an error code, when the flag cannot be
                resolved (factory not ready or destroyed, flag not found, type mismatch).
            evaluation_context: its ``targeting_key`` is the matching key, a ``bucketingKey``
                attribute the bucketing key; the other attributes are Split attributes.

        Returns:
            The value, the reason (from the evaluation's label), the treatment as the variant, and
            the label and configuration as flag metadata. Never blocks in memory modes (in Redis
            consumer mode it reads Redis in the calling thread). Never raises: errors are reported
            in the details' ``error_code``.
        """
        return self._resolve(flag_key, default_value, evaluation_context, _to_str, None)

    def resolve_integer_details(
        self, flag_key: str, default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        """The flag's treatment parsed as an integer (``TYPE_MISMATCH`` if it is not one).

        Args:
            flag_key: the flag's name.
            default_value: the value returned, with an error code, when the flag cannot be
                resolved (factory not ready or destroyed, flag not found, type mismatch).
            evaluation_context: its ``targeting_key`` is the matching key, a ``bucketingKey``
                attribute the bucketing key; the other attributes are Split attributes.

        Returns:
            The value, the reason (from the evaluation's label), the treatment as the variant, and
            the label and configuration as flag metadata. Never blocks in memory modes (in Redis
            consumer mode it reads Redis in the calling thread). Never raises: errors are reported
            in the details' ``error_code``.
        """
        return self._resolve(flag_key, default_value, evaluation_context, _to_int, None)

    def resolve_float_details(
        self, flag_key: str, default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        """The flag's treatment parsed as a number (``TYPE_MISMATCH`` if it is not one).

        Args:
            flag_key: the flag's name.
            default_value: the value returned, with an error code, when the flag cannot be
                resolved (factory not ready or destroyed, flag not found, type mismatch).
            evaluation_context: its ``targeting_key`` is the matching key, a ``bucketingKey``
                attribute the bucketing key; the other attributes are Split attributes.

        Returns:
            The value, the reason (from the evaluation's label), the treatment as the variant, and
            the label and configuration as flag metadata. Never blocks in memory modes (in Redis
            consumer mode it reads Redis in the calling thread). Never raises: errors are reported
            in the details' ``error_code``.
        """
        return self._resolve(flag_key, default_value, evaluation_context, _to_float, None)

    def resolve_object_details(
        self, flag_key: str, default_value: ObjectValue,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        """The configuration of the flag's treatment, parsed from JSON (``TYPE_MISMATCH`` without
        one, ``PARSE_ERROR`` if it is not JSON).

        Args:
            flag_key: the flag's name.
            default_value: the value returned, with an error code, when the flag cannot be
                resolved (factory not ready or destroyed, flag not found, type mismatch).
            evaluation_context: its ``targeting_key`` is the matching key, a ``bucketingKey``
                attribute the bucketing key; the other attributes are Split attributes.

        Returns:
            The value, the reason (from the evaluation's label), the treatment as the variant, and
            the label and configuration as flag metadata. Never blocks in memory modes (in Redis
            consumer mode it reads Redis in the calling thread). Never raises: errors are reported
            in the details' ``error_code``.
        """
        return self._resolve(flag_key, default_value, evaluation_context, None, _to_object)

    # ------------------------------------------------------------------ async resolution

    async def resolve_boolean_details_async(
        self, flag_key: str, default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """The flag's treatment as a boolean: ``on`` and ``true`` are True, ``off`` and ``false``
        False (in any case); another treatment is a ``TYPE_MISMATCH``.

        Args:
            flag_key: the flag's name.
            default_value: the value returned, with an error code, when the flag cannot be
                resolved (factory not ready or destroyed, flag not found, type mismatch).
            evaluation_context: its ``targeting_key`` is the matching key, a ``bucketingKey``
                attribute the bucketing key; the other attributes are Split attributes.

        Returns:
            The value, the reason (from the evaluation's label), the treatment as the variant, and
            the label and configuration as flag metadata. Awaits only the factory's own reads (Redis
            consumer mode), on asyncio or trio. Never raises: errors are reported in the details'
            ``error_code``.
        """
        return await self._resolve_async(
            flag_key, default_value, evaluation_context, _to_bool, None
        )

    async def resolve_string_details_async(
        self, flag_key: str, default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        """The flag's treatment, as a string.

        Args:
            flag_key: the flag's name.
            default_value: the value returned, with an error code, when the flag cannot be
                resolved (factory not ready or destroyed, flag not found, type mismatch).
            evaluation_context: its ``targeting_key`` is the matching key, a ``bucketingKey``
                attribute the bucketing key; the other attributes are Split attributes.

        Returns:
            The value, the reason (from the evaluation's label), the treatment as the variant, and
            the label and configuration as flag metadata. Awaits only the factory's own reads (Redis
            consumer mode), on asyncio or trio. Never raises: errors are reported in the details'
            ``error_code``.
        """
        return await self._resolve_async(
            flag_key, default_value, evaluation_context, _to_str, None
        )

    async def resolve_integer_details_async(
        self, flag_key: str, default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        """The flag's treatment parsed as an integer (``TYPE_MISMATCH`` if it is not one).

        Args:
            flag_key: the flag's name.
            default_value: the value returned, with an error code, when the flag cannot be
                resolved (factory not ready or destroyed, flag not found, type mismatch).
            evaluation_context: its ``targeting_key`` is the matching key, a ``bucketingKey``
                attribute the bucketing key; the other attributes are Split attributes.

        Returns:
            The value, the reason (from the evaluation's label), the treatment as the variant, and
            the label and configuration as flag metadata. Awaits only the factory's own reads (Redis
            consumer mode), on asyncio or trio. Never raises: errors are reported in the details'
            ``error_code``.
        """
        return await self._resolve_async(
            flag_key, default_value, evaluation_context, _to_int, None
        )

    async def resolve_float_details_async(
        self, flag_key: str, default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        """The flag's treatment parsed as a number (``TYPE_MISMATCH`` if it is not one).

        Args:
            flag_key: the flag's name.
            default_value: the value returned, with an error code, when the flag cannot be
                resolved (factory not ready or destroyed, flag not found, type mismatch).
            evaluation_context: its ``targeting_key`` is the matching key, a ``bucketingKey``
                attribute the bucketing key; the other attributes are Split attributes.

        Returns:
            The value, the reason (from the evaluation's label), the treatment as the variant, and
            the label and configuration as flag metadata. Awaits only the factory's own reads (Redis
            consumer mode), on asyncio or trio. Never raises: errors are reported in the details'
            ``error_code``.
        """
        return await self._resolve_async(
            flag_key, default_value, evaluation_context, _to_float, None
        )

    async def resolve_object_details_async(
        self, flag_key: str, default_value: ObjectValue,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        """The configuration of the flag's treatment, parsed from JSON (``TYPE_MISMATCH`` without
        one, ``PARSE_ERROR`` if it is not JSON).

        Args:
            flag_key: the flag's name.
            default_value: the value returned, with an error code, when the flag cannot be
                resolved (factory not ready or destroyed, flag not found, type mismatch).
            evaluation_context: its ``targeting_key`` is the matching key, a ``bucketingKey``
                attribute the bucketing key; the other attributes are Split attributes.

        Returns:
            The value, the reason (from the evaluation's label), the treatment as the variant, and
            the label and configuration as flag metadata. Awaits only the factory's own reads (Redis
            consumer mode), on asyncio or trio. Never raises: errors are reported in the details'
            ``error_code``.
        """
        return await self._resolve_async(
            flag_key, default_value, evaluation_context, None, _to_object
        )

    # ------------------------------------------------------------------ internals

    def _resolve(
        self, flag_key: str, default: T, context: EvaluationContext | None,
        from_treatment: Callable[[str], T] | None, from_config: Callable[[str | None], T] | None,
    ) -> FlagResolutionDetails[T]:
        key = _key(context)
        if key is None:
            return _error(default, ErrorCode.TARGETING_KEY_MISSING, "no targeting key")
        attributes = _attributes(context)
        # Redis consumer mode: a blocking read, as the sync API implies
        result = self._internals.driver.resolve_blocking(
            self._internals.core.treatment(key, flag_key, attributes, None, _METHOD)
        )
        return self._details(flag_key, default, result.treatment, result.config, result.label,
                             from_treatment, from_config)

    async def _resolve_async(
        self, flag_key: str, default: T, context: EvaluationContext | None,
        from_treatment: Callable[[str], T] | None, from_config: Callable[[str | None], T] | None,
    ) -> FlagResolutionDetails[T]:
        if self._sync is not None:  # the shim's evaluations never block: no loop to await
            return self._resolve(flag_key, default, context, from_treatment, from_config)
        key = _key(context)
        if key is None:
            return _error(default, ErrorCode.TARGETING_KEY_MISSING, "no targeting key")
        attributes = _attributes(context)
        result = await self._internals.driver.resolve(
            self._internals.core.treatment(key, flag_key, attributes, None, _METHOD)
        )
        return self._details(flag_key, default, result.treatment, result.config, result.label,
                             from_treatment, from_config)

    def _details(
        self, flag_key: str, default: T, treatment: str, config: str | None, label: str | None,
        from_treatment: Callable[[str], T] | None, from_config: Callable[[str | None], T] | None,
    ) -> FlagResolutionDetails[T]:
        if treatment == CONTROL:
            if self._factory.destroyed:
                return _error(default, ErrorCode.GENERAL, "the Split factory is destroyed")
            if not self._factory.ready:
                return _error(
                    default, ErrorCode.PROVIDER_NOT_READY, "the Split factory is not ready"
                )
            if flag_key not in self._internals.state.snapshot.flags:
                return _error(default, ErrorCode.FLAG_NOT_FOUND, f"flag {flag_key!r} not found")
            return _error(default, ErrorCode.GENERAL, f"flag {flag_key!r} evaluated to control")
        try:
            value = from_config(config) if from_config is not None else (
                from_treatment(treatment) if from_treatment is not None else default
            )
        except _TypeMismatch as exc:
            return _error(default, ErrorCode.TYPE_MISMATCH, str(exc))
        except ValueError as exc:  # malformed configuration JSON
            return _error(default, ErrorCode.PARSE_ERROR, f"config of {flag_key!r}: {exc}")
        reason = self._reason(flag_key, label)
        metadata: dict[str, bool | int | float | str] = {}
        if config is not None:
            metadata["config"] = config
        if label:
            metadata["label"] = label
        return FlagResolutionDetails(
            value=value, reason=reason, variant=treatment, flag_metadata=metadata
        )

    def _reason(self, flag_key: str, label: str | None) -> Reason:
        """The evaluation's label as an OpenFeature reason."""
        flag = self._internals.state.snapshot.flags.get(flag_key)
        if flag is None or (label or "").startswith("fallback - "):  # a fallback answered
            return Reason.DEFAULT
        if label == labels.KILLED:
            return Reason.DISABLED
        for condition in flag.conditions:
            if condition.label == label:
                return Reason.TARGETING_MATCH if condition.whole is not None else Reason.SPLIT
        if label in _DEFAULT_LABELS:
            return Reason.DEFAULT
        return Reason.UNKNOWN


def _error(default: T, code: ErrorCode, message: str) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(
        value=default, error_code=code, error_message=message, reason=Reason.ERROR
    )


def _key(context: EvaluationContext | None) -> str | Key | None:
    if context is None or not context.targeting_key:
        return None
    bucketing = context.attributes.get(BUCKETING_KEY)
    if bucketing is None:
        return context.targeting_key
    return Key(context.targeting_key, str(bucketing))


def _attributes(context: EvaluationContext | None) -> dict[str, Any] | None:
    if context is None:
        return None
    attributes = {
        name: value for name, value in context.attributes.items()
        if name not in (BUCKETING_KEY, TRAFFIC_TYPE)
    }
    return attributes or None


def _to_bool(treatment: str) -> bool:
    lowered = treatment.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _TypeMismatch(f"treatment {treatment!r} is not a boolean")


def _to_str(treatment: str) -> str:
    return treatment


def _to_int(treatment: str) -> int:
    try:
        return int(treatment)
    except ValueError:
        raise _TypeMismatch(f"treatment {treatment!r} is not an integer") from None


def _to_float(treatment: str) -> float:
    try:
        return float(treatment)
    except ValueError:
        raise _TypeMismatch(f"treatment {treatment!r} is not a number") from None


def _to_object(config: str | None) -> ObjectValue:
    if config is None:
        raise _TypeMismatch("the treatment has no configuration")
    parsed = json.loads(config)
    if not isinstance(parsed, dict | list):
        raise _TypeMismatch("the treatment's configuration is not a JSON object or array")
    return parsed
