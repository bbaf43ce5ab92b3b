"""pytest fixtures for testing code that uses splitio_async (the ``splitio_async`` pytest11 entry
point registers them once the package is installed).

* ``split_test_data``: a fresh ``splitio_async.testing.TestData``;
* ``split_factory``: an open async factory on it (async fixture: mark the test
  ``pytest.mark.anyio``; works on asyncio and trio);
* ``split_sync_factory``: a ready ``splitio_sync_shim`` factory on it.

Nothing of the SDK is imported until a fixture is used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from splitio_async import SplitFactory
    from splitio_async.testing import TestData
    from splitio_sync_shim import SyncSplitFactory


@pytest.fixture
def split_test_data() -> TestData:
    """A fresh, empty TestData: program flags with ``split_test_data.flag(name)...``."""
    from splitio_async.testing import TestData  # noqa: PLC0415

    return TestData()


@pytest.fixture
async def split_factory(split_test_data: TestData) -> AsyncIterator[SplitFactory]:
    """A ready factory in testing mode on ``split_test_data``, destroyed after the test."""
    from splitio_async import open_factory  # noqa: PLC0415

    async with open_factory("testing", config={"testData": split_test_data}) as factory:
        yield factory


@pytest.fixture
def split_sync_factory(split_test_data: TestData) -> Iterator[SyncSplitFactory]:
    """A ready blocking (shim) factory in testing mode on ``split_test_data``."""
    from splitio_sync_shim import get_factory  # noqa: PLC0415

    factory = get_factory("testing", config={"testData": split_test_data})
    assert factory is not None
    try:
        factory.block_until_ready(10)
        yield factory
    finally:
        factory.destroy()
