"""Hostile files, on asyncio and trio (and the shim where the factory is built): localhost flag
and segment files that nest past any stack, hold 5,000-digit integers or YAML alias bombs; FIFOs
and devices in place of files; files past ``maxFileBytes``; a bootstrap snapshot nested too deep.

A bad file at start is a ``LocalhostFileError`` naming the file (raised at once, never a hang);
a bad reload keeps the last good data, is logged once, shows in ``status().last_errors`` and
clears when the file is fixed; a bad bootstrap snapshot is logged and ignored.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from splitio_async import LocalhostFileError, get_factory_async, open_factory
from splitio_sync_shim import get_factory
from tests.fakes.split_server import FakeSplitServer
from tests.helpers import rollout_flag, segment_flag, until, write_segment, write_split_changes

pytestmark = pytest.mark.anyio

DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "9" * 5000
BAD_JSON = {
    "nested 100,000 deep": DEEP,
    "nested 200 deep inside a flag": json.dumps(
        {"ff": {"d": [{**rollout_flag("f"), "extra": json.loads("[" * 200 + "]" * 200)}],
                "t": 20}}),
    "a 5,000-digit integer": '{"ff": {"d": [], "t": ' + HUGE_INT + "}}",
    "NaN": '{"ff": {"d": [], "t": NaN}}',
}
ALIAS_BOMB = "- x: &k [" + ",".join(f"k{i}" for i in range(2000)) + "]\n" + "".join(
    f"- f{i}: {{treatment: 'on', keys: *k}}\n" for i in range(2000)
)
BAD_YAML = {
    "2,000 aliases of a 2,000-key list": ALIAS_BOMB,
    "nested 2,000 deep": "[" * 2000 + "]" * 2000,  # past the recursion limit
    "a 5,000-digit integer": f"- f: {{treatment: {HUGE_INT}}}\n",
    "an alias loop": "- &a [*a]\n",
}


def refreshing(path: Path, **extra: Any) -> dict[str, Any]:
    return {"splitFile": str(path), "segmentDirectory": str(path.parent),
            "localhostRefreshEnabled": True, "featuresRefreshRate": 0.01,
            "segmentsRefreshRate": 0.01, **extra}


def replace_file(path: Path, text: str) -> None:
    """Write a file the way a deploy should (rename): the SDK never reads half of it."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)


def lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for r in caplog.records
               if r.levelno >= logging.WARNING and text in r.getMessage())


async def bad_reload_keeps_the_last_good_data(
    path: Path, good: str, bad: str, fixed: str, caplog: pytest.LogCaptureFixture,
    key: str = "k", flag: str = "f",
) -> None:
    """Serve ``good``; write ``bad``: still served, logged once, in status; write ``fixed``:
    served, status clear."""
    replace_file(path, good)
    async with open_factory("localhost", config=refreshing(path)) as factory:
        client = factory.client()
        first = await client.get_treatment(key, flag)
        assert first != "control"
        replace_file(path, bad)
        await until(lambda: "localhost" in factory.status().last_errors)
        problem = factory.status().last_errors["localhost"]
        assert str(path.name) in problem
        await anyio.sleep(0.1)  # ten more reloads of the bad file
        assert await client.get_treatment(key, flag) == first
        assert not factory.destroyed and factory.ready
        assert lines(caplog, problem) == 1
        assert not [r for r in caplog.records if r.exc_info]  # data, not a bug: no traceback
        replace_file(path, fixed)
        await until(lambda: "localhost" not in factory.status().last_errors)
        assert await client.get_treatment(key, flag) == "fixed"


def flags_json(treatment: str, till: int) -> str:
    return json.dumps({"ff": {"d": [rollout_flag("f", ((treatment, 100),), changeNumber=till)],
                              "s": -1, "t": till}})


@pytest.mark.parametrize("bad", list(BAD_JSON))
async def test_a_bad_json_reload_keeps_the_last_good_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bad: str
) -> None:
    await bad_reload_keeps_the_last_good_data(
        tmp_path / "flags.json", flags_json("good", 10), BAD_JSON[bad], flags_json("fixed", 30),
        caplog,
    )


