"""A testing kit: programmable in-memory flags for the tests of code that uses the SDK.

    td = TestData()
    td.flag("new_checkout").on_for_everyone("off").for_keys(["alice"], "on")
    async with open_factory("testing", config={"testData": td}) as factory:
        ...                       # the code under test evaluates through factory.client()
        td.flag("new_checkout").on_for_everyone("on")   # applied at once, SDK_UPDATE fires
        assert td.impressions[-1].treatment == "on"     # no sleep, no flush

Every builder call produces a real Split API flag (conditions, matchers, partitions) compiled with
``parse_split``, so evaluation runs through the real engine, murmur3 bucketing included. Each
call is published at once to every factory running on the ``TestData``: the change is applied by
that factory's storage actor before the call returns (in the factory's event loop thread directly;
from any other thread through a blocking portal), so the next evaluation sees it.

Impressions and events of a testing-mode factory go to ``td.recorded`` instead of Split's API:
``td.impressions`` and ``td.events`` first take whatever the SDK queued and not flushed yet, so a
test sees them right after the call that produced them. Every impression is recorded, whatever the
``impressionsMode`` (as DEBUG mode would send them), except those of flags with impressions
disabled.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import anyio
from anyio.abc import TaskStatus
from anyio.from_thread import BlockingPortal

from ._flag_spec import (
    FlagSpec,
    Treatments,
    attribute_matcher,
    config_text,
    matcher_json,
    partitions_of,
    string_list,
)
from .actors.messages import ApplyFlags, ApplySegment, MarkReady, StorageMessage
from .config import Config
from .lifecycle import FactoryState
from .models.events import Event
from .models.impressions import Impression, ImpressionRecord, impression_of
from .models.splits import Split, parse_split
from .modes import Mode, register
from .modes.data_source import CONFIG_KEY, Feed
from .recording import Recording, Sink
from .runtime.intake import Intake
from .status import ModeStatus
from .storage.snapshot import FlagChanges

__all__ = ("FlagBuilder", "RecordedCalls", "TestData", "TestDataSource")

TESTING = "testing"

class FlagBuilder:
    """Programs one flag; every method publishes the flag at once and returns the builder.

    The flag evaluates, in order: key targets (``for_keys``), then rules (``when_attribute``,
    ``for_segment``) in the order they were added, then the default rule (``on_for_everyone``,
    ``rollout``; ``off`` for everyone until set). ``default`` is the treatment of a killed flag.
    """

    def __init__(self, data: TestData, name: str) -> None:
        self._data = data
        self.name = name

    def _change(self, edit: Callable[[FlagSpec], None]) -> FlagBuilder:
        self._data._edit_flag(self.name, edit)
        return self

    def on_for_everyone(self, treatment: str, config: str | None = None) -> FlagBuilder:
        """Everybody gets ``treatment``: forgets key targets and rules."""
        def edit(spec: FlagSpec) -> None:
            spec.targets.clear()
            spec.rules.clear()
            spec.default_rule = partitions_of(treatment)
            if config is not None:
                spec.configurations[treatment] = config_text(config)
        return self._change(edit)

    def for_keys(self, keys: Iterable[str], treatment: str) -> FlagBuilder:
        """These matching keys get ``treatment`` (before any rule)."""
        listed = string_list(keys)
        return self._change(lambda spec: spec.targets.append((listed, treatment)))

    def when_attribute(
        self, attribute: str, kind: str, value: Any, treatment: Treatments,
        label: str | None = None,
    ) -> FlagBuilder:
        """Keys whose ``attribute`` matches get ``treatment`` (a name, or a rollout dict).

        ``kind``: ``equals`` (a string, a whole number or a bool), ``in`` / ``not_in`` (a list),
        ``starts_with`` / ``ends_with`` / ``contains`` (one string or a list: any of them),
        ``gte`` / ``lte`` (a whole number), ``between`` (a ``(low, high)`` pair, inclusive),
        ``matches`` (a regex), ``equal_to_set`` / ``contains_any`` / ``contains_all`` /
        ``part_of`` (a list, for list attributes), ``semver_equals`` / ``semver_gte`` /
        ``semver_lte`` / ``in_semver``.
        """
        tt = self._data._spec(self.name).traffic_type
        matcher = attribute_matcher(tt, attribute, kind, value)
        partitions = partitions_of(treatment)
        rule_label = label or f"{attribute} {kind} {value!r}"
        return self._change(lambda spec: spec.rules.append((matcher, partitions, rule_label)))

    def for_segment(self, segment: str, treatment: Treatments) -> FlagBuilder:
        """Keys in the segment (see ``TestData.segment``) get ``treatment``."""
        def edit(spec: FlagSpec) -> None:
            matcher = matcher_json(spec.traffic_type, "IN_SEGMENT", None,
                               userDefinedSegmentMatcherData={"segmentName": segment})
            spec.rules.append((matcher, partitions_of(treatment), f"in segment {segment}"))
        return self._change(edit)

    def rollout(self, percentages: Mapping[str, int]) -> FlagBuilder:
        """The default rule as a percentage rollout, e.g. ``{"on": 30, "off": 70}`` (murmur3
        bucketing on the bucketing key, as in production)."""
        partitions = partitions_of(percentages)
        return self._change(lambda spec: setattr(spec, "default_rule", partitions))

    def with_config(self, treatment: str, config: str | Mapping[str, Any]) -> FlagBuilder:
        """The config of ``treatment``: a JSON string (a dict is dumped to one)."""
        text = config_text(config)
        return self._change(lambda spec: spec.configurations.__setitem__(treatment, text))

    def default(self, treatment: str) -> FlagBuilder:
        """The default treatment (what a killed flag returns)."""
        return self._change(lambda spec: setattr(spec, "default_treatment", treatment))

    def in_sets(self, *sets: str) -> FlagBuilder:
        """The flag sets the flag belongs to (for ``get_treatments_by_flag_set``)."""
        names = sorted({s.strip().lower() for s in sets})
        return self._change(lambda spec: setattr(spec, "sets", names))

    def traffic_type(self, name: str) -> FlagBuilder:
        """Set the flag's traffic type (default ``user``); ``track`` warns for a traffic type
        no flag uses."""
        return self._change(lambda spec: setattr(spec, "traffic_type", name))


def _impressions(records: Iterable[ImpressionRecord]) -> list[Impression]:
    """Every impression of the records (``impressions_disabled`` ones excepted)."""
    impressions = []
    for record in records:
        *_, impressions_disabled = record
        if not impressions_disabled:
            impressions.append(impression_of(record))
    return impressions


class RecordedCalls:
    """What testing-mode factories recorded: ``impressions`` and ``events``, oldest first.

    Reading either takes, first, what the SDK has queued and not flushed yet (in each factory's
    event loop), so no sleep or flush is needed.
    """

    def __init__(self, collect: Callable[[], None]) -> None:
        self._collect = collect
        self._lock = threading.Lock()
        self._impressions: list[Impression] = []
        self._events: list[Event] = []

    @property
    def impressions(self) -> list[Impression]:
        """Every impression recorded so far, oldest first (a copy)."""
        self._collect()
        with self._lock:
            return list(self._impressions)

    @property
    def events(self) -> list[Event]:
        """Every ``track`` event recorded so far, oldest first (a copy)."""
        self._collect()
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        """Forget what was recorded (what is still queued included)."""
        self._collect()
        with self._lock:
            self._impressions.clear()
            self._events.clear()

    def add(self, impressions: Sequence[Impression] = (), events: Sequence[Event] = ()) -> None:
        """Record ``impressions`` and ``events`` (what the recorders deliver; thread-safe)."""
        with self._lock:
            self._impressions.extend(impressions)
            self._events.extend(events)

    # the recorders' destinations in testing mode
    @staticmethod
    def prepare_impressions(records: list[ImpressionRecord]) -> list[Impression]:
        """Every impression of ``records`` (none deduplicated, whatever the impressions mode),
        except those of flags whose impressions are disabled."""
        return _impressions(records)

    async def send_impressions(self, bulk: Sequence[Impression]) -> None:
        """The impressions recorder's destination in testing mode."""
        self.add(impressions=bulk)

    async def send_events(self, bulk: Sequence[Event]) -> None:
        """The events recorder's destination in testing mode."""
        self.add(events=bulk)


