"""Quickstart: evaluate flags from a local YAML file with the blocking API.

No network and no Split account: the SDK key "localhost" reads flags from a file. Migrating from
the official SDK is one import line: ``from splitio import get_factory`` becomes the one below.
Run it with ``./scripts/demo`` (or ``python examples/quickstart.py`` once installed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from splitio_sync_shim import Key, get_factory

FLAGS = Path(__file__).with_name("flags.yaml")


class PrintingListener:
    """Impression listener: every evaluation, with the rule (label) that decided it."""

    def log_impression(self, data: dict[str, Any]) -> None:
        impression = data["impression"]
        print(f"    impression: {impression.matching_key} / {impression.feature_name} -> "
              f"{impression.treatment} ({impression.label})")


def main() -> None:
    factory = get_factory("localhost", config={
        "splitFile": str(FLAGS),
        "impressionListener": PrintingListener(),
    })
    assert factory is not None
    factory.block_until_ready(5)
    client = factory.client()

    for user in ("alice", "bob", "carol"):
        treatment, config = client.get_treatment_with_config(user, "new_checkout")
        print(f"{user}: new_checkout = {treatment} (config {config})")

    print("carol, every flag:", client.get_treatments("carol", ["search_ranking", "dark_mode"]))
    print("bucketing key:", client.get_treatment(Key("dave", "account-42"), "search_ranking"))
    print("unknown flag:", client.get_treatment("alice", "no_such_flag"))
    print("track:", client.track("alice", "user", "checkout", 42.5, {"items": 3}))

    manager = factory.manager()
    for view in manager.splits():
        print(f"flag {view.name}: treatments {sorted(view.treatments)}, configs {view.configs}")
    factory.destroy()


if __name__ == "__main__":
    main()