@pytest.mark.parametrize("bad", list(BAD_YAML))
async def test_a_bad_yaml_reload_keeps_the_last_good_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bad: str
) -> None:
    await bad_reload_keeps_the_last_good_data(
        tmp_path / "flags.yaml", "- f: {treatment: 'good'}\n", BAD_YAML[bad],
        "- f: {treatment: 'fixed'}\n", caplog,
    )


async def test_a_bad_segment_file_keeps_the_last_good_members(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_split_changes(tmp_path / "flags.json", [segment_flag("f", "s", "fixed")])
    write_segment(tmp_path, "s", ["k"])
    async with open_factory("localhost", config=refreshing(path)) as factory:
        client = factory.client()
        assert await client.get_treatment("k", "f") == "fixed"
        replace_file(tmp_path / "s.json", '{"name": "s", "added": ' + DEEP + "}")
        await until(lambda: "localhost" in factory.status().last_errors)
        assert "jsonMaxDepth" in factory.status().last_errors["localhost"]
        assert await client.get_treatment("k", "f") == "fixed"
        write_segment(tmp_path, "s", ["k", "k2"], till=6)
        await until(lambda: "localhost" not in factory.status().last_errors)
        assert await client.get_treatment("k2", "f") == "fixed"


@pytest.mark.parametrize("bad", ["nested 100,000 deep", "a 5,000-digit integer"])
async def test_a_bad_file_at_start_is_a_localhost_file_error(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "flags.json"
    replace_file(path, BAD_JSON[bad])
    with anyio.fail_after(5), pytest.raises(LocalhostFileError, match=r"flags\.json"):
        await get_factory_async("localhost", config={"splitFile": str(path)})


def special_files(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    device = tmp_path / "device.yaml"
    device.symlink_to("/dev/zero")
    return {"a FIFO": fifo, "/dev/zero": device, "a directory": tmp_path}


@pytest.mark.parametrize("kind", ["a FIFO", "/dev/zero", "a directory"])
async def test_fifos_and_devices_are_refused_at_once(tmp_path: Path, kind: str) -> None:
    """A FIFO would block the reading thread for good (uncancellable), /dev/zero never ends."""
    path = special_files(tmp_path)[kind]
    with anyio.fail_after(5), pytest.raises(LocalhostFileError, match="not a regular file"):
        await get_factory_async("localhost", config={"splitFile": str(path)})


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("kind", ["a FIFO", "/dev/zero"])
def test_the_shim_refuses_fifos_and_devices_at_once(
    tmp_path: Path, backend: str, kind: str
) -> None:
    path = special_files(tmp_path)[kind]
    with pytest.raises(LocalhostFileError, match="not a regular file"):
        get_factory("localhost", config={"splitFile": str(path)}, async_backend=backend)


async def test_a_file_past_max_file_bytes_is_refused(tmp_path: Path) -> None:
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag(f"f{i}") for i in range(3)])
    with pytest.raises(LocalhostFileError, match="maxFileBytes"):
        await get_factory_async("localhost", config={"splitFile": str(path),
                                                     "maxFileBytes": 1024})
    async with open_factory("localhost", config={"splitFile": str(path),
                                                 "maxFileBytes": 1024 * 1024}) as factory:
        assert await factory.client().get_treatment("k", "f1") != "control"


async def test_an_unusable_bootstrap_file_is_logged_and_ignored(
    server: FakeSplitServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A snapshot nested past the stack, or a FIFO, never makes the factory fail (or hang)."""
    server.set_flags([rollout_flag("f", (("live", 100),))])
    deep = tmp_path / "deep.json"
    replace_file(deep, '{"ff": {"d": ' + DEEP + "}}")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for snapshot in (deep, fifo):
        config = {"streamingEnabled": False, "bootstrapFile": str(snapshot),
                  "machineIp": "127.0.0.1", "machineName": "t"}
        with anyio.fail_after(5):
            async with open_factory("SDK-KEY-0001", config, **server.url_kwargs()) as factory:
                await factory.block_until_ready(5)
                assert factory.bootstrapped_from is None
                assert await factory.client().get_treatment("k", "f") == "live"
    assert lines(caplog, "jsonMaxDepth") == 1
    assert lines(caplog, "not a regular file") == 1
