"""Runs a list of calls through an SDK's client and manager, the same way for the official SDK
(in its own venv, ``official_worker.py``) and for ours, and turns the answers into JSON.

Standard library only: this module is imported by both interpreters.

A call is a dict. Client calls: ``{"method", "mk", "bk", "key_obj", "args"}`` -- the key is
``mk``, or ``Key(mk, bk)`` when ``bk`` is given or ``key_obj`` is true, followed by ``args`` (flag
name(s) or flag set(s) and attributes, or track's traffic type, event type, value, properties).
Manager calls: ``{"target": "manager", "method": "split_names" | "splits" | "split", "args"}``.

Each answer is ``{"result": <JSON>, "labels": [[flag, label], ...]}``: the labels are those of the
impressions the impression listener received during the call (``[]`` without a listener), or
``{"error": "<type>: <message>", "labels": [...]}`` for a call that raised. Manager answers are made
order-independent (names sorted, views sorted by name, treatments and sets sorted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Call = dict[str, Any]
Answer = dict[str, Any]

_VIEW_FIELDS = (
    "name", "traffic_type", "killed", "treatments", "change_number", "configs",
    "default_treatment", "sets", "impressions_disabled", "prerequisites",
)


class LabelListener:
    """Impression listener keeping ``(flag, label)`` of what it received since ``take()``."""

    def __init__(self) -> None:
        self._seen: list[list[Any]] = []

    def log_impression(self, data: dict[str, Any]) -> None:
        impression = data["impression"]
        self._seen.append([impression.feature_name, impression.label])

    def take(self) -> list[list[Any]]:
        seen, self._seen = self._seen, []
        return seen


class AsyncLabelListener(LabelListener):
    """The same for the asyncio API, whose listeners are awaited."""

    async def log_impression(self, data: dict[str, Any]) -> None:  # type: ignore[override]
        LabelListener.log_impression(self, data)


def key_for(call: Call, key_class: type) -> Any:
    if call.get("key_obj") or call.get("bk") is not None:
        return key_class(call.get("mk"), call.get("bk"))
    return call.get("mk")


def plain(value: Any) -> Any:
    """``value`` as JSON: tuples become lists, a manager's view a dict."""
    if isinstance(value, tuple) and hasattr(value, "_fields") and "traffic_type" in value._fields:
        return _view(value)
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _view(view: Any) -> dict[str, Any]:
    out = {field: getattr(view, field) for field in _VIEW_FIELDS}
    out["treatments"] = sorted(out["treatments"])
    out["sets"] = sorted(out["sets"])
    out["configs"] = dict(out["configs"] or {})
    out["prerequisites"] = sorted(
        ({"flag": p.feature_flag_name, "treatments": sorted(p.treatments)}
         for p in out["prerequisites"] or ()),
        key=lambda p: p["flag"],
    )
    return out


def _shaped(call: Call, result: Any) -> Any:
    if call.get("target") == "manager" and isinstance(result, list):
        if call["method"] == "split_names":
            return sorted(result)
        return sorted((plain(view) for view in result), key=lambda view: view["name"])
    return plain(result)


def _taken(listener: LabelListener | None) -> list[list[Any]]:
    return listener.take() if listener is not None else []


def _error(exc: BaseException, listener: LabelListener | None) -> Answer:
    return {"error": f"{type(exc).__name__}: {exc}", "labels": _taken(listener)}


def run_calls(
    client: Any, manager: Any, calls: list[Call], key_class: type,
    listener: LabelListener | None = None,
) -> list[Answer]:
    """Every call through a blocking client and manager."""
    answers = []
    for call in calls:
        try:
            if call.get("target") == "manager":
                result = getattr(manager, call["method"])(*call.get("args", ()))
            else:
                result = getattr(client, call["method"])(key_for(call, key_class), *call["args"])
        except Exception as exc:  # recorded: compared like any answer
            answers.append(_error(exc, listener))
            continue
        answers.append({"result": _shaped(call, result), "labels": _taken(listener)})
    return answers


async def run_calls_async(
    client: Any, manager: Any, calls: list[Call], key_class: type,
    listener: LabelListener | None = None,
    settle: Callable[[], Awaitable[Any]] | None = None,
) -> list[Answer]:
    """Every call through an asyncio-API client and manager; ``settle`` (if given) is awaited
    after each call, before the labels are taken (a listener may be called a turn later)."""
    answers = []
    for call in calls:
        try:
            if call.get("target") == "manager":
                result = await getattr(manager, call["method"])(*call.get("args", ()))
            else:
                method = getattr(client, call["method"])
                result = await method(key_for(call, key_class), *call["args"])
        except Exception as exc:  # recorded: compared like any answer
            answers.append(_error(exc, listener))
            continue
        if settle is not None:
            await settle()
        answers.append({"result": _shaped(call, result), "labels": _taken(listener)})
    return answers
