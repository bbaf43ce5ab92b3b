"""Localhost mode end to end through the public async API, on asyncio and trio.

Each test writes its own files in ``tmp_path``; waits are bounded with ``anyio.fail_after``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import anyio
import pytest

from splitio_async import (
    EvaluationOptions,
    InvalidSdkKeyError,
    Key,
    LocalhostFileError,
    SdkEvent,
    SdkEventType,
    SplitError,
    TimeoutException,
    get_factory_async,
    open_factory,
)
from splitio_async.factory import build_factory
from tests.helpers import (
    in_rbs_flag,
    rollout_flag,
    staff_rbs,
    write_segment,
    write_split_changes,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("sdk_key", [None, "", "   ", 42])
async def test_open_factory_refuses_an_unusable_sdk_key_with_a_typed_error(
    sdk_key: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK's own error (a ``SplitError``), still a ``ValueError`` for older callers, after
    the official log line."""
    with pytest.raises(InvalidSdkKeyError, match="sdk_key") as raised:
        async with open_factory(sdk_key):
            pass  # pragma: no cover - never entered
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, SplitError)
    assert "factory_instantiation: you passed" in caplog.text

YAML = """
- my_feature:
    treatment: "on"
    keys: "key"
    config: "{\\"desc\\" : \\"this applies only to ON treatment\\"}"
- other_feature_3:
    treatment: "off"
- my_feature:
    treatment: "off"
    keys: "only_key"
    config: "{\\"desc\\" : \\"only OFF\\"}"
- other_feature:
    treatment: "on"
    keys: ["key2","key3"]
"""


