"""Worker run by the official SDK's interpreter (benchmarks/.venv-official, `splitio_client` 10.7.0
with its `redis` extra): one factory (Redis consumer mode, localhost or in-memory against a test
server), a list of calls, their results.

    <official python> official_worker.py JOB.json OUT.json

JOB: ``{"sdk_key": ..., "config": {...}, "urls": {...}, "calls": [...], "manager": [...]}``;
``urls`` (optional) are ``get_factory``'s URL keyword arguments. Each call is
``{"method": ..., "mk": ..., "bk": ..., "key_obj": bool, "args": [...]}``: the key is ``mk``, or
``Key(mk, bk)`` when ``bk`` is given or ``key_obj`` is true, followed by ``args`` (the flag name(s)
or flag set(s) and the attributes, or track's traffic type, event type, value and properties).
Each manager call is ``[method, *args]``.
OUT: ``{"results": [...], "manager": [...], "manager_logs": [...]}``, one result per call (tuples
become lists; a call that raised gives ``{"error": "..."}``), manager answers through
``manager_json`` and the warnings and errors the manager calls logged, as ``[level, message]``.
The factory is destroyed, waiting for its final flush, before OUT is written. Standard library
and ``splitio`` only (imported when run, so that the tests can import ``manager_json``): this
file runs outside the project venv.
"""

import json
import logging
import sys
import threading


class LogLines(logging.Handler):
    """``[level name, message]`` of the manager's and the input validator's records at WARNING
    or above, in order (both SDKs name these loggers alike; parse errors of definitions read
    during a call, which the official SDK logs at each Redis read, are not the manager's)."""

    NAMES = ("splitio.client.manager", "splitio.client.input_validator")

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        if record.name in self.NAMES:
            self.lines.append([record.levelname, record.getMessage()])


def view_json(view):
    """A SplitView (official or ours) as JSON: every field, with the two the official SDK takes
    from a ``set`` (treatments, flag sets) sorted; prerequisites in their own order."""
    if view is None:
        return None
    return {
        "name": view.name, "traffic_type": view.traffic_type, "killed": view.killed,
        "treatments": sorted(view.treatments), "change_number": view.change_number,
        "configs": view.configs, "default_treatment": view.default_treatment,
        "sets": sorted(view.sets), "impressions_disabled": view.impressions_disabled,
        "prerequisites": [[p.feature_flag_name, list(p.treatments)] for p in view.prerequisites],
    }


def manager_json(method, answer):
    """One manager answer as JSON: names sorted, views by name (storage order is undefined)."""
    if method == "split_names":
        return sorted(answer)
    if method == "splits":
        return sorted((view_json(v) for v in answer), key=lambda v: v["name"])
    return view_json(answer)


def run_manager(manager, calls):
    """(answers, logged lines) of the manager ``calls``; the lines are captured on the
    ``splitio`` loggers, where both SDKs log."""
    lines = LogLines()
    logger = logging.getLogger("splitio")
    level = logger.level
    logger.setLevel(min(logger.getEffectiveLevel(), logging.WARNING))
    logger.addHandler(lines)
    try:
        answers = [manager_json(method, getattr(manager, method)(*args))
                   for method, *args in calls]
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    return answers, lines.lines


def _key(call, key_class):
    if call.get("key_obj") or call.get("bk") is not None:
        return key_class(call.get("mk"), call.get("bk"))
    return call.get("mk")


def main(job_path, out_path):
    from splitio import get_factory  # noqa: PLC0415 - not importable in the project venv
    from splitio.client.key import Key  # noqa: PLC0415

    logging.basicConfig(level=logging.CRITICAL)
    with open(job_path) as job_file:
        job = json.load(job_file)
    factory = get_factory(job["sdk_key"], config=job["config"], **job.get("urls", {}))
    factory.block_until_ready(10)
    client = factory.client()
    results = []
    for call in job["calls"]:
        try:
            results.append(getattr(client, call["method"])(_key(call, Key), *call["args"]))
        except Exception as exc:  # recorded, compared like any result
            results.append({"error": f"{type(exc).__name__}: {exc}"})
    manager, manager_logs = run_manager(factory.manager(), job.get("manager", []))
    destroyed = threading.Event()
    factory.destroy(destroyed)
    if not destroyed.wait(30):
        raise SystemExit("the official factory did not finish destroy() within 30 s")
    with open(out_path, "w") as out:
        json.dump({"results": results, "manager": manager, "manager_logs": manager_logs}, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
