"""Shared pieces of the Redis consumer-mode end-to-end tests (issue #6): one data set written to
Redis the way the Split Synchronizer does and to localhost-mode files, what each factory is
configured with, and server-side observations (round trips, command counts, recorded values).

Round trips are counted on the server: ``INFO stats`` ``total_reads_processed`` grows by one for
each read event, and redis-py sends a whole pipeline in one write, so on loopback one batch of
the SDK is one read event (checked against the exact commands in ``INFO commandstats``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import redis

from splitio_async import open_factory
from splitio_async._version import SDK_WIRE_VERSION
from tests.helpers import rollout_flag, segment_flag, write_segment, write_split_changes
from tests.redis_cache import key_of, write_cache
from tests.redis_servers import RedisServer
from tests.unit.builders import (
    all_keys,
    condition,
    depends_on,
    flag_json,
    in_rbs,
    in_segment,
    rbs_json,
    whitelist,
)

T = TypeVar("T")

VERSION = SDK_WIRE_VERSION
MACHINE_NAME = "consumer-box"
MACHINE_IP = "10.1.2.3"
FIELD_PREFIX = f"{VERSION}/{MACHINE_NAME}/{MACHINE_IP}"
TTL = 3600
HOUR_MS = 3_600_000

# Every test factory: recorders flush only on destroy (so a test reads Redis after the factory
# closed), a short destroy deadline, quick retries, fixed machine identity.
BASE_CONFIG: dict[str, Any] = {
    "machineName": MACHINE_NAME,
    "machineIp": MACHINE_IP,
    "destroyTimeout": 5,
    "syncRetryBackoffBase": 0.2,  # first wait for Redis at start: 0.2 / 20 = 10 ms
    "syncRetryBackoffMax": 0.5,
    "impressionsRefreshRate": 600,
    "eventsPushRate": 600,
}

KEYS = ["alice", "bob", "carol", "dave", "erin", "vip_1", "vip_2", "beta_1", "excluded_user",
        *(f"user_{i}" for i in range(40))]
BETA = ["beta_1", "carol", *(f"user_{i}" for i in range(0, 40, 3))]
VIP = ["vip_1", "vip_2", "excluded_user", *(f"user_{i}" for i in range(0, 40, 5))]


def data_set() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, list[str]]]:
    """Flags covering what consumer mode reads: rollouts with configurations and flag sets, a
    segment flag, a rule-based segment (conditions on a segment, an excluded key), a dependency,
    a prerequisite, a killed flag, a whitelist, another traffic type."""
    flags = [
        rollout_flag(
            "plain", (("on", 50), ("off", 50)), sets=["front", "shared"], changeNumber=101,
            configurations={"on": '{"color": "red"}', "off": '{"color": "blue"}'},
        ),
        segment_flag("beta_feature", "beta", "in_beta") | {"sets": ["back"], "changeNumber": 102},
        flag_json("rbs_feature", [
            condition([in_rbs("vip_rules")], [("vip", 100)], "in rule-based segment"),
            condition([all_keys()], [("regular", 100)]),
        ], defaultTreatment="regular", changeNumber=103, sets=["back", "shared"]),
        flag_json("dependent", [
            condition([depends_on("plain", "on")], [("follows_on", 100)], "plain is on"),
            condition([all_keys()], [("other", 100)]),
        ], defaultTreatment="other", changeNumber=104),
        flag_json("gated", [condition([all_keys()], [("open", 100)])],
                  prerequisites=[{"n": "beta_feature", "ts": ["in_beta"]}],
                  defaultTreatment="closed", changeNumber=105),
        rollout_flag("killed", (("on", 100),), killed=True, defaultTreatment="dead",
                     changeNumber=106),
        flag_json("listed", [
            condition([whitelist("alice", "bob")], [("listed", 100)], "whitelisted"),
            condition([in_segment("vip")], [("vip_listed", 100)], "vip"),
            condition([all_keys()], [("unlisted", 100)]),
        ], changeNumber=107),
        rollout_flag("account_flag", (("a", 30), ("b", 70)), trafficTypeName="account",
                     sets=["front"], changeNumber=108, seed=98765),
    ]
    rbs = [rbs_json("vip_rules", [condition([in_segment("vip")], None, None, None)],
                    excluded_keys=["excluded_user"])]
    return flags, rbs, {"beta": BETA, "vip": VIP}


FLAG_NAMES = [flag["name"] for flag in data_set()[0]]


def write_data(client: Any, prefix: str | None = None) -> None:
    flags, rbs, segments = data_set()
    write_cache(client, flags, segments, rbs, prefix=prefix, till=200)


def write_localhost_files(directory: Path) -> Path:
    flags, rbs, segments = data_set()
    path = write_split_changes(directory / "flags.json", flags, rbs, till=200)
    for name, keys in segments.items():
        write_segment(directory, name, keys)
    return path


async def localhost_answers(
    directory: Path, keys: Iterable[str] = KEYS
) -> dict[str, dict[str, tuple[str, str | None]]]:
    """What localhost mode answers for the same definitions: key -> flag -> (treatment, config)."""
    split_file = write_localhost_files(directory)
    answers = {}
    async with open_factory("localhost", {
        "splitFile": str(split_file), "segmentDirectory": str(directory),
    }) as local:
        await local.block_until_ready(5)
        client = local.client()
        for key in keys:
            answers[key] = await client.get_treatments_with_config(key, FLAG_NAMES)
    return answers


def standalone_config(server: RedisServer, **extra: Any) -> dict[str, Any]:
    return {**BASE_CONFIG, "redisHost": server.host, "redisPort": server.port, **extra}


# ------------------------------------------------------------------------------ observing


class Observer:
    """Server-side counts over one persistent connection (its own INFO calls are one read
    event each, subtracted)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def snapshot(self) -> tuple[int, dict[str, int]]:
        stats = self.client.info("stats")
        commands = {
            name.removeprefix("cmdstat_"): int(values["calls"])
            for name, values in self.client.info("commandstats").items()
        }
        return int(stats["total_reads_processed"]), commands

    def delta(
        self, before: tuple[int, dict[str, int]]
    ) -> tuple[int, dict[str, int]]:
        """(round trips, calls per command) since ``before``, without this observer's own."""
        reads, commands = self.snapshot()
        changed = {
            name: count - before[1].get(name, 0)
            for name, count in commands.items() if count != before[1].get(name, 0)
        }
        changed["info"] = changed.get("info", 0) - 2  # the snapshot's two INFO calls
        if not changed["info"]:
            del changed["info"]
        return reads - before[0] - 2, changed