class LogEvent(logging.Handler):
    """Sets an anyio event when a log line containing ``text`` is emitted (in the loop thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = anyio.Event()
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.message = record.getMessage()
            self.event.set()


class Listener:
    def __init__(self) -> None:
        self.data: list[dict[str, Any]] = []

    def log_impression(self, data: dict[str, Any]) -> None:
        self.data.append(data)


async def test_yaml_file_evaluates_like_the_official_example(tmp_path: Path) -> None:
    """The YAML example of the spec gives the official results and configs."""
    path = tmp_path / "flags.yaml"
    path.write_text(YAML)
    async with open_factory("localhost", config={"splitFile": str(path)}) as factory:
        client = factory.client()
        assert await client.get_treatment_with_config("key", "my_feature") == (
            "on", '{"desc" : "this applies only to ON treatment"}'
        )
        assert await client.get_treatment_with_config("only_key", "my_feature") == (
            "off", '{"desc" : "only OFF"}'
        )
        assert await client.get_treatment("another_key", "my_feature") == "control"
        assert await client.get_treatment("key2", "other_feature") == "on"
        assert await client.get_treatment("anyone", "other_feature_3") == "off"
        view = await factory.manager().split("my_feature")
        assert view is not None
        assert set(view.configs) == {"on", "off"}
        assert view.traffic_type == "user" and view.change_number == 123


async def test_legacy_split_file(tmp_path: Path) -> None:
    """A legacy ``.split`` file gives every key the listed treatment (works on async too)."""
    path = tmp_path / ".split"
    path.write_text("# comment\nreporting_v2 on\nnew-navigation v3\n")
    async with open_factory("localhost", config={"splitFile": str(path)}) as factory:
        client = factory.client()
        assert await client.get_treatment("anyone", "reporting_v2") == "on"
        assert await client.get_treatment("anyone", "new-navigation") == "v3"
        assert sorted(await factory.manager().split_names()) == ["new-navigation", "reporting_v2"]


async def test_json_file_with_segments_and_rule_based_segments(tmp_path: Path) -> None:
    """JSON mode loads referenced segment files and rule-based segments."""
    segment_flag = rollout_flag("seg_flag", (("in", 100),))
    segment_flag["conditions"][0]["matcherGroup"]["matchers"][0] = {
        "keySelector": {"trafficType": "user", "attribute": None},
        "matcherType": "IN_SEGMENT",
        "negate": False,
        "userDefinedSegmentMatcherData": {"segmentName": "beta"},
    }
    rbs_flag = rollout_flag("rbs_flag", (("rbs_on", 100),))
    rbs_flag["conditions"][0]["matcherGroup"]["matchers"][0] = {
        "keySelector": {"trafficType": "user", "attribute": None},
        "matcherType": "IN_RULE_BASED_SEGMENT",
        "negate": False,
        "userDefinedSegmentMatcherData": {"segmentName": "staff"},
    }
    staff = {
        "name": "staff", "trafficTypeName": "user", "changeNumber": 3, "status": "ACTIVE",
        "excluded": {"keys": ["mallory@example.com"], "segments": []},
        "conditions": [{"matcherGroup": {"combiner": "AND", "matchers": [{
            "keySelector": {"trafficType": "user", "attribute": "email"},
            "matcherType": "ENDS_WITH", "negate": False,
            "whitelistMatcherData": {"whitelist": ["@example.com"]},
        }]}}],
    }
    write_split_changes(tmp_path / "flags.json", [segment_flag, rbs_flag], [staff])
    write_segment(tmp_path, "beta", ["alice"])
    config = {"splitFile": str(tmp_path / "flags.json"), "segmentDirectory": str(tmp_path)}
    async with open_factory("localhost", config=config) as factory:
        client = factory.client()
        assert await client.get_treatment("alice", "seg_flag") == "in"
        assert await client.get_treatment("bob", "seg_flag") == "off"
        email = {"email": "bob@example.com"}
        assert await client.get_treatment("bob", "rbs_flag", email) == "rbs_on"
        assert await client.get_treatment(
            "mallory@example.com", "rbs_flag", {"email": "mallory@example.com"}
        ) == "off"


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("flags.yaml", "- my_feature: [unclosed", "YAML"),
        ("flags.yaml", "- my_feature:\n    keys: a\n", "treatment"),
        ("flags.json", '{"ff": {"d": [}', "JSON"),
    ],
)
async def test_malformed_file_is_an_error_naming_the_file(
    tmp_path: Path, name: str, content: str, problem: str
) -> None:
    """A malformed file fails factory creation with an error naming the file and the problem."""
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(LocalhostFileError) as caught:
        await get_factory_async("localhost", config={"splitFile": str(path)})
    assert str(path) in str(caught.value)
    assert problem.lower() in str(caught.value).lower()


async def test_missing_file_is_an_error(tmp_path: Path) -> None:
    """A missing flag file fails at creation, not at the first evaluation."""
    with pytest.raises(LocalhostFileError, match="not found"):
        async with open_factory("localhost", config={"splitFile": str(tmp_path / "no.yaml")}):
            pass


async def test_refresh_applies_changes_and_keeps_last_good_data(tmp_path: Path) -> None:
    """``localhostRefreshEnabled`` reloads a changed file, fires SDK_UPDATE, and a bad reload keeps
    the last good data and is logged."""
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("v1", 100),))])
    config = {
        "splitFile": str(path), "segmentDirectory": str(tmp_path),
        "localhostRefreshEnabled": True, "featuresRefreshRate": 0.01,
        "segmentsRefreshRate": 0.01,
    }
    updates: list[Any] = []
    updated = anyio.Event()

    async def on_update(metadata: Any) -> None:
        updates.append(metadata)
        updated.set()

    async with open_factory("localhost", config=config) as factory:
        client = factory.client()
        await client.on(SdkEvent.SDK_UPDATE, on_update)
        assert await client.get_treatment("k", "f") == "v1"
        write_split_changes(path, [rollout_flag("f", (("v2", 100),), changeNumber=11)], till=11)
        with anyio.fail_after(5):
            await updated.wait()
        assert await client.get_treatment("k", "f") == "v2"
        assert updates[0].get_type() is SdkEventType.FLAG_UPDATE
        assert updates[0].get_names() == {"f"}
        logged = LogEvent("keeping the last good data")
        logging.getLogger("splitio").addHandler(logged)
        try:
            path.write_text("{ not json")
            with anyio.fail_after(5):
                await logged.event.wait()
        finally:
            logging.getLogger("splitio").removeHandler(logged)
        assert str(path) in logged.message
        assert await client.get_treatment("k", "f") == "v2"


class Updates:
    """SDK_UPDATE handler: ``next()`` waits for the next update (bounded) and returns it."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self._event = anyio.Event()

    async def __call__(self, metadata: Any) -> None:
        self.seen.append(metadata)
        self._event.set()

    async def next(self) -> Any:
        with anyio.fail_after(5):
            await self._event.wait()
        self._event = anyio.Event()
        return self.seen[-1]


REFRESH = {"localhostRefreshEnabled": True, "featuresRefreshRate": 0.01,
           "segmentsRefreshRate": 0.01}


