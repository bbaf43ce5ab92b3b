"""Evaluation hooks: see every evaluation and every ``track`` the application makes.

A hook is any object with some of ``before_evaluation``, ``after_evaluation`` and
``after_track`` (subclass ``Hook`` to get no-op defaults and type hints); register it in the
config (``"hooks": [hook]``) or later with ``factory.add_hook(hook)``, in both APIs. Every client
method calls them, the flag-set ones included, once per flag it answers; OpenFeature resolutions
too, since they go through the same client core.

What the hot path pays, and why it is bounded:

* No hook registered: nothing. The factory then uses the plain evaluation core; hooks are wired in
  by swapping in a hooked core when the first one is registered.
* A plain (``def``) hook runs inline, in the caller's thread and context (so it sees the current
  OpenTelemetry span). Each call is timed; a hook that takes longer than the budget
  (``hookBudgetMs``, default ``DEFAULT_BUDGET_MS``) on ``STRIKES`` calls in a row is moved off
  the hot path for good: from then on the SDK's hook worker runs it, in order, in a worker thread,
  and one warning says so. So a slow hook holds up at most ``STRIKES`` calls; a single stall of
  the caller's thread (a garbage collection, a busy machine's scheduler: several milliseconds
  are common under load) does not take a hook out of the caller's context. A hook slow only
  now and then stays inline: each of those calls waits for it.
* An ``async def`` hook (any of its methods) never runs on the hot path: the call queues one small
  tuple and the hook worker awaits the hook, ``before_evaluation`` then ``after_evaluation``, each
  under ``CALL_TIMEOUT``. The queue holds ``QUEUE_SIZE`` calls; beyond that they are dropped and
  counted (one warning).
* A hook that raises is logged once per hook and method, with its traceback, and counted; the
  evaluation's result is never affected, nor are the other hooks.

``before_evaluation`` may return a value; the same hook's ``after_evaluation`` gets it back as
``state`` (a span to end, a start time): that is how a hook carries data across one evaluation.
A call that evaluates several flags calls ``before_evaluation`` for each flag, evaluates them
together, then calls ``after_evaluation`` for each; ``EvaluationDetail.duration`` is the whole
evaluation's. Calls refused before evaluating (invalid input, a destroyed factory, a forked
process waiting for ``resume()``) call no hook; calls made before the factory is ready do, with
the ``not ready`` label, and so do flags that do not exist (``definition not found``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from time import perf_counter_ns
from typing import Any, NamedTuple

from .limits import checked_number, safe_repr

__all__ = ("Evaluation", "EvaluationDetail", "Hook", "TrackedEvent")

_LOGGER = logging.getLogger("splitio.hooks")

DEFAULT_BUDGET_MS = 5.0  # a plain hook call longer than this moves the hook off the hot path
MAX_BUDGET_MS = 60_000.0
STRIKES = 3  # calls over the budget in a row move a plain hook off the hot path
CALL_TIMEOUT = 5.0  # seconds the hook worker waits for one call of an off-path hook
QUEUE_SIZE = 10_000  # off-path hook calls waiting for the worker; beyond that: dropped, counted

METHODS = ("before_evaluation", "after_evaluation", "after_track")


class Evaluation(NamedTuple):
    """One flag being evaluated: what ``before_evaluation`` and ``after_evaluation`` get."""

    method: str
    """The client method: ``get_treatment``, ``get_treatments_by_flag_set``, ..."""
    flag: str
    """The feature flag's name."""
    key: str
    """The matching key."""
    bucketing_key: str | None
    """The bucketing key, when the call passed a ``Key`` with one."""
    attributes: Mapping[str, Any] | None
    """The attributes passed to the call (not to be modified)."""


class EvaluationDetail(NamedTuple):
    """The result of one flag's evaluation, for ``after_evaluation``."""

    treatment: str
    config: str | None
    label: str | None
    """The evaluation's label (``default rule``, ``killed``, ``not ready``, ...), whatever
    ``labelsEnabled`` says about impressions."""
    change_number: int | None
    """The flag definition's change number (None when it could not be evaluated)."""
    duration: float
    """Seconds the call spent evaluating (for several flags: all of them)."""


class TrackedEvent(NamedTuple):
    """One ``track`` call that passed validation, for ``after_track``."""

    key: str
    traffic_type: str
    event_type: str
    value: float | None
    properties: Mapping[str, Any] | None
    queued: bool
    """False when the events queue was full and the event was dropped."""


class Hook:
    """A base class for hooks: every method is a no-op; override the ones you need (plain or
    ``async def``). Subclassing is optional: any object with some of these methods works."""

    def before_evaluation(self, evaluation: Evaluation) -> Any:
        """Called before ``evaluation`` runs; what it returns is passed to
        ``after_evaluation`` as ``state``."""
        return None

    def after_evaluation(
        self, evaluation: Evaluation, detail: EvaluationDetail, state: Any
    ) -> Awaitable[None] | None:
        """Called with the result of ``evaluation``."""
        return None

    def after_track(self, event: TrackedEvent) -> Awaitable[None] | None:
        """Called after a ``track`` call that passed validation."""
        return None


