"""The documentation's tests run code as a user's process would: without the suite's blocking-call
detector (a preforked master reads localhost files inline, on purpose, in its temporary loop)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _blockbuster() -> Iterator[None]:
    """Replaces tests/conftest.py's detector for these tests."""
    yield