def write_sections(path: Path, treatment: str, flag_cn: int, ff_t: int, staff: list[str],
                   rbs_cn: int, rbs_t: int) -> None:
    """``f`` gives everybody ``treatment``; ``rbs_flag`` gives "member" to the ``staff``."""
    write_split_changes(
        path, [rollout_flag("f", ((treatment, 100),), changeNumber=flag_cn),
               in_rbs_flag("rbs_flag", "staff")],
        [{**staff_rbs(*staff), "changeNumber": rbs_cn}], till=ff_t, rbs_till=rbs_t,
    )


def refreshing_factory(path: Path) -> tuple[Any, Updates]:
    """(open_factory context, SDK_UPDATE waiter) over ``path`` with a fast refresh."""
    return open_factory("localhost", config={
        "splitFile": str(path), "segmentDirectory": str(path.parent), **REFRESH,
    }), Updates()


async def test_refresh_decides_staleness_per_section(tmp_path: Path) -> None:
    """Official rule: each section of a refreshed file is skipped when its own ``t`` is older
    than what is held. A stale ``ff`` beside a newer ``rbs`` leaves the flags as they are (and
    the other way round)."""
    path = tmp_path / "flags.json"
    write_sections(path, "v1", 10, 10, ["alice"], 10, 10)
    opened, updates = refreshing_factory(path)
    async with opened as factory:
        client = factory.client()
        await client.on(SdkEvent.SDK_UPDATE, updates)
        assert await client.get_treatment("k", "f") == "v1"
        assert await client.get_treatment("alice", "rbs_flag") == "member"

        write_sections(path, "stale", 9, 9, ["bob"], 11, 11)
        assert (await updates.next()).get_type() is SdkEventType.SEGMENTS_UPDATE
        assert await client.get_treatment("k", "f") == "v1"
        assert await client.get_treatment("bob", "rbs_flag") == "member"
        assert await client.get_treatment("alice", "rbs_flag") == "off"
        view = await factory.manager().split("f")
        assert view is not None and view.change_number == 10

        write_sections(path, "v3", 12, 12, ["carol"], 5, 5)
        update = await updates.next()
        assert update.get_type() is SdkEventType.FLAG_UPDATE and "f" in update.get_names()
        assert await client.get_treatment("k", "f") == "v3"
        assert await client.get_treatment("bob", "rbs_flag") == "member"
        assert await client.get_treatment("carol", "rbs_flag") == "off"


async def test_refresh_of_a_file_stale_in_both_sections_applies_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "flags.json"
    write_sections(path, "v1", 10, 10, ["alice"], 10, 10)
    opened, updates = refreshing_factory(path)
    skipped = LogEvent("both sections are older than the data held")
    logging.getLogger("splitio").addHandler(skipped)
    try:
        async with opened as factory:
            client = factory.client()
            await client.on(SdkEvent.SDK_UPDATE, updates)
            write_sections(path, "stale", 9, 9, ["bob"], 9, 9)
            with anyio.fail_after(5):
                await skipped.event.wait()
            assert await client.get_treatment("k", "f") == "v1"
            assert await client.get_treatment("bob", "rbs_flag") == "off"
            assert not updates.seen
            write_sections(path, "v2", 11, 11, ["bob"], 9, 9)  # refreshing goes on
            assert (await updates.next()).get_type() is SdkEventType.FLAG_UPDATE
            assert await client.get_treatment("k", "f") == "v2"
    finally:
        logging.getLogger("splitio").removeHandler(skipped)


async def test_refresh_applies_a_hand_edit_to_an_older_change_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In localhost mode the file is the source of truth: a flag pasted back from an older
    export (here: killed, changeNumber 5 where 10 is held) replaces the held one, logged at
    debug."""
    path = write_split_changes(tmp_path / "flags.json",
                               [rollout_flag("f", (("on", 100),), changeNumber=10)])
    opened, updates = refreshing_factory(path)
    async with opened as factory:
        client = factory.client()
        await client.on(SdkEvent.SDK_UPDATE, updates)
        assert await client.get_treatment("k", "f") == "on"
        write_split_changes(path, [rollout_flag(
            "f", (("on", 100),), changeNumber=5, killed=True, defaultTreatment="killed",
        )])
        assert (await updates.next()).get_names() == {"f"}
        assert await client.get_treatment("k", "f") == "killed"
        view = await factory.manager().split("f")
        assert view is not None and view.killed and view.change_number == 5
    older = [r for r in caplog.records if "goes back from changeNumber 10 to 5" in r.getMessage()]
    assert [r.levelno for r in older] == [logging.DEBUG]


async def test_sdk_ready_callback_runs_even_when_registered_late(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SDK_READY registered after readiness is delivered at once; a second handler is ignored,
    with one warning saying so."""
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f")])
    called = anyio.Event()
    calls: list[Any] = []

    async def first(metadata: Any) -> None:
        calls.append(("first", metadata))
        called.set()

    async def second(metadata: Any) -> None:  # pragma: no cover - must never run
        calls.append(("second", metadata))

    async with open_factory("localhost", config={"splitFile": str(path)}) as factory:
        client = factory.client()
        await client.on(SdkEvent.SDK_READY, first)
        caplog.clear()
        await client.on(SdkEvent.SDK_READY, second)
        with anyio.fail_after(5):
            await called.wait()
    assert calls == [("first", None)]
    ignored = [r for r in caplog.records if "already registered" in r.getMessage()]
    assert len(ignored) == 1 and "SDK_READY" in ignored[0].getMessage()


