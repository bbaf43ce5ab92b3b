"""The asyncio API: ``open_factory`` owns the SDK's tasks for the life of the block."""

from __future__ import annotations

import asyncio
from pathlib import Path

from splitio_async import SdkEvent, open_factory

FLAGS = Path(__file__).with_name("flags.yaml")


async def main() -> None:
    async with open_factory("localhost", config={"splitFile": str(FLAGS)}) as factory:
        client = factory.client()

        async def on_ready(_: object) -> None:
            print("SDK_READY")

        await client.on(SdkEvent.SDK_READY, on_ready)
        await factory.block_until_ready(5)
        for user in ("alice", "carol"):
            print(user, await client.get_treatments(user, ["new_checkout", "search_ranking"]))
        print("names:", sorted(await factory.manager().split_names()))
    print("destroyed:", factory.destroyed)


if __name__ == "__main__":
    asyncio.run(main())
