"""Pieces shared by the legacy ``.split`` and YAML parsers.

Neither format carries a real flag definition, only "flag -> treatment (for these keys)". Both are
turned into ordinary Split API flag dicts here so that the rest of the SDK (model, engine, manager)
never needs to know a flag came from a localhost file. The constants are the official SDK's, so the
manager shows the same values users see with ``splitio_client``.
"""

from __future__ import annotations

import logging
from typing import Any

LOGGER = logging.getLogger("splitio_async.localhost")
"""All localhost parsers log here: one name for users to filter on, under ``splitio_async``."""

_SYNTHESIZED_LABEL = "some_other_label"


def _key_selector() -> dict[str, Any]:
    return {"trafficType": "user", "attribute": None}


def all_keys_condition(treatment: str) -> dict[str, Any]:
    """A condition giving ``treatment`` to every key.

    It is a WHITELIST-type condition (not ROLLOUT) like the official SDK's, which means the
    evaluator skips the traffic-allocation check for it.
    """
    return {
        "conditionType": "WHITELIST",
        "matcherGroup": {
            "combiner": "AND",
            "matchers": [
                {"keySelector": _key_selector(), "matcherType": "ALL_KEYS", "negate": False},
            ],
        },
        "partitions": [{"treatment": treatment, "size": 100}],
        "label": _SYNTHESIZED_LABEL,
    }


def whitelist_condition(keys: list[str], treatment: str) -> dict[str, Any]:
    """A condition giving ``treatment`` only to the listed matching keys."""
    return {
        "conditionType": "WHITELIST",
        "matcherGroup": {
            "combiner": "AND",
            "matchers": [
                {
                    "keySelector": _key_selector(),
                    "matcherType": "WHITELIST",
                    "negate": False,
                    "whitelistMatcherData": {"whitelist": list(keys)},
                },
            ],
        },
        "partitions": [{"treatment": treatment, "size": 100}],
        "label": _SYNTHESIZED_LABEL,
    }


def synthesized_flag(
    name: str,
    conditions: list[dict[str, Any]],
    configurations: dict[str, str] | None,
) -> dict[str, Any]:
    """Wrap conditions in a flag dict whose fixed values match the official localhost SDK.

    ``defaultTreatment`` is ``control`` on purpose: a YAML flag with only keyed entries answers
    ``control`` for other keys, as the official SDK does.
    """
    return {
        "name": name,
        "changeNumber": 123,
        "trafficTypeName": "user",
        "trafficAllocation": 100,
        "trafficAllocationSeed": 123456,
        "seed": 321654,
        "status": "ACTIVE",
        "killed": False,
        "defaultTreatment": "control",
        "algo": 2,
        "conditions": conditions,
        "configurations": configurations,
        "prerequisites": [],
        "sets": [],
    }
