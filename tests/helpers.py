"""Builders of Split API JSON for tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from splitio_async import SplitFactory


def rollout_flag(
    name: str,
    treatments: tuple[tuple[str, int], ...] = (("on", 50), ("off", 50)),
    **fields: Any,
) -> dict[str, Any]:
    """A flag in Split API JSON: one ROLLOUT condition over everybody, murmur3 hashing."""
    flag: dict[str, Any] = {
        "name": name,
        "trafficTypeName": "user",
        "seed": 1234,
        "trafficAllocation": 100,
        "trafficAllocationSeed": 4321,
        "status": "ACTIVE",
        "killed": False,
        "defaultTreatment": "off",
        "changeNumber": 10,
        "algo": 2,
        "conditions": [
            {
                "conditionType": "ROLLOUT",
                "matcherGroup": {
                    "combiner": "AND",
                    "matchers": [
                        {
                            "keySelector": {"trafficType": "user", "attribute": None},
                            "matcherType": "ALL_KEYS",
                            "negate": False,
                        }
                    ],
                },
                "partitions": [{"treatment": t, "size": s} for t, s in treatments],
                "label": "default rule",
            }
        ],
    }
    flag.update(fields)
    return flag


def write_split_changes(
    path: Path, flags: list[dict[str, Any]], rbs: list[dict[str, Any]] | None = None,
    till: int = 10, rbs_till: int = -1,
) -> Path:
    path.write_text(json.dumps({
        "ff": {"d": flags, "s": -1, "t": till},
        "rbs": {"d": rbs or [], "s": -1, "t": rbs_till},
    }))
    return path


def write_segment(directory: Path, name: str, keys: list[str], till: int = 5) -> None:
    (directory / f"{name}.json").write_text(json.dumps(
        {"name": name, "added": keys, "removed": [], "since": -1, "till": till}
    ))


def segment_flag(name: str, segment: str, treatment: str = "in") -> dict[str, Any]:
    """Members of ``segment`` get ``treatment`` (an IN_SEGMENT ROLLOUT condition); the others
    get the default treatment "off"."""
    flag = rollout_flag(name, ((treatment, 100),))
    flag["conditions"][0]["matcherGroup"]["matchers"][0] = {
        "keySelector": {"trafficType": "user", "attribute": None},
        "matcherType": "IN_SEGMENT", "negate": False,
        "userDefinedSegmentMatcherData": {"segmentName": segment},
    }
    flag["conditions"][0]["label"] = f"in segment {segment}"
    return flag


def in_rbs_flag(name: str, rbs: str) -> dict[str, Any]:
    """Keys in the rule-based segment ``rbs`` get "member"; the others the default "off"."""
    flag = rollout_flag(name, (("member", 100),))
    flag["conditions"][0]["matcherGroup"]["matchers"][0] = {
        "keySelector": {"trafficType": "user", "attribute": None},
        "matcherType": "IN_RULE_BASED_SEGMENT", "negate": False,
        "userDefinedSegmentMatcherData": {"segmentName": rbs},
    }
    return flag


def staff_rbs(*keys: str) -> dict[str, Any]:
    """A rule-based segment "staff" holding exactly ``keys`` (a WHITELIST condition)."""
    return {
        "name": "staff", "trafficTypeName": "user", "changeNumber": 1, "status": "ACTIVE",
        "excluded": {"keys": [], "segments": []},
        "conditions": [{"matcherGroup": {"combiner": "AND", "matchers": [{
            "keySelector": {"trafficType": "user", "attribute": None},
            "matcherType": "WHITELIST", "negate": False,
            "whitelistMatcherData": {"whitelist": list(keys)},
        }]}}],
    }


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll an SDK-side condition with a tiny sleep (bounded): the SDK has no event for it."""
    with anyio.fail_after(within):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.005)


async def treatment_becomes(
    factory: SplitFactory, key: str, flag: str, expected: str, within: float = 2.0,
    attributes: dict[str, Any] | None = None,
) -> float:
    """Poll ``get_treatment`` until it answers ``expected``; returns the seconds it took."""
    client = factory.client()
    started = time.monotonic()
    with anyio.fail_after(within):
        while await client.get_treatment(key, flag, attributes) != expected:  # noqa: ASYNC110
            await anyio.sleep(0.002)
    return time.monotonic() - started
