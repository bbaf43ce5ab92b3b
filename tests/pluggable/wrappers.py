"""Storage wrappers with the official pluggable method set (spec: storage-redis.md §7).

A user of ``storageType: 'pluggable'`` hands the SDK an object with fourteen methods (``get``,
``get_many``, ``set``, ``get_items``, ``push_items``, ``delete``, ``increment``, ``decrement``,
``get_keys_by_prefix``, ``add_items``, ``remove_items``, ``item_contains``, ``get_items_count``,
``expire``); plain methods for the blocking API, ``async def`` ones for the asyncio API. This
module holds four of them, used by our tests *and* by the official SDK's worker
(``official_worker.py``, which runs in the official SDK's own venv): so it imports only the
standard library, and redis-py only when a Redis-backed wrapper is built.

* :class:`DictWrapper` / :class:`AsyncDictWrapper` -- an in-process store (the async one is a
  coroutine facade over a ``DictWrapper``, so a test reads what the SDK wrote from the same data).
* :class:`RedisWrapper` / :class:`AsyncRedisWrapper` -- the same contract on a real Redis
  (redis-py's blocking and asyncio clients, ``decode_responses=True``).

The contract both keep, as the official SDK relies on it (tests/pluggable/OFFICIAL.md):

* A *value* (written by ``set``, ``increment``, ``decrement``) is JSON: ``set`` stores
  ``json.dumps(value)``, ``get`` returns ``json.loads`` of it, so a flag stored as JSON text (the
  Split Synchronizer's layout) comes back as the dict the SDK parses, a change number as an int.
* ``get`` / ``get_many`` of a set key return a ``set`` of its members, of a list key a ``list``.
* ``get_many`` returns the values of the keys that exist, in the order asked, and skips missing
  keys; ``get_many([])`` is ``[]``. (The official SDK indexes every returned value by
  ``value['name']``, and calls ``get_many([])`` on every evaluation: a ``None`` in the answer or an
  error on the empty call turns the whole evaluation into ``control``.)
* ``push_items`` appends and returns the list's new length; pushing nothing creates nothing and
  returns the current length (0 for a missing list). ``expire`` of a missing key does nothing
  and returns False; ``set`` clears a TTL, as Redis ``SET`` does.
* Operations on a key holding another kind of data raise :class:`WrongType` (Redis:
  ``WRONGTYPE``), a non-integer ``increment`` raises ``ValueError``.

Snapshots (what tests load into a store and read back) are JSON::

    {"<key>": {"value": <any JSON>} | {"list": ["<item>", ...]} | {"set": ["<member>", ...]},
     ... each optionally with "ttl": <seconds left, rounded up>}

``load_snapshot`` writes one through the official methods only, so it works on any wrapper.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "METHODS",
    "AsyncDictWrapper",
    "AsyncRedisWrapper",
    "DictWrapper",
    "RedisWrapper",
    "WrongType",
    "broken_wrapper",
    "load_snapshot",
]

# The official method set and the fewest parameters each must accept (official input_validator).
METHODS: dict[str, int] = {
    "get": 1, "get_items": 1, "get_many": 1, "set": 2, "push_items": 2, "delete": 1,
    "increment": 2, "decrement": 2, "get_keys_by_prefix": 1, "add_items": 2,
    "remove_items": 2, "item_contains": 2, "get_items_count": 1, "expire": 2,
}

Snapshot = dict[str, dict[str, Any]]
Stored = str | list[str] | set[str]  # a value (JSON text), a list or a set


class WrongType(TypeError):
    """An operation on a key holding another kind of data (Redis: ``WRONGTYPE``)."""


# ------------------------------------------------------------------------------ in process


class DictWrapper:
    """The method set on a dict, safe across threads (the blocking SDKs call it from the
    caller's thread and from their recorder threads at once).

    Values are kept as JSON text and parsed on every read, as any real store would: each ``get``
    hands out a fresh object, and only JSON-serialisable values can be stored. Expiry is checked
    lazily against ``clock`` (seconds). ``calls`` counts the calls per method; with
    ``journal=True`` every call is also kept as ``(method, args)`` in ``journal``.
    """

    def __init__(
        self,
        snapshot: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        journal: bool = False,
    ) -> None:
        self._data: dict[str, Stored] = {}
        self._deadlines: dict[str, float] = {}
        self._lock = threading.RLock()
        self._clock = clock
        self.calls: Counter[str] = Counter()
        self.journal: list[tuple[str, tuple[Any, ...]]] | None = [] if journal else None
        if snapshot:
            load_snapshot(self, snapshot)
            self.calls.clear()
            if self.journal is not None:
                self.journal.clear()

    # -- the official method set ------------------------------------------------------

    def get(self, key: str) -> Any:
        with self._call("get", key):
            return _read(self._live(key))

    def get_many(self, keys: list[str]) -> list[Any]:
        with self._call("get_many", list(keys)):
            return [_read(found) for found in map(self._live, keys) if found is not None]

    def set(self, key: str, value: Any) -> bool:
        with self._call("set", key, value):
            self._data[key] = json.dumps(value)
            self._deadlines.pop(key, None)
            return True

    def get_items(self, key: str) -> list[str]:
        with self._call("get_items", key):
            return list(self._container(key, (list, set)) or ())

    def push_items(self, key: str, *items: str) -> int:
        with self._call("push_items", key, *items):
            current = self._container(key, (list,))
            if not items:
                return len(current or ())
            if current is None:
                current = self._data[key] = []
            current.extend(items)
            return len(current)

    def delete(self, key: str) -> bool:
        with self._call("delete", key):
            self._deadlines.pop(key, None)
            return self._data.pop(key, None) is not None

    def increment(self, key: str, value: int) -> int:
        with self._call("increment", key, value):
            return self._add(key, value)

    def decrement(self, key: str, value: int) -> int:
        with self._call("decrement", key, value):
            return self._add(key, -value)

    def get_keys_by_prefix(self, prefix: str) -> list[str]:
        with self._call("get_keys_by_prefix", prefix):
            return [
                key for key in list(self._data)
                if key.startswith(prefix) and self._live(key) is not None
            ]

    def add_items(self, key: str, items: Iterable[str]) -> int:
        items = list(items)
        with self._call("add_items", key, items):
            current = self._container(key, (set,))
            if current is None:
                if not items:
                    return 0
                current = self._data[key] = set()
            before = len(current)
            current.update(items)
            return len(current) - before

    def remove_items(self, key: str, items: Iterable[str]) -> int:
        items = list(items)
        with self._call("remove_items", key, items):
            current = self._container(key, (set,))
            if current is None:
                return 0
            before = len(current)
            current.difference_update(items)
            if not current:  # an empty set is no set, as in Redis
                del self._data[key]
                self._deadlines.pop(key, None)
            return before - len(current)

    def item_contains(self, key: str, item: str) -> bool:
        with self._call("item_contains", key, item):
            return item in (self._container(key, (set,)) or ())

    def get_items_count(self, key: str) -> int:
        with self._call("get_items_count", key):
            return len(self._container(key, (list, set)) or ())

    def expire(self, key: str, ttl: int) -> bool:
        with self._call("expire", key, ttl):
            if self._live(key) is None:
                return False
            self._deadlines[key] = self._clock() + ttl
            return True

    # -- for tests --------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Everything stored, in the snapshot format (keys sorted, set members sorted)."""
        with self._lock:
            out: Snapshot = {}
            for key in sorted(self._data):
                found = self._live(key)
                if found is None:
                    continue
                entry = _entry(found)
                if key in self._deadlines:
                    entry["ttl"] = math.ceil(self._deadlines[key] - self._clock())
                out[key] = entry
            return out

    # -- internals --------------------------------------------------------------------

    def _call(self, method: str, *args: Any) -> threading.RLock:
        self.calls[method] += 1
        if self.journal is not None:
            self.journal.append((method, args))
        return self._lock

    def _live(self, key: str) -> Stored | None:
        deadline = self._deadlines.get(key)
        if deadline is not None and deadline <= self._clock():
            del self._deadlines[key]
            self._data.pop(key, None)
        return self._data.get(key)

    def _container(self, key: str, kinds: tuple[type, ...]) -> Any:
        found = self._live(key)
        if found is not None and not isinstance(found, kinds):
            raise WrongType(f"{key} holds a {_kind(found)}")
        return found

    def _add(self, key: str, delta: int) -> int:
        found = self._container(key, (str,))
        current = 0 if found is None else json.loads(found)
        if not isinstance(current, int) or isinstance(current, bool):
            raise ValueError(f"{key} does not hold an integer")
        self._data[key] = json.dumps(current + delta)
        return current + delta


class AsyncDictWrapper:
    """The ``async def`` method set over a :class:`DictWrapper` (``store``), for the asyncio
    API. Backend-neutral: no method awaits anything, so it runs on asyncio and trio alike."""

    def __init__(self, store: DictWrapper | None = None) -> None:
        self.store = store if store is not None else DictWrapper()

    async def get(self, key: str) -> Any:
        return self.store.get(key)

    async def get_many(self, keys: list[str]) -> list[Any]:
        return self.store.get_many(keys)

    async def set(self, key: str, value: Any) -> bool:
        return self.store.set(key, value)

    async def get_items(self, key: str) -> list[str]:
        return self.store.get_items(key)

    async def push_items(self, key: str, *items: str) -> int:
        return self.store.push_items(key, *items)

    async def delete(self, key: str) -> bool:
        return self.store.delete(key)

    async def increment(self, key: str, value: int) -> int:
        return self.store.increment(key, value)

    async def decrement(self, key: str, value: int) -> int:
        return self.store.decrement(key, value)

    async def get_keys_by_prefix(self, prefix: str) -> list[str]:
        return self.store.get_keys_by_prefix(prefix)

    async def add_items(self, key: str, items: Iterable[str]) -> int:
        return self.store.add_items(key, items)

    async def remove_items(self, key: str, items: Iterable[str]) -> int:
        return self.store.remove_items(key, items)

    async def item_contains(self, key: str, item: str) -> bool:
        return self.store.item_contains(key, item)

    async def get_items_count(self, key: str) -> int:
        return self.store.get_items_count(key)

    async def expire(self, key: str, ttl: int) -> bool:
        return self.store.expire(key, ttl)


# ------------------------------------------------------------------------------ on Redis

# One round trip for any number of keys of any kind: each key's type and its whole content.
_READ = """
local out = {}
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key).ok
  if kind == 'string' then out[i] = {kind, redis.call('GET', key)}
  elseif kind == 'set' then out[i] = {kind, redis.call('SMEMBERS', key)}
  elseif kind == 'list' then out[i] = {kind, redis.call('LRANGE', key, 0, -1)}
  else out[i] = {kind} end
end
return out
"""
_COUNT = """
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'set' then return redis.call('SCARD', KEYS[1]) end
if kind == 'list' then return redis.call('LLEN', KEYS[1]) end
if kind == 'none' then return 0 end
return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. kind)
"""


class RedisWrapper:
    """The method set on a blocking redis-py client (which must decode responses).

    Values are JSON text, sets are Redis sets, lists Redis lists: a cache written by the Split
    Synchronizer reads back as the official SDK expects. Reads of unknown kind go through one
    Lua script (type and content of every key in one round trip).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._read = client.register_script(_READ)
        self._count = client.register_script(_COUNT)

    @classmethod
    def connect(cls, host: str, port: int, db: int = 0) -> RedisWrapper:
        import redis  # noqa: PLC0415 -- optional: only Redis-backed tests need it

        return cls(redis.Redis(host=host, port=port, db=db, decode_responses=True))

    def close(self) -> None:
        self.client.close()

    def get(self, key: str) -> Any:
        return _decode(self._read(keys=[key])[0])

    def get_many(self, keys: list[str]) -> list[Any]:
        if not keys:
            return []
        return _present(self._read(keys=list(keys)))

    def set(self, key: str, value: Any) -> bool:
        return bool(self.client.set(key, json.dumps(value)))

    def get_items(self, key: str) -> list[str]:
        return _items(key, self._read(keys=[key])[0])

    def push_items(self, key: str, *items: str) -> int:
        return int(self.client.rpush(key, *items) if items else self.client.llen(key))

    def delete(self, key: str) -> bool:
        return bool(self.client.delete(key))

    def increment(self, key: str, value: int) -> int:
        return int(self.client.incrby(key, value))

    def decrement(self, key: str, value: int) -> int:
        return int(self.client.decrby(key, value))

    def get_keys_by_prefix(self, prefix: str) -> list[str]:
        return list(self.client.scan_iter(match=_glob_prefix(prefix), count=1000))

    def add_items(self, key: str, items: Iterable[str]) -> int:
        items = list(items)
        return int(self.client.sadd(key, *items)) if items else 0

    def remove_items(self, key: str, items: Iterable[str]) -> int:
        items = list(items)
        return int(self.client.srem(key, *items)) if items else 0

    def item_contains(self, key: str, item: str) -> bool:
        return bool(self.client.sismember(key, item))

    def get_items_count(self, key: str) -> int:
        return int(self._count(keys=[key]))

    def expire(self, key: str, ttl: int) -> bool:
        return bool(self.client.expire(key, ttl))

    def snapshot(self, prefix: str = "") -> Snapshot:
        """Every key starting with ``prefix``, in the snapshot format (TTLs as Redis reports
        them, rounded up to whole seconds)."""
        keys = sorted(self.get_keys_by_prefix(prefix))
        if not keys:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.pttl(key)
        ttls = pipe.execute()
        out: Snapshot = {}
        for key, raw, ttl in zip(keys, self._read(keys=keys), ttls, strict=True):
            if raw[0] == "none":
                continue
            entry = _entry(_native(key, raw))
            if ttl >= 0:
                entry["ttl"] = math.ceil(ttl / 1000)
            out[key] = entry
        return out


class AsyncRedisWrapper:
    """:class:`RedisWrapper`'s contract on redis-py's asyncio client (asyncio only: on trio, a
    blocking wrapper is what a user has)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._read = client.register_script(_READ)
        self._count = client.register_script(_COUNT)

    @classmethod
    def connect(cls, host: str, port: int, db: int = 0) -> AsyncRedisWrapper:
        import redis.asyncio  # noqa: PLC0415 -- optional: only Redis-backed tests need it

        return cls(redis.asyncio.Redis(host=host, port=port, db=db, decode_responses=True))

    async def close(self) -> None:
        await self.client.aclose()

    async def get(self, key: str) -> Any:
        return _decode((await self._read(keys=[key]))[0])

    async def get_many(self, keys: list[str]) -> list[Any]:
        if not keys:
            return []
        return _present(await self._read(keys=list(keys)))

    async def set(self, key: str, value: Any) -> bool:
        return bool(await self.client.set(key, json.dumps(value)))

    async def get_items(self, key: str) -> list[str]:
        return _items(key, (await self._read(keys=[key]))[0])

    async def push_items(self, key: str, *items: str) -> int:
        return int(await (self.client.rpush(key, *items) if items else self.client.llen(key)))

    async def delete(self, key: str) -> bool:
        return bool(await self.client.delete(key))

    async def increment(self, key: str, value: int) -> int:
        return int(await self.client.incrby(key, value))

    async def decrement(self, key: str, value: int) -> int:
        return int(await self.client.decrby(key, value))

    async def get_keys_by_prefix(self, prefix: str) -> list[str]:
        return [key async for key in self.client.scan_iter(match=_glob_prefix(prefix), count=1000)]

    async def add_items(self, key: str, items: Iterable[str]) -> int:
        items = list(items)
        return int(await self.client.sadd(key, *items)) if items else 0

    async def remove_items(self, key: str, items: Iterable[str]) -> int:
        items = list(items)
        return int(await self.client.srem(key, *items)) if items else 0

    async def item_contains(self, key: str, item: str) -> bool:
        return bool(await self.client.sismember(key, item))

    async def get_items_count(self, key: str) -> int:
        return int(await self._count(keys=[key]))

    async def expire(self, key: str, ttl: int) -> bool:
        return bool(await self.client.expire(key, ttl))


# ------------------------------------------------------------------------------ shared


def load_snapshot(wrapper: Any, snapshot: Mapping[str, Mapping[str, Any]]) -> None:
    """Write ``snapshot`` through a blocking wrapper's official methods (replacing what those
    keys held)."""
    for key, entry in snapshot.items():
        if "value" in entry:
            wrapper.set(key, entry["value"])
        elif "list" in entry:
            wrapper.delete(key)
            wrapper.push_items(key, *entry["list"])
        elif "set" in entry:
            wrapper.delete(key)
            wrapper.add_items(key, entry["set"])
        else:
            raise ValueError(f"snapshot entry for {key} holds no value, list or set: {entry}")
        if entry.get("ttl") is not None:
            wrapper.expire(key, entry["ttl"])


def broken_wrapper(flaw: str) -> Any:
    """A wrapper the official validation rejects: ``missing:<method>`` lacks the method,
    ``short:<method>`` takes one parameter fewer than required."""
    kind, _, method = flaw.partition(":")
    if method not in METHODS or kind not in ("missing", "short"):
        raise ValueError(f"unknown flaw {flaw!r}")
    namespace: dict[str, Any] = {
        name: value for name, value in vars(DictWrapper).items()
        if name != method and (name == "__init__" or not name.startswith("__"))
    }
    if kind == "short":  # every official method needs one or two parameters
        two = METHODS[method] == 2
        namespace[method] = (lambda self, key: None) if two else (lambda self: None)
    return type(f"Wrapper_{kind}_{method}", (), namespace)()


def _kind(found: Stored) -> str:
    return {str: "value", list: "list", set: "set"}[type(found)]


def _read(found: Stored | None) -> Any:
    if found is None or isinstance(found, str):
        return None if found is None else json.loads(found)
    return list(found) if isinstance(found, list) else set(found)


def _entry(found: Stored) -> dict[str, Any]:
    if isinstance(found, str):
        return {"value": json.loads(found)}
    return {"list": list(found)} if isinstance(found, list) else {"set": sorted(found)}


def _native(key: str, raw: list[Any]) -> Stored:
    """A Lua answer ``[type, content]`` as the dict store keeps it."""
    kind = raw[0]
    if kind == "string":
        return str(raw[1])
    if kind == "set":
        return set(raw[1])
    if kind == "list":
        return list(raw[1])
    raise WrongType(f"{key} holds a Redis {kind}")


def _decode(raw: list[Any], key: str = "?") -> Any:
    if raw[0] == "none":
        return None
    found = _native(key, raw)
    if isinstance(found, str):
        try:
            return json.loads(found)
        except ValueError:
            return found  # text another writer stored: handed over as it is
    return found


def _present(answers: list[list[Any]]) -> list[Any]:
    return [_decode(raw) for raw in answers if raw[0] != "none"]


def _items(key: str, raw: list[Any]) -> list[str]:
    if raw[0] == "none":
        return []
    if raw[0] not in ("set", "list"):
        raise WrongType(f"{key} holds a Redis {raw[0]}")
    return list(raw[1])


def _glob_prefix(prefix: str) -> str:
    """A ``SCAN MATCH`` pattern for keys starting with ``prefix`` (glob characters escaped)."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in prefix) + "*"