def poll(probe: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll a cross-process condition (blocking; for sync tests and worker threads)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


async def apoll(probe: Callable[[], T | None], within: float = 10.0, what: str = "condition") -> T:
    """``poll`` from async code: each probe runs in a worker thread (it talks to Redis)."""
    try:
        with anyio.fail_after(within):
            while True:
                result = await anyio.to_thread.run_sync(probe)
                if result is not None and result is not False:
                    return result
                await anyio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def treatment_becomes(
    client: Any, key: str, flag: str, expected: str, within: float = 5.0
) -> None:
    """Poll ``get_treatment`` until it answers ``expected`` (a cross-process change: Redis
    coming back, a cache expiring); fails after ``within`` seconds."""
    with anyio.fail_after(within):
        while await client.get_treatment(key, flag) != expected:  # noqa: ASYNC110
            await anyio.sleep(0.02)


def init_written(client: Any, prefix: str | None = None) -> bool:
    return bool(client.hlen(key_of(prefix, "SPLITIO.telemetry.init")))


def recorded(client: Any, key: str, prefix: str | None = None) -> list[dict[str, Any]]:
    return [json.loads(v) for v in client.lrange(key_of(prefix, key), 0, -1)]


def hour_of(ms: int) -> int:
    return ms - ms % HOUR_MS


class Listener:
    """An impression listener keeping (key, flag, treatment, label)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str | None]] = []

    def log_impression(self, data: dict[str, Any]) -> None:
        imp = data["impression"]
        self.seen.append((imp.matching_key, imp.feature_name, imp.treatment, imp.label))