async def test_listener_sees_every_impression_with_labels(tmp_path: Path) -> None:
    """The listener is called in localhost mode too (official: never), with labels and data."""
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("on", 100),))])
    listener = Listener()
    config = {"splitFile": str(path), "impressionListener": listener}
    async with open_factory("localhost", config=config) as factory:
        client = factory.client()
        options = EvaluationOptions(properties={"plan": "pro"})
        await client.get_treatment(Key("alice", "bucket-1"), "f", {"a": 1}, options)
        await client.get_treatments("bob", ["f", "missing"])
    assert len(listener.data) == 2
    first = listener.data[0]
    impression = first["impression"]
    assert (impression.matching_key, impression.bucketing_key) == ("alice", "bucket-1")
    assert (impression.feature_name, impression.treatment) == ("f", "on")
    assert impression.label == "default rule" and impression.change_number == 10
    assert json.loads(impression.properties) == {"plan": "pro"}
    assert first["attributes"] == {"a": 1}
    assert first["sdk-language-version"].startswith("python-")
    assert listener.data[1]["impression"].matching_key == "bob"


async def test_labels_disabled_hide_labels(tmp_path: Path) -> None:
    """``labelsEnabled: False`` sends impressions without labels."""
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f")])
    listener = Listener()
    config = {"splitFile": str(path), "impressionListener": listener, "labelsEnabled": False}
    async with open_factory("localhost", config=config) as factory:
        await factory.client().get_treatment("k", "f")
    assert listener.data[0]["impression"].label is None


async def test_async_and_failing_listeners_never_affect_evaluation(tmp_path: Path) -> None:
    """An ``async def`` listener is awaited by the listener actor; a raising one is contained."""
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("on", 100),))])
    seen = anyio.Event()

    class AsyncListener:
        async def log_impression(self, data: dict[str, Any]) -> None:
            seen.set()

    class Raising:
        def log_impression(self, data: dict[str, Any]) -> None:
            raise RuntimeError("listener bug")

    async with open_factory("localhost", config={
        "splitFile": str(path), "impressionListener": AsyncListener()
    }) as factory:
        assert await factory.client().get_treatment("k", "f") == "on"
        with anyio.fail_after(5):
            await seen.wait()
    async with open_factory("localhost", config={
        "splitFile": str(path), "impressionListener": Raising()
    }) as factory:
        assert await factory.client().get_treatment("k", "f") == "on"


async def test_get_factory_async_lifecycle(tmp_path: Path) -> None:
    """The compatibility form: ready at once in localhost mode, and destroy is idempotent."""
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("on", 100),))])
    factory = await get_factory_async("localhost", config={"splitFile": str(path)})
    assert factory is not None
    await factory.block_until_ready(5)
    assert factory.ready and not factory.destroyed
    client = factory.client()
    assert await client.get_treatment("k", "f") == "on"
    await factory.destroy()
    await factory.destroy()
    assert factory.destroyed and not factory.ready
    assert await client.get_treatment("k", "f") == "control"
    assert await client.track("k", "user", "click") is False
    assert await factory.manager().split_names() == []


async def test_block_until_ready_times_out(caplog: pytest.LogCaptureFixture) -> None:
    """A factory that never gets its data raises TimeoutException with the official message."""
    factory = build_factory("localhost", {}, {})
    assert factory is not None
    with pytest.raises(TimeoutException, match="SDK Initialization: time of 0 exceeded"):
        await factory.block_until_ready(0.05)
    assert "Exception initializing SDK" in caplog.text


