"""The async client: every method is a coroutine that never raises.

All the work is in ``lowlevel.EvaluationCore``; this class only gives it the official names and
argument order. In memory and localhost modes a call never awaits I/O. In Redis consumer mode the
core returns the steps of the call (the commands to run, see ``steps``) and the factory runs them
against Redis. The other await: when a recorder has a flush's worth of records waiting, the call
yields to the event loop once (a checkpoint), so code that evaluates in a loop without awaiting
anything else still lets the recorders deliver instead of filling their buffers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from anyio.lowlevel import checkpoint

from .lowlevel import EvaluationCore, is_steps

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
        result = self._core.treatment(
            key, feature_flag_name, attributes, evaluation_options, "get_treatment"
        )
        if is_steps(result):
            result = await self._factory.run_steps(result)
        if self._core.backlogged():
            await checkpoint()
        return result[0]

    async def get_treatment_with_config(
        self, key: Any, feature_flag_name: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> tuple[str, str | None]:
        result = self._core.treatment(
            key, feature_flag_name, attributes, evaluation_options, "get_treatment_with_config"
        )
        if is_steps(result):
            result = await self._factory.run_steps(result)
        if self._core.backlogged():
            await checkpoint()
        return result[:2]

    async def get_treatments(
        self, key: Any, feature_flag_names: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> Treatments:
        result = self._core.treatments(
            key, feature_flag_names, attributes, evaluation_options, "get_treatments"
        )
        if is_steps(result):
            result = await self._factory.run_steps(result)
        if self._core.backlogged():
            await checkpoint()
        return _treatments(result)

    async def get_treatments_with_config(
        self, key: Any, feature_flag_names: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> TreatmentsWithConfig:
        result = self._core.treatments(
            key, feature_flag_names, attributes, evaluation_options, "get_treatments_with_config"
        )
        if is_steps(result):
            result = await self._factory.run_steps(result)
        if self._core.backlogged():
            await checkpoint()
        return result

    async def get_treatments_by_flag_set(
        self, key: Any, flag_set: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> Treatments:
        result = self._core.treatments_by_flag_sets(
            key, [flag_set], attributes, evaluation_options, "get_treatments_by_flag_set"
        )
        if is_steps(result):
            result = await self._factory.run_steps(result)
        if self._core.backlogged():
            await checkpoint()
        return _treatments(result)

    async def get_treatments_by_flag_sets(
        self, key: Any, flag_sets: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> Treatments:
        result = self._core.treatments_by_flag_sets(
            key, flag_sets, attributes, evaluation_options, "get_treatments_by_flag_sets"
        )
        if is_steps(result):
            result = await self._factory.run_steps(result)
        if self._core.backlogged():
            await checkpoint()
        return _treatments(result)

    async def get_treatments_with_config_by_flag_set(
        self, key: Any, flag_set: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> TreatmentsWithConfig:
        result = self._core.treatments_by_flag_sets(
            key, [flag_set], attributes, evaluation_options,
            "get_treatments_with_config_by_flag_set",
        )
        if is_steps(result):
            result = await self._factory.run_steps(result)
        if self._core.backlogged():
            await checkpoint()
        return result

    async def get_treatments_with_config_by_flag_sets(
        self, key: Any, flag_sets: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> TreatmentsWithConfig:
        result = self._core.treatments_by_flag_sets(
            key, flag_sets, attributes, evaluation_options,
            "get_treatments_with_config_by_flag_sets",
        )
        if is_steps(result):
            result = await self._factory.run_steps(result)
        if self._core.backlogged():
            await checkpoint()
        return result

    async def track(
        self, key: Any, traffic_type: Any, event_type: Any, value: Any = None,
        properties: Any = None,
    ) -> bool:
        result = self._core.track(key, traffic_type, event_type, value, properties)
        if is_steps(result):
            result = await self._factory.run_steps(result)
        if self._core.backlogged():
            await checkpoint()
        return result

    async def on(self, sdk_event: Any, callback: Any) -> None:
        """Subscribe to SDK_READY / SDK_UPDATE (one handler per event for the factory)."""
        self._factory.events_hub.subscribe(sdk_event, callback)

    async def destroy(self) -> None:
        await self._factory.destroy()
