"""Fixtures of the end-to-end tests: a fresh fake Split server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.split_server import FakeSplitServer


@pytest.fixture
def server() -> Iterator[FakeSplitServer]:
    with FakeSplitServer() as fake:
        yield fake
