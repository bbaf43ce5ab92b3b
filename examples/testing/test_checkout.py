"""Testing code that uses the SDK, with the testing kit's pytest fixtures.

Run from the root of a checkout: ``python -m pytest examples/testing/test_checkout.py``
(needs ``pip install splitio_async[trio] pytest``; the fixtures come with the package).
"""

from __future__ import annotations

from typing import Any

import pytest

from splitio_async.testing import TestData


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)  # run the async tests on both event loops


async def checkout_page(client: Any, user: str) -> str:  # the code under test
    treatment, _config = await client.get_treatment_with_config(user, "new_checkout")
    await client.track(user, "user", "checkout_view")
    return str(treatment)


@pytest.mark.anyio  # the split_factory fixture is async (asyncio and trio)
async def test_checkout(split_test_data: TestData, split_factory: Any) -> None:
    td = split_test_data
    td.flag("new_checkout").on_for_everyone("off").for_keys(["alice"], "on")
    client = split_factory.client()
    assert await checkout_page(client, "alice") == "on"
    assert await checkout_page(client, "bob") == "off"
    td.kill("new_checkout")  # applied before kill() returns
    assert await checkout_page(client, "alice") == "off"
    assert [(i.matching_key, i.treatment) for i in td.impressions] == [
        ("alice", "on"), ("bob", "off"), ("alice", "off")]
    assert [e.event_type_id for e in td.events] == ["checkout_view"] * 3


def test_checkout_blocking(split_test_data: TestData, split_sync_factory: Any) -> None:
    """The same kit with the blocking API."""
    split_test_data.flag("new_checkout").rollout({"on": 100})
    client = split_sync_factory.client()
    assert client.get_treatment("carol", "new_checkout") == "on"
    split_test_data.flag("new_checkout").when_attribute("plan", "in", ["free"], "off")
    assert client.get_treatment("carol", "new_checkout", {"plan": "free"}) == "off"