def hooks_from_config(raw: dict[str, Any]) -> tuple[list[Any], float]:
    """The ``hooks`` (a list or tuple of hooks) and ``hookBudgetMs`` config keys; a value of
    the wrong kind is logged and ignored, as every config key is."""
    hooks = raw.get("hooks")
    if hooks is None:
        hooks = []
    elif not isinstance(hooks, list | tuple):
        _LOGGER.warning("hooks: expected a list of hooks, not %s; ignoring it.", safe_repr(hooks))
        hooks = []
    budget = float(checked_number(raw, "hookBudgetMs", DEFAULT_BUDGET_MS, 0, MAX_BUDGET_MS))
    return list(hooks), budget


def _implemented(hook: Any, name: str) -> Callable[..., Any] | None:
    """The hook's method ``name``, or None when it has none or inherits ``Hook``'s no-op."""
    method = getattr(hook, name, None)
    if not callable(method):
        return None
    if getattr(type(hook), name, None) is getattr(Hook, name):
        return None
    return method  # type: ignore[no-any-return]


class HookEntry:
    """One registered hook: its methods, where it runs, and what it has done wrong."""

    __slots__ = ("after", "before", "deferred", "errors", "hook", "is_async", "name", "reported",
                 "strikes", "track")

    def __init__(self, hook: Any) -> None:
        self.hook = hook
        self.name = str(getattr(hook, "name", None) or type(hook).__name__)
        self.before = _implemented(hook, "before_evaluation")
        self.after = _implemented(hook, "after_evaluation")
        self.track = _implemented(hook, "after_track")
        self.is_async = any(
            inspect.iscoroutinefunction(method)
            for method in (self.before, self.after, self.track) if method is not None
        )
        self.deferred = self.is_async  # runs in the hook worker, not on the hot path
        self.errors = 0
        self.reported: set[str] = set()
        self.strikes = 0  # calls over the budget in a row

    def failed(self, method: str, error: BaseException) -> None:
        """Log ``error``, once per method of this hook; count it always."""
        self.errors += 1
        if method not in self.reported:
            self.reported.add(method)
            _LOGGER.error(
                "Hook %s raised in %s (logged once; the evaluation is not affected)",
                self.name, method, exc_info=error,
            )


# What the off-path hook worker runs: (entry, evaluation, detail) or (entry, tracked event).
Deferred = tuple[HookEntry, Evaluation, EvaluationDetail] | tuple[HookEntry, TrackedEvent]


