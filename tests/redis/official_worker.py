"""Worker run by the official SDK's interpreter (benchmarks/.venv-official, `splitio_client` 10.7.0
with its `redis` extra): one factory in Redis consumer mode, a list of calls, their results.

    <official python> official_worker.py JOB.json OUT.json

JOB: ``{"sdk_key": ..., "config": {...}, "calls": [...]}``; each call is
``{"method": ..., "mk": ..., "bk": ..., "key_obj": bool, "args": [...]}``: the key is ``mk``, or
``Key(mk, bk)`` when ``bk`` is given or ``key_obj`` is true, followed by ``args`` (the flag name(s)
or flag set(s) and the attributes, or track's traffic type, event type, value and properties).
OUT: ``{"results": [...]}``, one entry per call (tuples become lists; a call that raised gives
``{"error": "..."}``). The factory is destroyed, waiting for its final flush, before OUT is
written. Standard library and ``splitio`` only: this file runs outside the project venv.
"""

import json
import logging
import sys
import threading

from splitio import get_factory
from splitio.client.key import Key


def _key(call):
    if call.get("key_obj") or call.get("bk") is not None:
        return Key(call.get("mk"), call.get("bk"))
    return call.get("mk")


def main(job_path, out_path):
    logging.basicConfig(level=logging.CRITICAL)
    with open(job_path) as job_file:
        job = json.load(job_file)
    factory = get_factory(job["sdk_key"], config=job["config"])
    factory.block_until_ready(10)
    client = factory.client()
    results = []
    for call in job["calls"]:
        try:
            results.append(getattr(client, call["method"])(_key(call), *call["args"]))
        except Exception as exc:  # recorded, compared like any result
            results.append({"error": f"{type(exc).__name__}: {exc}"})
    destroyed = threading.Event()
    factory.destroy(destroyed)
    if not destroyed.wait(30):
        raise SystemExit("the official factory did not finish destroy() within 30 s")
    with open(out_path, "w") as out:
        json.dump({"results": results}, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