class TestData:
    """A programmable flag source: ``open_factory("testing", config={"testData": td})``.

    It is a data source (``config["testData"]``) for any sdk key; ``"testing"`` is the
    convention."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, FlagSpec] = {}
        self._flags: dict[str, Split] = {}  # compiled, published flags
        self._segments: dict[str, frozenset[str]] = {}
        self._change_number = 0
        self._sources: list[TestDataSource] = []
        self.recorded = RecordedCalls(self._collect)

    # ------------------------------------------------------------------ programming

    def flag(self, name: str) -> FlagBuilder:
        """The builder of flag ``name`` (created on its first builder call, ``off`` for all)."""
        if not isinstance(name, str) or not name:
            raise ValueError("a flag name is a non-empty string")
        return FlagBuilder(self, name)

    def kill(self, name: str) -> None:
        """Kill the flag: everybody gets its default treatment (label ``killed``)."""
        self._edit_flag(name, lambda spec: setattr(spec, "killed", True), must_exist=True)

    def restore(self, name: str) -> None:
        """Undo ``kill``."""
        self._edit_flag(name, lambda spec: setattr(spec, "killed", False), must_exist=True)

    def remove(self, name: str) -> None:
        """Delete the flag (archived): evaluations give ``control`` again."""
        with self._lock:
            spec = self._specs.pop(name)
            self._change_number += 1
            self._flags.pop(name, None)
            archived = parse_split(spec.to_json(name, self._change_number, active=False))
            sources = list(self._sources)
        for source in sources:
            source.deliver(source.apply_flag, archived)

    def segment(self, name: str, keys: Iterable[str]) -> None:
        """Set the members of a segment (replacing what it had)."""
        members = frozenset(string_list(keys))
        with self._lock:
            self._segments[name] = members
            self._change_number += 1
            sources = list(self._sources)
        for source in sources:
            source.deliver(source.apply_segment, name)

    @property
    def impressions(self) -> list[Impression]:
        """Every impression recorded so far (see ``RecordedCalls``)."""
        return self.recorded.impressions

    @property
    def events(self) -> list[Event]:
        """Every ``track`` event recorded so far."""
        return self.recorded.events

    # ------------------------------------------------------------------ internals

    def _spec(self, name: str) -> FlagSpec:
        with self._lock:
            return self._specs.setdefault(name, FlagSpec())

    def _edit_flag(
        self, name: str, edit: Callable[[FlagSpec], None], must_exist: bool = False
    ) -> None:
        with self._lock:
            if must_exist and name not in self._specs:
                raise KeyError(f"no flag named {name!r} in this TestData")
            spec = self._specs.setdefault(name, FlagSpec())
            edit(spec)
            self._change_number += 1
            split = parse_split(spec.to_json(name, self._change_number))
            self._flags[name] = split
            sources = list(self._sources)
        for source in sources:
            source.deliver(source.apply_flag, split)

    def _attach(self, source: TestDataSource) -> list[StorageMessage]:
        """Register a running source; what it must load first."""
        with self._lock:
            self._sources.append(source)
            number = self._change_number
            messages: list[StorageMessage] = [ApplyFlags(FlagChanges(
                flags=tuple(self._flags.values()), flags_till=number, replace_flags=True,
            ))]
            messages += [
                ApplySegment(name, keys, frozenset(), number, replace=True)
                for name, keys in self._segments.items()
            ]
        return messages

    def _detach(self, source: TestDataSource) -> None:
        with self._lock:
            if source in self._sources:
                self._sources.remove(source)

    def _current_flag(self, name: str) -> tuple[Split | None, int]:
        with self._lock:
            return self._flags.get(name), self._change_number

    def _current_segment(self, name: str) -> tuple[frozenset[str] | None, int]:
        with self._lock:
            return self._segments.get(name), self._change_number

    def _collect(self) -> None:
        with self._lock:
            sources = list(self._sources)
        for source in sources:
            source.deliver(source.collect)

    # ------------------------------------------------------------------ as a data source

    def data_source_actor(self, feed: Feed) -> TestDataSource:
        """The actor that feeds one factory (``modes.data_source.DataSource``)."""
        return TestDataSource(self, feed.state, feed.storage.apply_now,
                              feed.recording.impressions, feed.recording.events)

    def recording_sink(self, recording: Recording) -> Sink:
        """Every impression and event of the factory goes to ``recorded``."""
        recorded = self.recorded
        return replace(
            recording.discarding_sink(),
            send_impressions=recorded.send_impressions, send_events=recorded.send_events,
            prepare_impressions=recorded.prepare_impressions,
        )


class TestDataSource:
    """The testing-mode source actor: loads the ``TestData``, reports ready, then applies each
    change the ``TestData`` makes until the factory stops.

    A change is applied synchronously with ``apply`` (``StorageWriter.apply_now``: through the
    storage actor's inbox, applied on the caller's stack, which never awaits) in the factory's
    event loop thread: directly when the caller is in that thread, through a blocking portal
    otherwise. So it is visible as soon as the ``TestData`` call returns.
    """

    __test__ = False

    def __init__(
        self,
        data: TestData,
        state: FactoryState,
        apply: Callable[[StorageMessage], object],
        impressions: Intake[ImpressionRecord],
        events: Intake[Event],
    ) -> None:
        self._data = data
        self._state = state
        self._apply = apply
        self._impressions = impressions
        self._events = events
        self._thread: int | None = None
        self._portal: BlockingPortal | None = None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The actor: load the data, report ready (``task_status.started()``), then apply
        changes until cancelled."""
        async with BlockingPortal() as portal:
            self._portal = portal
            self._thread = threading.get_ident()
            try:
                for message in self._data._attach(self):
                    self._apply(message)
                self._apply(MarkReady())
                task_status.started()
                await anyio.sleep_forever()
            finally:
                self._data._detach(self)

    def deliver(self, step: Callable[..., None], *args: Any) -> None:
        """Run ``step`` in the loop thread and return once it has run."""
        if threading.get_ident() == self._thread:
            step(*args)
            return
        portal = self._portal
        if portal is None:
            return
        with contextlib.suppress(RuntimeError, concurrent.futures.CancelledError):
            portal.call(step, *args)  # RuntimeError: the factory is stopping

    # steps (loop thread)

    def apply_flag(self, split: Split) -> None:
        """Apply a flag's new definition (and load the segments it is the first to read); runs
        in the loop thread."""
        current, number = self._data._current_flag(split.name)
        if current is not None and current.change_number > split.change_number:
            split = current  # a newer version was published meanwhile (another thread)
        self._apply(ApplyFlags(FlagChanges(flags=(split,), flags_till=number)))
        snapshot = self._state.snapshot
        for name in sorted(split.segment_names - set(snapshot.segments)):
            self.apply_segment(name)  # a flag reads a segment no flag read before

    def apply_segment(self, name: str) -> None:
        """Apply a segment's current keys; runs in the loop thread."""
        keys, number = self._data._current_segment(name)
        if keys is not None:
            self._apply(ApplySegment(name, keys, frozenset(), number, replace=True))

    def collect(self) -> None:
        """Move what the factory queued and has not delivered yet into the recorded calls."""
        self._data.recorded.add(
            _impressions(self._impressions.drain()), self._events.drain()
        )


class _TestingKeyWithoutData(Mode):
    """The sdk key ``"testing"`` without ``config["testData"]``: a forgotten ``TestData`` would
    otherwise start a standalone factory that tries Split's cloud with an invalid key, so the
    factory fails to start and says what is missing. Asked before the built-in modes once the
    testing kit is imported (a program with a ``TestData`` has imported it)."""

    name = "testing"

    @classmethod
    def applies(cls, sdk_key: str, config: Config) -> bool:
        return sdk_key == TESTING and CONFIG_KEY not in config.raw

    async def open(self) -> Sink:
        raise TypeError(
            'sdk_key "testing" needs config={"testData": splitio_async.testing.TestData()}'
        )

    def status(self, ready: bool, destroyed: bool) -> ModeStatus:
        return ModeStatus(self.name, "none", "no testData in the config")


register(_TestingKeyWithoutData)
