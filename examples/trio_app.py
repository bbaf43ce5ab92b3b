"""The same async API under trio: nothing asyncio-specific in the SDK."""

from __future__ import annotations

from pathlib import Path

import trio

from splitio_async import get_factory_async

FLAGS = Path(__file__).with_name("flags.yaml")


async def main() -> None:
    factory = await get_factory_async("localhost", config={"splitFile": str(FLAGS)})
    assert factory is not None
    await factory.block_until_ready(5)
    client = factory.client()
    async with trio.open_nursery() as nursery:
        for user in ("alice", "bob", "carol"):
            nursery.start_soon(show, client, user)
    await factory.destroy()


async def show(client: object, user: str) -> None:
    treatment = await client.get_treatment(user, "new_checkout")  # type: ignore[attr-defined]
    print(f"{user}: {treatment}")


if __name__ == "__main__":
    trio.run(main)
