"""The OpenFeature provider, driven through ``openfeature-sdk`` itself on localhost factories:
the async factory on asyncio and trio, and the sync shim."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus
from openfeature.track import TrackingEventDetails

from splitio_async import open_factory
from splitio_async.factory import build_factory
from splitio_async.lowlevel import internals
from splitio_async.openfeature import SplitProvider
from splitio_sync_shim import get_factory
from tests.helpers import rollout_flag, write_split_changes

ALICE = EvaluationContext("alice")


class Listener:
    def __init__(self) -> None:
        self.data: list[dict[str, Any]] = []

    def log_impression(self, data: dict[str, Any]) -> None:
        self.data.append(data)


def _flags(path: Path, checkout: str = "on") -> Path:
    attribute_flag = rollout_flag("plan_flag", (("on", 100),))
    attribute_flag["conditions"].insert(0, {
        "conditionType": "WHITELIST",
        "matcherGroup": {"combiner": "AND", "matchers": [{
            "keySelector": {"trafficType": "user", "attribute": "plan"},
            "matcherType": "WHITELIST", "negate": False,
            "whitelistMatcherData": {"whitelist": ["gold"]},
        }]},
        "partitions": [{"treatment": "gold", "size": 100}],
        "label": "gold plans",
    })
    return write_split_changes(path / "flags.json", [
        rollout_flag("bool_flag", ((checkout, 100),)),
        rollout_flag("true_flag", (("TRUE", 100),)),
        rollout_flag("int_flag", (("42", 100),)),
        rollout_flag("float_flag", (("2.5", 100),)),
        rollout_flag(
            "obj_flag", (("blue", 100),),
            configurations={"blue": json.dumps({"color": "blue", "sizes": [1, 2]})},
        ),
        rollout_flag("bad_json", (("x", 100),), configurations={"x": "{nope"}),
        rollout_flag("split_flag", (("a", 50), ("b", 50))),
        rollout_flag("killed_flag", (("on", 100),), killed=True, defaultTreatment="off"),
        rollout_flag("excluded_flag", (("on", 100),), trafficAllocation=0),
        attribute_flag,
    ])


@pytest.fixture(autouse=True)
def _openfeature_api() -> Iterator[None]:
    """Each test starts and ends with a pristine global OpenFeature API."""
    api.shutdown()
    yield
    api.shutdown()


def _check_values(client: Any) -> None:
    assert client.get_boolean_value("bool_flag", False, ALICE) is True
    assert client.get_boolean_value("true_flag", False, ALICE) is True
    assert client.get_string_value("split_flag", "z", ALICE) in ("a", "b")
    assert client.get_integer_value("int_flag", 0, ALICE) == 42
    assert client.get_float_value("float_flag", 0.0, ALICE) == 2.5
    assert client.get_object_value("obj_flag", {}, ALICE) == {"color": "blue", "sizes": [1, 2]}
    details = client.get_boolean_details("missing", True, ALICE)
    assert (details.value, details.error_code, details.reason) == (
        True, ErrorCode.FLAG_NOT_FOUND, Reason.ERROR
    )
    details = client.get_integer_details("bool_flag", 7, ALICE)
    assert (details.value, details.error_code) == (7, ErrorCode.TYPE_MISMATCH)


# ---------------------------------------------------------------------- async factory


@pytest.mark.anyio
async def test_values_through_the_sync_and_async_client_api(tmp_path: Path) -> None:
    config = {"splitFile": str(_flags(tmp_path))}
    async with open_factory("localhost", config=config) as factory:
        await factory.block_until_ready(5)
        api.set_provider_and_wait(SplitProvider(factory))
        client = api.get_client()
        assert client.get_provider_status() is ProviderStatus.READY
        _check_values(client)
        assert await client.get_boolean_value_async("bool_flag", False, ALICE) is True
        assert await client.get_string_value_async("split_flag", "z", ALICE) in ("a", "b")
        assert await client.get_integer_value_async("int_flag", 0, ALICE) == 42
        assert await client.get_float_value_async("float_flag", 0.0, ALICE) == 2.5
        assert await client.get_object_value_async("obj_flag", {}, ALICE) == {
            "color": "blue", "sizes": [1, 2]
        }
        details = await client.get_float_details_async("missing", 1.5, ALICE)
        assert (details.value, details.error_code) == (1.5, ErrorCode.FLAG_NOT_FOUND)
        details = await client.get_boolean_details_async("split_flag", False, ALICE)
        assert (details.value, details.error_code) == (False, ErrorCode.TYPE_MISMATCH)


@pytest.mark.anyio
async def test_reasons_variants_and_metadata(tmp_path: Path) -> None:
    config = {"splitFile": str(_flags(tmp_path))}
    async with open_factory("localhost", config=config) as factory:
        await factory.block_until_ready(5)
        api.set_provider_and_wait(SplitProvider(factory))
        client = api.get_client()
        cases = {
            "bool_flag": (Reason.TARGETING_MATCH, "default rule"),
            "split_flag": (Reason.SPLIT, "default rule"),
            "killed_flag": (Reason.DISABLED, "killed"),
            "excluded_flag": (Reason.DEFAULT, "not in split"),
        }
        for flag, (reason, label) in cases.items():
            details = await client.get_string_details_async(flag, "z", ALICE)
            assert (details.reason, details.flag_metadata.get("label")) == (reason, label), flag
            assert details.variant == details.value
        obj = client.get_object_details("obj_flag", {}, ALICE)
        assert obj.variant == "blue"
        assert json.loads(str(obj.flag_metadata["config"])) == obj.value
        obj = client.get_object_details("bad_json", {"d": 1}, ALICE)
        assert (obj.value, obj.error_code) == ({"d": 1}, ErrorCode.PARSE_ERROR)
        obj = client.get_object_details("bool_flag", {"d": 1}, ALICE)
        assert obj.error_code == ErrorCode.TYPE_MISMATCH
        details = client.get_string_details("bool_flag", "z", EvaluationContext())
        assert (details.value, details.error_code) == ("z", ErrorCode.TARGETING_KEY_MISSING)


@pytest.mark.anyio
async def test_context_gives_key_bucketing_key_and_attributes(tmp_path: Path) -> None:
    listener = Listener()
    config = {"splitFile": str(_flags(tmp_path)), "impressionListener": listener}
    async with open_factory("localhost", config=config) as factory:
        await factory.block_until_ready(5)
        api.set_provider_and_wait(SplitProvider(factory))
        client = api.get_client()
        gold = EvaluationContext("alice", {"plan": "gold", "bucketingKey": "acct-1"})
        details = await client.get_string_details_async("plan_flag", "z", gold)
        assert (details.value, details.reason) == ("gold", Reason.TARGETING_MATCH)
        assert details.flag_metadata["label"] == "gold plans"
        assert client.get_string_value("plan_flag", "z", EvaluationContext("bob")) == "on"
        first, second = listener.data
        assert first["impression"].matching_key == "alice"
        assert first["impression"].bucketing_key == "acct-1"
        assert first["attributes"] == {"plan": "gold"}
        assert second["impression"].bucketing_key is None


@pytest.mark.anyio
async def test_track_maps_to_split_track(tmp_path: Path) -> None:
    config = {"splitFile": str(_flags(tmp_path))}
    async with open_factory("localhost", config=config) as factory:
        await factory.block_until_ready(5)
        api.set_provider_and_wait(SplitProvider(factory))
        client = api.get_client()
        before = factory.status().queue_depths["events"]
        client.track("checkout", ALICE, TrackingEventDetails(9.5, {"items": 3}))
        client.track("visit", EvaluationContext("acct", {"trafficType": "account"}))
        client.track("ignored", EvaluationContext())  # no key: nothing to track
        assert factory.status().queue_depths["events"] == before + 2


@pytest.mark.anyio
async def test_not_ready_then_ready_event(tmp_path: Path) -> None:
    """A provider over a factory that is not ready yet reports PROVIDER_NOT_READY, then emits
    PROVIDER_READY once the factory is."""
    factory = build_factory("localhost", {"splitFile": str(_flags(tmp_path))}, {})
    assert factory is not None
    provider = SplitProvider(factory)
    details = provider.resolve_boolean_details("bool_flag", False, ALICE)
    assert (details.value, details.error_code) == (False, ErrorCode.PROVIDER_NOT_READY)
    ready = threading.Event()
    api.get_client().add_handler(ProviderEvent.PROVIDER_READY, lambda _d: ready.set())
    api.set_provider(provider)
    async with anyio.create_task_group() as tg:
        await tg.start(internals(factory).run)
        await factory.block_until_ready(5)
        with anyio.fail_after(5):
            assert await anyio.to_thread.run_sync(ready.wait, 5)
        assert api.get_client().get_provider_status() is ProviderStatus.READY
        assert api.get_client().get_boolean_value("bool_flag", False, ALICE) is True
        await factory.destroy()
    details = provider.resolve_boolean_details("bool_flag", False, ALICE)
    assert details.error_code == ErrorCode.GENERAL


@pytest.mark.anyio
async def test_sdk_update_emits_configuration_changed(tmp_path: Path) -> None:
    path = _flags(tmp_path)
    config = {
        "splitFile": str(path), "localhostRefreshEnabled": True,
        "featuresRefreshRate": 0.01, "segmentsRefreshRate": 0.01,
    }
    changes: list[EventDetails] = []
    changed = threading.Event()

    def on_change(details: EventDetails) -> None:
        changes.append(details)
        changed.set()

    async with open_factory("localhost", config=config) as factory:
        await factory.block_until_ready(5)
        api.set_provider_and_wait(SplitProvider(factory))
        client = api.get_client()
        client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_change)
        assert await client.get_boolean_value_async("bool_flag", True, ALICE) is True
        write_split_changes(path, [rollout_flag("bool_flag", (("off", 100),), changeNumber=11)],
                            till=11)
        with anyio.fail_after(5):
            assert await anyio.to_thread.run_sync(changed.wait, 5)
        assert "bool_flag" in (changes[0].flags_changed or [])
        assert await client.get_boolean_value_async("bool_flag", True, ALICE) is False


# ---------------------------------------------------------------------- the sync shim


def test_shim_factory(tmp_path: Path) -> None:
    listener = Listener()
    factory = get_factory("localhost", config={
        "splitFile": str(_flags(tmp_path)), "impressionListener": listener,
    })
    assert factory is not None
    try:
        factory.block_until_ready(5)
        api.set_provider_and_wait(SplitProvider(factory))
        client = api.get_client()
        assert client.get_provider_status() is ProviderStatus.READY
        _check_values(client)
        details = client.get_string_details("killed_flag", "z", ALICE)
        assert (details.value, details.reason) == ("off", Reason.DISABLED)
        value = anyio.run(client.get_integer_value_async, "int_flag", 0, ALICE)
        assert value == 42
        assert len(listener.data) >= 7
    finally:
        factory.destroy()


def test_shim_events(tmp_path: Path) -> None:
    path = _flags(tmp_path)
    factory = get_factory("localhost", config={
        "splitFile": str(path), "localhostRefreshEnabled": True,
        "featuresRefreshRate": 0.01, "segmentsRefreshRate": 0.01,
    })
    assert factory is not None
    ready, changed = threading.Event(), threading.Event()
    try:
        provider = SplitProvider(factory)
        client = api.get_client()
        client.add_handler(ProviderEvent.PROVIDER_READY, lambda _d: ready.set())
        client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, lambda _d: changed.set())
        api.set_provider(provider)
        assert ready.wait(5)
        assert client.get_boolean_value("bool_flag", False, ALICE) is True
        write_split_changes(path, [rollout_flag("bool_flag", (("off", 100),), changeNumber=11)],
                            till=11)
        assert changed.wait(5)
        assert client.get_boolean_value("bool_flag", True, ALICE) is False
    finally:
        factory.destroy()
