"""The testing kit: TestData builders, live changes, recorded impressions and events, fixtures."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from splitio_async import EventsMetadata, SdkEvent, SplitFactory, open_factory
from splitio_async.testing import TestData
from splitio_sync_shim import SyncSplitFactory, get_factory

pytestmark = pytest.mark.anyio


@pytest.fixture
def td() -> TestData:
    return TestData()


@pytest.fixture
async def factory(td: TestData) -> AsyncIterator[SplitFactory]:
    async with open_factory("testing", config={"testData": td}) as running:
        yield running


@pytest.fixture
def sync_factory(td: TestData) -> Iterator[SyncSplitFactory]:
    shim = get_factory("testing", config={"testData": td})
    assert shim is not None
    shim.block_until_ready(10)
    yield shim
    shim.destroy()


async def test_on_for_everyone_keys_config_and_default(td: TestData) -> None:
    td.flag("checkout").on_for_everyone("off").for_keys(["alice", "ann"], "on")
    td.flag("checkout").with_config("on", '{"color": "green"}').with_config("off", {"n": 1})
    td.flag("banner").on_for_everyone("v2", config='{"size": 3}')
    async with open_factory("testing", config={"testData": td}) as factory:
        client = factory.client()
        assert factory.ready
        assert await client.get_treatment("alice", "checkout") == "on"
        assert await client.get_treatment("bob", "checkout") == "off"
        assert await client.get_treatment_with_config("ann", "checkout") == (
            "on", '{"color": "green"}')
        assert await client.get_treatment_with_config("bob", "checkout") == ("off", '{"n": 1}')
        assert await client.get_treatment_with_config("x", "banner") == ("v2", '{"size": 3}')
        assert await client.get_treatment("x", "missing") == "control"
        view = await factory.manager().split("checkout")
        assert view is not None and sorted(view.treatments) == ["off", "on"]


async def test_when_attribute_kinds(td: TestData, factory: SplitFactory) -> None:
    flag = td.flag("f")
    flag.when_attribute("email", "ends_with", "@corp.com", "staff")
    flag.when_attribute("plan", "in", ["gold", "platinum"], "premium")
    flag.when_attribute("age", "gte", 65, "senior").when_attribute("age", "lte", 12, "kid")
    flag.when_attribute("country", "equals", "FR", "fr").when_attribute("beta", "equals", True, "b")
    flag.when_attribute("n", "equals", 7, "seven").when_attribute("n", "between", (20, 30), "20s")
    flag.when_attribute("name", "starts_with", ["al", "bo"], "ab")
    client = factory.client()

    async def treatment(**attributes: object) -> str:
        return await client.get_treatment("k", "f", attributes)

    assert await treatment(email="x@corp.com") == "staff"
    assert await treatment(plan="gold") == "premium"
    assert await treatment(age=70) == "senior"
    assert await treatment(age=10) == "kid"
    assert await treatment(age=30) == "off"
    assert await treatment(country="FR") == "fr"
    assert await treatment(beta=True) == "b"
    assert await treatment(n=7) == "seven"
    assert await treatment(n=25) == "20s"
    assert await treatment(name="bob") == "ab"
    assert await treatment() == "off"
    with pytest.raises(ValueError, match="unknown when_attribute kind"):
        flag.when_attribute("a", "nearly", 1, "on")
    with pytest.raises(ValueError, match="whole numbers"):
        flag.when_attribute("a", "gte", 1.5, "on")


async def test_rollout_uses_real_bucketing(td: TestData, factory: SplitFactory) -> None:
    td.flag("r").rollout({"on": 30, "off": 70})
    client = factory.client()
    results = [await client.get_treatment(f"user-{i}", "r") for i in range(2000)]
    share = results.count("on") / len(results)
    assert 0.25 < share < 0.35
    assert set(results) == {"on", "off"}
    # deterministic: the same key always gets the same treatment
    assert [await client.get_treatment(f"user-{i}", "r") for i in range(50)] == results[:50]
    with pytest.raises(ValueError, match="summing to 100"):
        td.flag("r").rollout({"on": 30, "off": 30})


async def test_kill_restore_and_remove(td: TestData, factory: SplitFactory) -> None:
    td.flag("f").on_for_everyone("on").default("safe")
    client = factory.client()
    assert await client.get_treatment("k", "f") == "on"
    td.kill("f")
    assert await client.get_treatment("k", "f") == "safe"
    assert td.impressions[-1].label == "killed"
    td.restore("f")
    assert await client.get_treatment("k", "f") == "on"
    td.remove("f")
    assert await client.get_treatment("k", "f") == "control"
    with pytest.raises(KeyError):
        td.kill("nope")


async def test_segments(td: TestData) -> None:
    td.segment("beta", ["alice"])
    td.flag("f").for_segment("beta", "on")
    async with open_factory("testing", config={"testData": td}) as factory:
        client = factory.client()
        assert await client.get_treatment("alice", "f") == "on"
        assert await client.get_treatment("bob", "f") == "off"
        td.segment("beta", ["bob"])
        assert await client.get_treatment("alice", "f") == "off"
        assert await client.get_treatment("bob", "f") == "on"
        td.flag("g").for_segment("beta", "yes")  # a segment loaded before the flag read it
        assert await client.get_treatment("bob", "g") == "yes"


async def test_changes_while_running_fire_sdk_update(td: TestData, factory: SplitFactory) -> None:
    client = factory.client()
    seen: list[EventsMetadata] = []
    fired = anyio.Event()

    async def on_update(metadata: EventsMetadata) -> None:
        seen.append(metadata)
        fired.set()

    await client.on(SdkEvent.SDK_UPDATE, on_update)
    td.flag("new").on_for_everyone("on")
    assert await client.get_treatment("k", "new") == "on"  # no wait: applied before returning
    with anyio.fail_after(5):
        await fired.wait()
    assert "new" in seen[0].get_names()


async def test_impressions_and_events_are_recorded(td: TestData, factory: SplitFactory) -> None:
    td.flag("f").on_for_everyone("on")
    client = factory.client()
    await client.get_treatment("alice", "f")
    await client.get_treatment("alice", "f")  # OPTIMIZED would dedupe; the kit keeps every one
    assert await client.track("alice", "user", "purchase", 9.5, {"items": 2})
    impressions = td.impressions
    assert [(i.matching_key, i.feature_name, i.treatment, i.label) for i in impressions] == [
        ("alice", "f", "on", "default rule")] * 2
    assert [(e.key, e.event_type_id, e.value, e.properties) for e in td.events] == [
        ("alice", "purchase", 9.5, {"items": 2})]
    td.recorded.clear()
    assert td.impressions == [] and td.events == []


async def test_recorded_after_destroy_and_two_factories(td: TestData) -> None:
    td.flag("f").on_for_everyone("on")
    async with open_factory("testing", config={"testData": td}) as one, \
            open_factory("testing", config={"testData": td}) as two:
        await one.client().get_treatment("a", "f")
        await two.client().get_treatment("b", "f")
        td.flag("f").on_for_everyone("off")  # reaches both factories
        assert await one.client().get_treatment("a", "f") == "off"
        assert await two.client().get_treatment("a", "f") == "off"
        await one.client().get_treatment("c", "f")
    assert sorted(i.matching_key for i in td.impressions) == ["a", "a", "a", "b", "c"]


async def test_testing_key_needs_test_data() -> None:
    with pytest.raises(TypeError, match="testData"):
        async with open_factory("testing"):
            pass


async def test_test_data_is_a_data_source_for_any_sdk_key(td: TestData) -> None:
    """The data source in the config selects testing mode, not the sdk key (LaunchDarkly's
    TestData comes in through its config the same way)."""
    td.flag("f").for_keys(["alice"], "on")
    async with open_factory("any-key", config={"testData": td}) as factory:
        assert await factory.client().get_treatment("alice", "f") == "on"
        status = factory.status()
        assert (status.mode, status.sync_mode) == ("testing", "none")
    assert [i.treatment for i in td.impressions] == ["on"]


async def test_test_data_must_be_a_data_source() -> None:
    with pytest.raises(TypeError, match="testData"):
        async with open_factory("testing", config={"testData": {"f": "on"}}):
            pass


def test_shim(td: TestData, sync_factory: SyncSplitFactory) -> None:
    td.flag("f").on_for_everyone("off").for_keys(["alice"], "on")
    client = sync_factory.client()
    assert client.get_treatment("alice", "f") == "on"
    assert client.get_treatment("bob", "f") == "off"
    fired = threading.Event()
    client.on(SdkEvent.SDK_UPDATE, lambda metadata: fired.set())
    td.flag("f").on_for_everyone("on")  # from this thread: applied before returning
    assert client.get_treatment("bob", "f") == "on"
    assert fired.wait(5)
    td.kill("f")
    assert client.get_treatment("bob", "f") == "off"
    client.track("bob", "user", "click")
    assert [i.treatment for i in td.impressions] == ["on", "off", "on", "off"]
    assert [e.event_type_id for e in td.events] == ["click"]


# the pytest plugin's fixtures (registered by the pytest11 entry point)


async def test_plugin_async_fixture(split_test_data: TestData, split_factory: SplitFactory) -> None:
    split_test_data.flag("f").for_keys(["alice"], "on")
    assert await split_factory.client().get_treatment("alice", "f") == "on"
    assert split_test_data.impressions[0].treatment == "on"


def test_plugin_sync_fixture(
    split_test_data: TestData, split_sync_factory: SyncSplitFactory
) -> None:
    split_test_data.flag("f").rollout({"on": 100})
    assert split_sync_factory.client().get_treatment("alice", "f") == "on"
