"""The blocking shim: same behaviour as the async API, evaluations in the caller's thread, on a
portal thread running asyncio or trio."""

from __future__ import annotations

import inspect
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest

import splitio_async
import splitio_sync_shim
from splitio_async import Client as AsyncClient
from splitio_async.manager import Manager as AsyncManager
from splitio_sync_shim import Key, SdkEvent, TimeoutException, get_factory
from splitio_sync_shim.client import Client as SyncClient
from splitio_sync_shim.manager import Manager as SyncManager
from tests.helpers import rollout_flag, write_split_changes

BACKENDS = ["asyncio", "trio"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def _flags(tmp_path: Path) -> str:
    flags = [rollout_flag("f", (("on", 100),)), rollout_flag("g", (("off", 100),), sets=["s"])]
    return str(write_split_changes(tmp_path / "flags.json", flags))


def test_evaluations_run_in_the_callers_thread(tmp_path: Path, backend: str) -> None:
    """The listener (called inline) runs in the thread that evaluates, not the portal thread."""
    threads: list[int] = []

    class Listener:
        def log_impression(self, data: dict[str, Any]) -> None:
            threads.append(threading.get_ident())

    factory = get_factory("localhost", config={
        "splitFile": _flags(tmp_path), "impressionListener": Listener(),
    }, async_backend=backend)
    assert factory is not None
    factory.block_until_ready(5)
    client = factory.client()
    assert client.get_treatment("k", "f") == "on"
    assert client.get_treatment_with_config(Key("k", "b"), "f") == ("on", None)
    assert client.get_treatments("k", ["f", "g"]) == {"f": "on", "g": "off"}
    assert client.get_treatments_with_config("k", ["f"]) == {"f": ("on", None)}
    assert client.get_treatments_by_flag_set("k", "s") == {"g": "off"}
    assert client.get_treatments_by_flag_sets("k", ["s"]) == {"g": "off"}
    assert client.get_treatments_with_config_by_flag_set("k", "s") == {"g": ("off", None)}
    assert client.get_treatments_with_config_by_flag_sets("k", ["s"]) == {"g": ("off", None)}
    assert client.track("k", "user", "click", 1.5, {"a": 1}) is True
    assert threads and set(threads) == {threading.get_ident()}
    manager = factory.manager()
    assert sorted(manager.split_names()) == ["f", "g"]
    view = manager.split("f")
    assert view is not None and view.treatments == ["on"]
    assert len(manager.splits()) == 2
    factory.destroy()
    assert factory.destroyed
    assert client.get_treatment("k", "f") == "control"


def test_one_portal_thread_and_none_left_after_destroy(tmp_path: Path, backend: str) -> None:
    """The shim starts exactly one thread of its own and leaves none behind."""
    before = {t for t in threading.enumerate() if t.name == "splitio-portal"}
    factory = get_factory("localhost", config={"splitFile": _flags(tmp_path)},
                          async_backend=backend)
    assert factory is not None
    portals = {t for t in threading.enumerate() if t.name == "splitio-portal"} - before
    assert len(portals) == 1
    factory.destroy()
    (portal,) = portals
    portal.join(5)
    assert not portal.is_alive()


def test_destroy_with_event_sets_it_after_the_flush(tmp_path: Path, backend: str) -> None:
    """``destroy(event)`` returns at once and sets the event once everything was flushed."""
    factory = get_factory("localhost", config={
        "splitFile": _flags(tmp_path), "impressionsMode": "DEBUG",
    }, async_backend=backend)
    assert factory is not None
    client = factory.client()
    for i in range(100):
        client.get_treatment(f"user-{i}", "f")
    done = threading.Event()
    factory.destroy(done)
    assert done.wait(5)
    assert factory.delivery_counts()["impressions_delivered"] == 100


def test_bad_file_raises_from_get_factory(tmp_path: Path, backend: str) -> None:
    """Start-up errors come out of ``get_factory`` and leave no thread running."""
    path = tmp_path / "bad.yaml"
    path.write_text("- f: [oops")
    with pytest.raises(splitio_async.LocalhostFileError):
        get_factory("localhost", config={"splitFile": str(path)}, async_backend=backend)
    assert not [t for t in threading.enumerate() if t.name == "splitio-portal"]


def test_sdk_ready_callback_runs_in_a_worker_thread(tmp_path: Path, backend: str) -> None:
    """A plain callback registered through the shim is called with None for SDK_READY."""
    factory = get_factory("localhost", config={"splitFile": _flags(tmp_path)},
                          async_backend=backend)
    assert factory is not None
    called = threading.Event()
    seen: list[Any] = []

    def on_ready(metadata: Any) -> None:
        seen.append(metadata)
        called.set()

    factory.client().on(SdkEvent.SDK_READY, on_ready)
    assert called.wait(5)
    assert seen == [None]
    factory.destroy()


def test_invalid_key_gives_none() -> None:
    assert get_factory("") is None


def test_timeout_exception_is_the_async_one() -> None:
    assert TimeoutException is splitio_async.TimeoutException


@pytest.mark.parametrize(
    ("sync_cls", "async_cls"), [(SyncClient, AsyncClient), (SyncManager, AsyncManager)]
)
def test_shim_surface_matches_the_async_api(sync_cls: type, async_cls: type) -> None:
    """Every public async method exists in the shim with the same parameters, and is plain."""
    async_methods = {
        name: member for name, member in inspect.getmembers(async_cls, inspect.isfunction)
        if not name.startswith("_")
    }
    for name, member in async_methods.items():
        mirror = getattr(sync_cls, name, None)
        assert mirror is not None, f"shim {sync_cls.__name__} lacks {name}"
        assert not inspect.iscoroutinefunction(mirror)
        assert inspect.signature(mirror).parameters.keys() == (
            inspect.signature(member).parameters.keys()
        ), name


def test_shim_exports() -> None:
    for name in ("get_factory", "Key", "TimeoutException", "EvaluationOptions"):
        assert name in splitio_sync_shim.__all__


# What the async factory has and the blocking one deliberately does not: ``changes()`` needs an
# event loop. (The hosting machinery the shim drives is not public: ``lowlevel.internals``.)
ASYNC_ONLY = {"changes"}


def test_the_blocking_factory_has_the_async_factorys_public_attributes(
    tmp_path: Path, backend: str
) -> None:
    factory = get_factory("localhost", config={"splitFile": _flags(tmp_path)},
                          async_backend=backend)
    assert factory is not None
    try:
        hosted = factory.async_factory
        public = {n for n in dir(hosted) if not n.startswith("_")} - ASYNC_ONLY
        missing = {n for n in public if not hasattr(factory, n)}
        assert not missing
        factory.block_until_ready(5)
        assert (factory.last_error, factory.bootstrapped_from) == (None, None)
        assert (factory.last_error, factory.bootstrapped_from) == (
            hosted.last_error, hosted.bootstrapped_from
        )
    finally:
        factory.destroy()


def test_block_until_ready_after_destroy(tmp_path: Path, backend: str) -> None:
    """Official: a factory that was ready stays so for ``block_until_ready``; one destroyed
    before it was ready can never be, so it raises TimeoutException at once (not the portal's
    RuntimeError, and without waiting for the timeout)."""
    factory = get_factory("localhost", config={"splitFile": _flags(tmp_path)},
                          async_backend=backend)
    assert factory is not None
    factory.block_until_ready(5)
    factory.destroy()
    factory.block_until_ready(5)  # returns

    never = get_factory("SDK-KEY-0001", config={"streamingEnabled": False},
                        sdk_api_base_url="http://127.0.0.1:9", async_backend=backend)
    assert never is not None
    never.destroy()
    with pytest.raises(TimeoutException, match="destroyed before it was ready"):
        never.block_until_ready(60)


def test_a_start_up_error_shows_the_sdks_message_not_its_internals(
    tmp_path: Path, backend: str
) -> None:
    """A malformed file's traceback stops at the SDK's entry point: no YAML, anyio or portal
    frames, no chained exception, and the message says what is wrong where."""
    path = tmp_path / "bad.yaml"
    path.write_text("a: [\n  - b: c\n")
    with pytest.raises(splitio_async.LocalhostFileError) as caught:
        get_factory("localhost", config={"splitFile": str(path)}, async_backend=backend)
    frames = [frame.filename for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert all(f == __file__ or f.endswith("splitio_sync_shim/factory.py") for f in frames)
    assert caught.value.__suppress_context__
    assert "invalid YAML at line 2" in str(caught.value)


def test_the_official_exceptions_module_has_its_names() -> None:
    """``from splitio.exceptions import TimeoutException`` migrates by the package name."""
    from splitio_async import exceptions as async_exceptions  # noqa: PLC0415
    from splitio_sync_shim import exceptions  # noqa: PLC0415

    for module in (exceptions, async_exceptions):
        assert module.TimeoutException is splitio_async.TimeoutException
        assert module.SentinelConfigurationException is (
            splitio_async.SentinelConfigurationException
        )
