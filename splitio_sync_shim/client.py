"""The blocking client: evaluations run right here, in the caller's thread.

It calls the same ``EvaluationCore`` as the async client; nothing crosses into the portal thread
except ``on`` (subscriptions belong to the loop) and ``destroy``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from splitio_async.lowlevel import EvaluationCore, Steps, is_steps

if TYPE_CHECKING:
    from .factory import SyncSplitFactory

Treatments = dict[str, str]
TreatmentsWithConfig = dict[str, tuple[str, str | None]]


R = TypeVar("R")


def settle(result: R | Steps[R], factory: SyncSplitFactory) -> R:
    """The call's result; in Redis consumer mode, its steps run here, in the caller's thread,
    on the factory's blocking Redis client (no hop to the portal thread)."""
    if is_steps(result):
        settled: R = factory.run_steps(result)
        return settled
    return result


def _treatments(results: dict[str, tuple[str, str | None]]) -> Treatments:
    return {name: result[0] for name, result in results.items()}


class Client:
    __slots__ = ("_factory",)

    def __init__(self, factory: SyncSplitFactory) -> None:
        self._factory = factory

    @property
    def _core(self) -> EvaluationCore:
        """Looked up per call: ``resume()`` in a forked worker replaces the core."""
        core: EvaluationCore = self._factory.core
        return core

    @property
    def ready(self) -> bool:
        return self._factory.ready

    @property
    def destroyed(self) -> bool:
        return self._factory.destroyed

    def get_treatment(
        self, key: Any, feature_flag_name: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> str:
        return settle(self._core.treatment(
            key, feature_flag_name, attributes, evaluation_options, "get_treatment"
        ), self._factory)[0]

    def get_treatment_with_config(
        self, key: Any, feature_flag_name: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> tuple[str, str | None]:
        return settle(self._core.treatment(
            key, feature_flag_name, attributes, evaluation_options, "get_treatment_with_config"
        ), self._factory)[:2]

    def get_treatments(
        self, key: Any, feature_flag_names: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> Treatments:
        return _treatments(settle(self._core.treatments(
            key, feature_flag_names, attributes, evaluation_options, "get_treatments"
        ), self._factory))

    def get_treatments_with_config(
        self, key: Any, feature_flag_names: Any, attributes: Any = None,
        evaluation_options: Any = None,
    ) -> TreatmentsWithConfig:
        return settle(self._core.treatments(
            key, feature_flag_names, attributes, evaluation_options, "get_treatments_with_config"
        ), self._factory)

    def get_treatments_by_flag_set(
        self, key: Any, flag_set: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> Treatments:
        return _treatments(settle(self._core.treatments_by_flag_sets(
            key, [flag_set], attributes, evaluation_options, "get_treatments_by_flag_set"
        ), self._factory))

    def get_treatments_by_flag_sets(
        self, key: Any, flag_sets: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> Treatments:
        return _treatments(settle(self._core.treatments_by_flag_sets(
            key, flag_sets, attributes, evaluation_options, "get_treatments_by_flag_sets"
        ), self._factory))

    def get_treatments_with_config_by_flag_set(
        self, key: Any, flag_set: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> TreatmentsWithConfig:
        return settle(self._core.treatments_by_flag_sets(
            key, [flag_set], attributes, evaluation_options,
            "get_treatments_with_config_by_flag_set",
        ), self._factory)

    def get_treatments_with_config_by_flag_sets(
        self, key: Any, flag_sets: Any, attributes: Any = None, evaluation_options: Any = None,
    ) -> TreatmentsWithConfig:
        return settle(self._core.treatments_by_flag_sets(
            key, flag_sets, attributes, evaluation_options,
            "get_treatments_with_config_by_flag_sets",
        ), self._factory)

    def track(
        self, key: Any, traffic_type: Any, event_type: Any, value: Any = None,
        properties: Any = None,
    ) -> bool:
        return settle(
            self._core.track(key, traffic_type, event_type, value, properties), self._factory
        )

    def on(self, sdk_event: Any, callback: Any) -> None:
        """Subscribe to SDK_READY / SDK_UPDATE; sync callbacks run in a worker thread."""
        self._factory.subscribe(sdk_event, callback)

    def destroy(self) -> None:
        self._factory.destroy()
