"""Input validation through the public client methods: bad input gives control / False / {} and
the official log line, never an exception (spec: client-api.md §4-§6, recording.md §2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from splitio_async import (
    Client,
    EvaluationOptions,
    FallbackTreatment,
    FallbackTreatmentsConfiguration,
    Key,
    open_factory,
)
from tests.helpers import rollout_flag, write_split_changes

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    path = write_split_changes(tmp_path / "flags.json", [
        rollout_flag("f", (("on", 100),)), rollout_flag("g", (("off", 100),)),
    ])
    async with open_factory("localhost", config={"splitFile": str(path)}) as factory:
        yield factory.client()


SINGLE = ["get_treatment", "get_treatment_with_config"]
MANY = ["get_treatments", "get_treatments_with_config"]


def _control(method: str) -> Any:
    return ("control", None) if method.endswith("with_config") else "control"


@pytest.mark.parametrize("method", SINGLE)
@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "you passed a null key, key must be a non-empty string."),
        ("", "you passed an empty key, key must be a non-empty string."),
        ("   ", "you passed an empty key, key must be a non-empty string."),
        (True, "you passed an invalid key, key must be a non-empty string."),
        ([1], "you passed an invalid key, key must be a non-empty string."),
        (float("nan"), "you passed an invalid key, key must be a non-empty string."),
        ("x" * 251, "key too long - must be 250 characters or less."),
        (Key(None, "b"), "you passed a null matching_key, matching_key must be a non-empty"),
        (Key("m", None), "you passed a null bucketing_key, bucketing_key must be a non-empty"),
        (Key("m", ""), "you passed an empty bucketing_key"),
        (Key("m", "b" * 251), "bucketing_key too long - must be 250 characters or less."),
    ],
)
async def test_invalid_keys(
    client: Client, method: str, key: Any, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert await getattr(client, method)(key, "f") == _control(method)
    assert f"{method}: {message}" in caplog.text


@pytest.mark.parametrize("method", SINGLE)
async def test_numeric_keys_are_converted(
    client: Client, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert await getattr(client, method)(12.5, "f") != _control(method)
    assert f"{method}: key 12.5 is not of type string, converting." in caplog.text


@pytest.mark.parametrize("method", SINGLE)
@pytest.mark.parametrize(
    ("name", "message"),
    [
        (None, "you passed a null feature_flag_name"),
        (5, "you passed an invalid feature_flag_name"),
        ("  ", "you passed an empty feature_flag_name"),
    ],
)
async def test_invalid_flag_names(
    client: Client, method: str, name: Any, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert await getattr(client, method)("k", name) == _control(method)
    assert f"{method}: {message}" in caplog.text


async def test_flag_name_is_trimmed(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    assert await client.get_treatment("k", " f ") == "on"
    assert "get_treatment: feature flag name ' f ' has extra whitespace, trimming." in caplog.text


async def test_unknown_flag(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    assert await client.get_treatment("k", "nope") == "control"
    assert 'get_treatment: you passed "nope" that does not exist in this environment' in (
        caplog.text
    )


@pytest.mark.parametrize("method", SINGLE + MANY)
async def test_attributes_must_be_a_dict(
    client: Client, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    flags: Any = "f" if method in SINGLE else ["f"]
    result = await getattr(client, method)("k", flags, ["not", "a", "dict"])
    expected = _control(method) if method in SINGLE else {"f": _control(method)}
    assert result == expected
    assert f"{method}: attributes must be of type dictionary." in caplog.text


@pytest.mark.parametrize("method", MANY)
async def test_flag_lists(client: Client, method: str, caplog: pytest.LogCaptureFixture) -> None:
    """Lists are de-duplicated and trimmed; bad entries are skipped; an unusable list gives {}."""
    result = await getattr(client, method)("k", ["f", " f", None, 3, "", "g"])
    assert set(result) == {"f", "g"}
    assert f"{method}: you passed an invalid feature flag name" in caplog.text
    assert f"{method}: you passed an empty feature flag name" in caplog.text
    assert await getattr(client, method)("k", []) == {}
    assert await getattr(client, method)("k", "f") == {}
    assert f"{method}: feature flag names must be a non-empty array." in caplog.text
    assert await getattr(client, method)(None, ["f", "g"]) == {
        "f": _control(method), "g": _control(method),
    }


async def test_evaluation_options(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    """Options of the wrong type are logged and ignored; invalid properties are dropped."""
    assert await client.get_treatment("k", "f", None, {"properties": {}}) == "on"
    assert ("get_treatment: evaluation options should be an instance of EvaluationOptions. "
            "Setting its value to None.") in caplog.text
    options = EvaluationOptions(properties={"big": "x" * 40000})
    assert await client.get_treatment("k", "f", None, options) == "on"
    assert "The maximum size allowed for the properties is 32768 bytes" in caplog.text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((None, "user", "click"), "track: you passed a null key, key must be a non-empty string."),
        ((Key("a", "b"), "user", "click"), "track: you passed an invalid key"),
        (("k", None, "click"), "track: you passed a null traffic_type"),
        (("k", "", "click"), "track: you passed an empty traffic_type"),
        (("k", 3, "click"), "track: you passed an invalid traffic_type"),
        (("k", "user", None), "track: you passed a null event_type"),
        (("k", "user", "bad event!"), "track: you passed bad event!, an event name must adhere"),
        (("k", "user", "e" * 81), "an event name must adhere to the regular expression"),
        (("k", "user", "click", "12"), "track: value must be a number."),
        (("k", "user", "click", True), "track: value must be a number."),
        (("k", "user", "click", 1, ["p"]), "track: properties must be of type dictionary."),
    ],
)
async def test_track_validation(
    client: Client, args: tuple[Any, ...], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert await client.track(*args) is False
    assert message in caplog.text


async def test_track_accepts_valid_events(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert await client.track("k", "USER", "a:b.c-d_e", 3, {"n": 1, "o": object()}) is True
    assert "track: traffic type 'USER' should be all lowercase" in caplog.text
    assert "is of invalid type. Setting value to None" in caplog.text


async def test_fallback_treatments(tmp_path: Path) -> None:
    """Configured fallbacks replace control for missing flags, globally or per flag."""
    path = write_split_changes(tmp_path / "flags.json", [rollout_flag("f")])
    fallbacks = FallbackTreatmentsConfiguration(
        global_fallback_treatment=FallbackTreatment("global_off", '{"x": 1}'),
        by_flag_fallback_treatment={"special": "special_on"},
    )
    config = {"splitFile": str(path), "fallbackTreatments": fallbacks}
    async with open_factory("localhost", config=config) as factory:
        client = factory.client()
        assert await client.get_treatment_with_config("k", "missing") == ("global_off", '{"x": 1}')
        assert await client.get_treatment("k", "special") == "special_on"
        assert await client.get_treatment(None, "special") == "special_on"


async def test_track_event_type_of_any_type_is_validated_every_time(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Remembering valid event types never lets an invalid one through (nor crashes on one that
    cannot be hashed)."""
    assert await client.track("k", "user", "good") is True
    assert await client.track("k", "user", "good") is True
    assert await client.track("k", "user", ["good"]) is False
    assert await client.track("k", "user", "bad!") is False
    assert await client.track("k", "user", "bad!") is False
    assert caplog.text.count("track: you passed bad!, an event name must adhere") == 2
