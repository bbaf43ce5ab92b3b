"""Worker run by the official SDK's interpreter (benchmarks/.venv-official: ``splitio_client``
10.7.0 with its ``asyncio`` and ``redis`` extras): one factory in pluggable mode over a store,
a list of calls, then everything the store holds.

    <official python> official_worker.py JOB.json OUT.json

JOB (JSON)::

    {"api": "sync" | "async",
     "sdk_key": "...",
     "config": {...},                  # the JSON part; the worker adds storageWrapper and the
                                       # impression listener
     "wrapper": {"kind": "dict"} | {"kind": "redis", "host", "port", "db"},
     "store": {snapshot},              # loaded first (tests/pluggable/wrappers.py format)
     "dump_prefix": "...",             # Redis: the keys to read back afterwards
     "journal": false,                 # dict: keep every wrapper call
     "listener": true,                 # collect impression labels per call
     "calls": [...],                   # tests/pluggable/driver.py format
     "validate": [{"wrapper": null | {"flaw": "missing:<m>" | "short:<m>"}, "config": {...}}]}

With ``validate`` the worker only builds a factory per entry (with the given wrapper and extra
config) and reports what ``get_factory`` raised and logged; nothing else runs.

OUT (JSON): ``{"answers", "store", "calls_per_method", "journal", "logs"}`` -- one answer per
call (driver.py), the store after ``destroy()`` has finished its final flush, the number of
wrapper calls per method (dict wrapper), the wrapper calls in order if journaled, and every
WARNING or ERROR the SDK logged as ``[level, logger, message]``; or ``{"validations": [...]}``.

Standard library, ``splitio`` and (for Redis) ``redis`` only: this runs outside the project venv.
"""

import asyncio
import json
import logging
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from driver import AsyncLabelListener, LabelListener, run_calls, run_calls_async
from splitio import get_factory, get_factory_async
from splitio.client.key import Key
from wrappers import (
    AsyncDictWrapper,
    AsyncRedisWrapper,
    DictWrapper,
    RedisWrapper,
    broken_wrapper,
    load_snapshot,
)


class _Logs(logging.Handler):
    """Every WARNING and ERROR of the ``splitio`` loggers, in order."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append([record.levelname, record.name, record.getMessage()])


def _install_logs():
    logs = _Logs()
    root = logging.getLogger("splitio")
    root.addHandler(logs)
    root.setLevel(logging.WARNING)
    root.propagate = False
    return logs


def _validations(job, logs):
    out = []
    for entry in job["validate"]:
        spec = entry.get("wrapper")
        config = dict(entry.get("config") or {})
        config.setdefault("storageType", "pluggable")
        if spec is not None:
            flaw = spec.get("flaw")
            config["storageWrapper"] = broken_wrapper(flaw) if flaw else DictWrapper()
        logs.records.clear()
        try:
            factory = get_factory(job["sdk_key"], config=config)
        except Exception as exc:  # what a user sees: compared with ours
            out.append({"raised": [type(exc).__name__, str(exc)], "logs": list(logs.records)})
            continue
        destroyed = threading.Event()
        factory.destroy(destroyed)
        destroyed.wait(10)
        out.append({"raised": None, "logs": list(logs.records)})
    return out


def _sync_run(job, config):
    spec = job["wrapper"]
    if spec["kind"] == "dict":
        wrapper = DictWrapper(job.get("store"), journal=job.get("journal", False))
    else:
        wrapper = RedisWrapper.connect(spec["host"], spec["port"], spec.get("db", 0))
        load_snapshot(wrapper, job.get("store") or {})
    listener = LabelListener() if job.get("listener", True) else None
    config = dict(config, storageWrapper=wrapper, impressionListener=listener)
    factory = get_factory(job["sdk_key"], config=config)
    factory.block_until_ready(10)
    answers = run_calls(factory.client(), factory.manager(), job["calls"], Key, listener)
    destroyed = threading.Event()
    factory.destroy(destroyed)
    if not destroyed.wait(30):
        raise SystemExit("the official factory did not finish destroy() within 30 s")
    return answers, wrapper


async def _async_run(job, config):
    spec = job["wrapper"]
    if spec["kind"] == "dict":
        store = DictWrapper(job.get("store"), journal=job.get("journal", False))
        wrapper = AsyncDictWrapper(store)
    else:
        store = RedisWrapper.connect(spec["host"], spec["port"], spec.get("db", 0))
        load_snapshot(store, job.get("store") or {})
        wrapper = AsyncRedisWrapper.connect(spec["host"], spec["port"], spec.get("db", 0))
    listener = AsyncLabelListener() if job.get("listener", True) else None
    config = dict(config, storageWrapper=wrapper, impressionListener=listener)
    factory = await get_factory_async(job["sdk_key"], config=config)
    await factory.block_until_ready(10)
    answers = await run_calls_async(
        factory.client(), factory.manager(), job["calls"], Key, listener
    )
    await factory.destroy()
    if spec["kind"] != "dict":
        await wrapper.close()
    return answers, store


def main(job_path, out_path):
    with open(job_path) as job_file:
        job = json.load(job_file)
    logs = _install_logs()
    if job.get("validate"):
        out = {"validations": _validations(job, logs)}
    else:
        config = dict(job["config"])
        if job["api"] == "sync":
            answers, store = _sync_run(job, config)
        else:
            answers, store = asyncio.run(_async_run(job, config))
        if isinstance(store, DictWrapper):
            dumped, counted = store.snapshot(), dict(store.calls)
            journal = store.journal
        else:
            dumped, counted, journal = store.snapshot(job.get("dump_prefix", "")), None, None
            store.close()
        out = {
            "answers": answers, "store": dumped, "calls_per_method": counted,
            "journal": journal, "logs": logs.records,
        }
    with open(out_path, "w") as out_file:
        json.dump(out, out_file, default=sorted)  # sets in a journal's arguments


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
