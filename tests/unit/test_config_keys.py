"""Unknown config keys are ignored, as the official SDK does, but named in one warning each,
with the closest known key when it looks like a misspelling."""

from __future__ import annotations

import logging

import pytest

from splitio_async.config import Config
from splitio_async.config_keys import KNOWN


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_misspelled_key_names_the_closest_known_one(caplog: pytest.LogCaptureFixture) -> None:
    config = Config.from_dict({"splitfile": "flags.yaml", "featureRefreshRate": 5})
    assert config.split_file != "flags.yaml"  # still ignored, as in the official SDK
    assert _warnings(caplog) == [
        "config: unknown key 'splitfile' is ignored; did you mean 'splitFile'?",
        "config: unknown key 'featureRefreshRate' is ignored; did you mean "
        "'featuresRefreshRate'?",
    ]


def test_known_keys_are_silent(caplog: pytest.LogCaptureFixture) -> None:
    Config.from_dict({"splitFile": "f.yaml", "redisHost": "h", "destroyTimeout": 1,
                      "storageType": "memory"})
    assert _warnings(caplog) == []


def test_no_key_is_internal(caplog: pytest.LogCaptureFixture) -> None:
    """The SDK hands nothing over in the user's config dict (a preforked worker's data goes
    through ``prefork.Preloaded``), so a key with a leading underscore is unknown too."""
    Config.from_dict({"_seedSnapshot": None})
    assert _warnings(caplog) == ["config: unknown key '_seedSnapshot' is ignored"]


def test_an_unrelated_key_is_named_without_a_guess(caplog: pytest.LogCaptureFixture) -> None:
    Config.from_dict({"zzz": 1, 7: 2})
    assert _warnings(caplog) == [
        "config: unknown key 'zzz' is ignored",
        "config: ignoring a key that is not a string: 7",
    ]


def test_every_key_the_config_reads_is_known() -> None:
    """A key read by the config modules but missing from ``KNOWN`` would warn on valid input:
    every quoted camelCase name in them must be known."""
    import re  # noqa: PLC0415

    from tests.conftest import REPO  # noqa: PLC0415

    read: set[str] = set()
    for module in ("config.py", "limits.py", "redis/settings.py"):
        source = (REPO / "splitio_async" / module).read_text()
        read |= set(re.findall(r'"((?:[a-z]+[A-Z][A-Za-z]*)|IPAddressesEnabled)"', source))
    assert {"splitFile", "redisHost", "httpMaxResponseBytes"} <= read
    assert read <= KNOWN, read - KNOWN
