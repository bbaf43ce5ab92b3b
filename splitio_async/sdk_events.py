"""SDK events (``client.on(SdkEvent.SDK_READY / SDK_UPDATE, callback)``), official 10.7 shape."""

from __future__ import annotations

import enum
import inspect
import logging
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from ._threads import to_worker_thread

_LOGGER = logging.getLogger("splitio.events")

Delivery = tuple[Callable[..., Any], "EventsMetadata | None"]

QUEUE_SIZE = 1000  # pending notifications; beyond that an update notification is dropped, logged


class SdkEvent(enum.Enum):
    """What ``client.on`` subscribes to: ``SDK_READY`` (once, when the factory has its data;
    right away if it already has) and ``SDK_UPDATE`` (each time flags or segments change)."""

    SDK_READY = "SDK_READY"
    SDK_UPDATE = "SDK_UPDATE"


class SdkEventType(enum.Enum):
    """What an ``SDK_UPDATE`` was about (``EventsMetadata.get_type()``): flags, or segments."""

    FLAG_UPDATE = "FLAG_UPDATE"
    SEGMENTS_UPDATE = "SEGMENTS_UPDATE"


class EventsMetadata:
    """What changed, handed to SDK_UPDATE callbacks."""

    __slots__ = ("_names", "_type")

    def __init__(self, event_type: SdkEventType, names: frozenset[str]) -> None:
        self._type = event_type
        self._names = names

    def get_type(self) -> SdkEventType:
        """Whether flags or segments changed."""
        return self._type

    def get_names(self) -> set[str]:
        """The names of the flags (or segments) that changed; a new set at each call."""
        return set(self._names)

    def __repr__(self) -> str:
        return f"EventsMetadata({self._type.name}, {sorted(self._names)})"


class SdkEventsHub:
    """One handler per event type for the whole factory; delivered by its own actor so a slow
    callback never holds up the storage actor. Sync callbacks run in a worker thread."""

    def __init__(self) -> None:
        self._handlers: dict[SdkEvent, Callable[..., Any]] = {}
        self._ready = False
        self._send: MemoryObjectSendStream[Delivery] | None = None
        self.dropped = 0

    def subscribe(self, event: Any, callback: Any) -> None:
        """Register a handler (loop thread only); a second one for the same event is ignored,
        with a warning (the official SDK keeps the first one too, silently)."""
        if not isinstance(event, SdkEvent):
            _LOGGER.warning(
                "Client Event Subscription: The event passed must be of type SdkEvent, ignoring "
                "event subscribing action."
            )
            return
        if not callable(callback):
            _LOGGER.warning(
                "Client Event Subscription: The callback handle passed must be of type function, "
                "ignoring event subscribing action."
            )
            return
        if event in self._handlers:
            _LOGGER.warning(
                "Client Event Subscription: a handler for %s is already registered; this one is "
                "ignored (one handler per event for the factory).", event.name,
            )
            return
        self._handlers[event] = callback
        if event is SdkEvent.SDK_READY and self._ready:
            self._deliver(callback, None)

    def emit_ready(self) -> None:
        if self._ready:
            return
        self._ready = True
        handler = self._handlers.get(SdkEvent.SDK_READY)
        if handler is not None:
            self._deliver(handler, None)

    def emit_update(self, event_type: SdkEventType, names: frozenset[str]) -> None:
        handler = self._handlers.get(SdkEvent.SDK_UPDATE)
        if self._ready and handler is not None:
            self._deliver(handler, EventsMetadata(event_type, names))

    def clear(self) -> None:
        self._handlers.clear()


    def _deliver(self, handler: Callable[..., Any], metadata: EventsMetadata | None) -> None:
        if self._send is None:  # the factory is not running: nobody to deliver to
            return
        try:
            self._send.send_nowait((handler, metadata))
        except anyio.WouldBlock:
            self.dropped += 1
            _LOGGER.warning("SDK event queue is full; an event notification was dropped")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        send, receive = anyio.create_memory_object_stream[Delivery](QUEUE_SIZE)
        self._send = send
        task_status.started()
        try:
            async with receive:
                async for handler, metadata in receive:
                    await _call(handler, metadata)
        finally:
            self._send = None
            send.close()


async def _call(handler: Callable[..., Any], metadata: EventsMetadata | None) -> None:
    event = "SDK_UPDATE" if metadata is not None else "SDK_READY"
    try:
        if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004 - a callable object's coroutine
        ):
            await handler(metadata)
            return
        outcome = await to_worker_thread(handler, metadata, abandon_on_cancel=True)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception:
        _LOGGER.exception("Exception when calling handler for Sdk Event %s", event)