class HookRunner:
    """Calls the registered hooks around one factory's evaluations and ``track`` calls.

    Thread-safe for the hot path: the lists of hooks are tuples replaced whole (registering a
    hook, or moving one off the hot path), never changed in place. ``submit`` queues a call for
    the hook worker (any thread) and returns False when its queue is full.
    """

    __slots__ = ("_budget_ns", "_deferred", "_entries", "_inline", "_inline_before", "_submit",
                 "dropped")

    def __init__(
        self,
        hooks: Iterable[Any] = (),
        submit: Callable[[Deferred], bool] | None = None,
        budget_ms: float = DEFAULT_BUDGET_MS,
    ) -> None:
        self._submit = submit
        self._budget_ns = int(budget_ms * 1_000_000)
        self._entries: tuple[HookEntry, ...] = ()
        self._inline: tuple[HookEntry, ...] = ()
        self._inline_before = False  # whether an inline hook has a before_evaluation
        self._deferred: tuple[HookEntry, ...] = ()
        self.dropped = 0  # off-path calls refused by a full queue
        for hook in hooks:
            self.add(hook)

    def __bool__(self) -> bool:
        return bool(self._entries)

    @property
    def entries(self) -> tuple[HookEntry, ...]:
        return self._entries

    def add(self, hook: Any) -> bool:
        """Register ``hook``; False (logged) when it has none of the hook methods."""
        entry = HookEntry(hook)
        if entry.before is None and entry.after is None and entry.track is None:
            _LOGGER.warning(
                "hooks: %r has none of %s; ignoring it", hook, ", ".join(METHODS)
            )
            return False
        if entry.is_async and self._submit is None:
            _LOGGER.warning("hooks: %s is async but this factory has no hook worker; "
                            "ignoring it", entry.name)
            return False
        self._entries = (*self._entries, entry)
        self._sort()
        return True

    def _sort(self) -> None:
        inline = tuple(entry for entry in self._entries if not entry.deferred)
        self._inline_before = any(entry.before is not None for entry in inline)
        self._inline = inline
        self._deferred = tuple(entry for entry in self._entries if entry.deferred)

    def _over_budget(self, entry: HookEntry, method: str, elapsed_ns: int) -> None:
        """``entry`` took longer than the budget: the ``STRIKES``-th time in a row moves it off
        the hot path from now on."""
        if entry.deferred or self._submit is None:
            return
        entry.strikes += 1
        if entry.strikes < STRIKES:
            _LOGGER.debug("Hook %s took %.1f ms in %s (budget %.1f ms)", entry.name,
                          elapsed_ns / 1e6, method, self._budget_ns / 1e6)
            return
        entry.deferred = True
        self._sort()
        _LOGGER.warning(
            "Hook %s took %.1f ms in %s, its %d calls in a row over the budget (%.1f ms); it now "
            "runs off the hot path, in the SDK's hook worker", entry.name, elapsed_ns / 1e6,
            method, STRIKES, self._budget_ns / 1e6,
        )

    # ------------------------------------------------------------------ evaluations

    def before(
        self, evaluations: Sequence[Evaluation]
    ) -> tuple[tuple[HookEntry, ...], list[Any] | None]:
        """Run the inline ``before_evaluation`` hooks for each of ``evaluations``; returns what
        ``after`` needs (the hooks run now, and their states, flag-major; None: no state)."""
        inline = self._inline
        if not self._inline_before:
            return inline, None
        states: list[Any] = []
        for evaluation in evaluations:
            for entry in inline:
                before = entry.before
                states.append(None if before is None else
                              self._run(entry, "before_evaluation", before, (evaluation,)))
        return inline, states

    def after(
        self,
        begun: tuple[tuple[HookEntry, ...], list[Any] | None],
        evaluations: Sequence[Evaluation],
        details: Sequence[EvaluationDetail],
    ) -> None:
        """Run the ``after_evaluation`` hooks begun by ``before``, and queue every call of the
        off-path hooks."""
        inline, states = begun
        if inline:
            index = 0
            for evaluation, detail in zip(evaluations, details, strict=True):
                for entry in inline:
                    state = None if states is None else states[index]
                    index += 1
                    after = entry.after
                    if after is not None:
                        self._run(entry, "after_evaluation", after, (evaluation, detail, state))
        deferred = self._deferred
        if deferred:
            begun_inline = set(inline)
            for entry in deferred:
                if entry in begun_inline or (entry.before is None and entry.after is None):
                    continue  # moved off the hot path during this call: it ran inline
                for evaluation, detail in zip(evaluations, details, strict=True):
                    self._queue((entry, evaluation, detail))

    # ------------------------------------------------------------------ track

    def tracked(self, event: TrackedEvent) -> None:
        """Run (or queue) every ``after_track`` hook."""
        for entry in self._entries:
            track = entry.track
            if track is None:
                continue
            if entry.deferred:
                self._queue((entry, event))
            else:
                self._run(entry, "after_track", track, (event,))

    def _run(
        self, entry: HookEntry, method: str, function: Callable[..., Any], args: tuple[Any, ...]
    ) -> Any:
        """``function(*args)`` inline, timed; None if it raised (logged once). Only the hook's
        own time counts against its budget, not the logging of its exception."""
        started = perf_counter_ns()
        try:
            result = function(*args)
        except Exception as exc:
            elapsed = perf_counter_ns() - started
            entry.failed(method, exc)
            result = None
        else:
            elapsed = perf_counter_ns() - started
        if elapsed > self._budget_ns:
            self._over_budget(entry, method, elapsed)
        elif entry.strikes:
            entry.strikes = 0
        return result

    def _queue(self, call: Deferred) -> None:
        submit = self._submit
        if submit is None or submit(call):
            return
        self.dropped += 1
        if self.dropped == 1:
            _LOGGER.warning(
                "Hook calls are queued faster than the hook worker runs them; dropping the "
                "excess (%d waiting at most)", QUEUE_SIZE,
            )


def run_plain(call: Deferred) -> None:
    """Run one queued call of a plain hook moved off the hot path (the hook worker runs this in a
    worker thread): ``before_evaluation`` then ``after_evaluation`` with its state, or
    ``after_track``. Never raises: failures are logged once per hook and method."""
    entry = call[0]
    if len(call) == 2:
        invoke(entry, "after_track", entry.track, call[1])
        return
    evaluation, detail = call[1], call[2]
    state = invoke(entry, "before_evaluation", entry.before, evaluation)
    invoke(entry, "after_evaluation", entry.after, evaluation, detail, state)


def invoke(entry: HookEntry, method: str, function: Callable[..., Any] | None, *args: Any) -> Any:
    """``function(*args)``, or None when it is None or raises (logged once, counted)."""
    if function is None:
        return None
    try:
        return function(*args)
    except Exception as exc:
        entry.failed(method, exc)
        return None