async def test_invalid_sdk_key_gives_none(caplog: pytest.LogCaptureFixture) -> None:
    """A null or empty SDK key is logged and the factory is None, as the official SDK does."""
    assert await get_factory_async(None) is None
    assert await get_factory_async("  ") is None
    assert "you passed a null sdk_key" in caplog.text
    assert "you passed an empty sdk_key" in caplog.text


async def test_second_factory_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two live factories with the same key log the official singleton warning."""
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f")])
    config = {"splitFile": str(path)}
    async with open_factory("localhost", config=config), open_factory("localhost", config=config):
        pass
    assert "You already have 1 factory with this SDK Key" in caplog.text


async def test_flag_sets(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Evaluation by flag set covers the set's flags; unknown sets are logged and ignored."""
    flags = [
        rollout_flag("a", (("on", 100),), sets=["frontend"]),
        rollout_flag("b", (("on", 100),), sets=["frontend", "backend"]),
        rollout_flag("c", (("on", 100),), sets=["backend"]),
    ]
    path = write_split_changes(tmp_path / "flags.json", flags)
    async with open_factory("localhost", config={"splitFile": str(path)}) as factory:
        client = factory.client()
        assert await client.get_treatments_by_flag_set("k", "frontend") == {"a": "on", "b": "on"}
        assert await client.get_treatments_by_flag_sets("k", ["backend", "nope"]) == {
            "b": "on", "c": "on",
        }
        assert await client.get_treatments_with_config_by_flag_set("k", "Backend") == {
            "b": ("on", None), "c": ("on", None),
        }
        assert await client.get_treatments_by_flag_sets("k", "frontend") == {}
    assert "Flag set nope is not part of the configured flag set list" in caplog.text
    assert "should be all lowercase" in caplog.text
    assert "flag sets parameter type should be list object" in caplog.text


async def test_destroy_flushes_queued_impressions(tmp_path: Path) -> None:
    """Nothing queued is lost on a clean destroy: every impression reaches the recorder."""
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f")])
    config = {"splitFile": str(path), "impressionsMode": "DEBUG", "impressionsRefreshRate": 3600}
    async with open_factory("localhost", config=config) as factory:
        client = factory.client()
        for i in range(300):
            await client.get_treatment(f"user-{i}", "f")
            await client.track(f"user-{i}", "user", "click")
    counts = factory.delivery_counts()
    assert counts["impressions_delivered"] == 300
    assert counts["events_delivered"] == 300
    assert counts["impressions_lost"] == counts["events_lost"] == 0


async def test_listener_in_a_worker_thread_never_blocks_evaluation(tmp_path: Path) -> None:
    """``impressionListenerDelivery: "worker"``: a hanging listener holds up nothing."""
    import threading  # noqa: PLC0415

    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f", (("on", 100),))])
    release = threading.Event()
    called = threading.Event()
    seen: list[str] = []

    class Hanging:
        def log_impression(self, data: dict[str, Any]) -> None:
            seen.append(data["impression"].feature_name)
            called.set()
            release.wait(10)

    config = {"splitFile": str(path), "impressionListener": Hanging(),
              "impressionListenerDelivery": "worker"}
    async with open_factory("localhost", config=config) as factory:
        client = factory.client()
        with anyio.fail_after(2):
            for _ in range(5):
                assert await client.get_treatment("k", "f") == "on"
        assert await anyio.to_thread.run_sync(called.wait, 5)
        release.set()
    assert seen and seen[0] == "f"


async def test_block_until_ready_after_destroy(tmp_path: Path) -> None:
    """A factory that was ready stays ready for ``block_until_ready`` after ``destroy()``
    (official); one destroyed before it was ready raises TimeoutException at once."""
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f")])
    factory = await get_factory_async("localhost", config={"splitFile": str(path)})
    assert factory is not None
    await factory.block_until_ready(5)
    await factory.destroy()
    await factory.block_until_ready(5)

    never = await get_factory_async("SDK-KEY-0001", config={"streamingEnabled": False},
                                    sdk_api_base_url="http://127.0.0.1:9")
    assert never is not None
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            async def destroy_soon() -> None:
                await anyio.wait_all_tasks_blocked()
                await never.destroy()

            tg.start_soon(destroy_soon)
            with pytest.raises(TimeoutException, match="destroyed before it was ready"):
                await never.block_until_ready(60)  # woken by the destroy, not the timeout
