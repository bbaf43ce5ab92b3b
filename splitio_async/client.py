"""The async client: every method is a coroutine that never awaits I/O and never raises.

All the work is in ``lowlevel.EvaluationCore``; this class only gives it the official names and
argument order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .lowlevel import EvaluationCore

if TYPE_CHECKING:
    from .factory import SplitFactory

Treatments = dict[str, str]
TreatmentsWithConfig = dict[str, tuple[str, str | None]]


def _treatments(results: dict[str, tuple[str, str | None]]) -> Treatments:
    return {name: result[0] for name, result in results.items()}


class Client:
    __slots__ = ("_core", "_factory")

    def __init__(self, factory: SplitFactory, core: EvaluationCore) -> None:
        self._factory = factory
        self._core = core

    @property
    def ready(self) -> bool:
        return self._factory.ready

    @property
    def destroyed(self) -> bool:
        return self._factory.destroyed

    async def get_treatment(
        self, key: Any, feature_flag_name: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> str:
        return self._core.treatment(
            key, feature_flag_name, attributes, evaluation_options, "get_treatment"
        )[0]

    async def get_treatment_with_config(
        self, key: Any, feature_flag_name: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> tuple[str, str | None]:
        return self._core.treatment(
            key, feature_flag_name, attributes, evaluation_options, "get_treatment_with_config"
        )

    async def get_treatments(
        self, key: Any, feature_flag_names: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> Treatments:
        return _treatments(self._core.treatments(
            key, feature_flag_names, attributes, evaluation_options, "get_treatments"
        ))

    async def get_treatments_with_config(
        self, key: Any, feature_flag_names: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> TreatmentsWithConfig:
        return self._core.treatments(
            key, feature_flag_names, attributes, evaluation_options, "get_treatments_with_config"
        )

    async def get_treatments_by_flag_set(
        self, key: Any, flag_set: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> Treatments:
        return _treatments(self._core.treatments_by_flag_sets(
            key, [flag_set], attributes, evaluation_options, "get_treatments_by_flag_set"
        ))

    async def get_treatments_by_flag_sets(
        self, key: Any, flag_sets: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> Treatments:
        return _treatments(self._core.treatments_by_flag_sets(
            key, flag_sets, attributes, evaluation_options, "get_treatments_by_flag_sets"
        ))

    async def get_treatments_with_config_by_flag_set(
        self, key: Any, flag_set: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> TreatmentsWithConfig:
        return self._core.treatments_by_flag_sets(
            key, [flag_set], attributes, evaluation_options,
            "get_treatments_with_config_by_flag_set",
        )

    async def get_treatments_with_config_by_flag_sets(
        self, key: Any, flag_sets: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> TreatmentsWithConfig:
        return self._core.treatments_by_flag_sets(
            key, flag_sets, attributes, evaluation_options,
            "get_treatments_with_config_by_flag_sets",
        )

    async def track(
        self, key: Any, traffic_type: Any, event_type: Any, value: Any = None,
        properties: Any = None,
    ) -> bool:
        return self._core.track(key, traffic_type, event_type, value, properties)

    async def on(self, sdk_event: Any, callback: Any) -> None:
        """Subscribe to SDK_READY / SDK_UPDATE (one handler per event for the factory)."""
        self._factory.events_hub.subscribe(sdk_event, callback)

    async def destroy(self) -> None:
        await self._factory.destroy()
