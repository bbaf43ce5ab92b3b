"""Impression modes DEBUG / OPTIMIZED / NONE as pure processing (recording.md §1.2-§1.5)."""

from __future__ import annotations

from typing import Any

import pytest

from splitio_async.engine.impressions import DedupCache, ImpressionsStrategy
from splitio_async.models.impressions import ImpressionRecord

HOUR = 3_600_000
H0 = 1_700_000_000_000 - (1_700_000_000_000 % HOUR)  # an hour start (UTC ms)


def rec(
    time_ms: int,
    key: str = "k",
    flag: str = "f",
    treatment: str = "on",
    label: str | None = "default rule",
    change_number: int | None = 10,
    bucketing_key: str | None = None,
    properties: str | None = None,
    disabled: bool = False,
) -> ImpressionRecord:
    return (key, flag, treatment, label, change_number, bucketing_key, time_ms, properties,
            disabled)


def sent(strategy: ImpressionsStrategy, *records: ImpressionRecord) -> list[Any]:
    return strategy.process(records).to_send


def counts(strategy: ImpressionsStrategy) -> list[tuple[str, int, int]]:
    return sorted(strategy.pop_counts())


# --- DEBUG -------------------------------------------------------------------------------


def test_debug_queues_everything_with_previous_time() -> None:
    """DEBUG queues all impressions; the dedup observer sets pt (§1.2)."""
    strategy = ImpressionsStrategy("DEBUG")
    out = sent(strategy, rec(H0 + 1), rec(H0 + 2), rec(H0 + HOUR + 3))
    assert [i.previous_time for i in out] == [None, H0 + 1, H0 + 2]
    assert [i.time for i in out] == [H0 + 1, H0 + 2, H0 + HOUR + 3]


def test_debug_no_counts_no_unique_keys() -> None:
    """DEBUG neither counts nor tracks unique keys (§1.2)."""
    strategy = ImpressionsStrategy("DEBUG")
    result = strategy.process([rec(H0 + 1), rec(H0 + 2)])
    assert result.deduplicated == 0
    assert strategy.pop_counts() == []
    assert strategy.pop_unique_keys() == {}


def test_debug_properties_bypass_observer() -> None:
    """DEBUG with properties: pt stays null and the observer is not updated (§1.2)."""
    strategy = ImpressionsStrategy("DEBUG")
    out = sent(strategy, rec(H0 + 1, properties='{"a":1}'), rec(H0 + 2, properties='{"a":1}'),
               rec(H0 + 3))
    assert [i.previous_time for i in out] == [None, None, None]
    assert [i.properties for i in out] == ['{"a":1}', '{"a":1}', None]


def test_impression_fields() -> None:
    """Queued impressions carry every §1.1 field, in the official names."""
    strategy = ImpressionsStrategy("DEBUG")
    (imp,) = sent(strategy, rec(H0 + 5, key="mk", flag="fl", treatment="t", label="lbl",
                                change_number=42, bucketing_key="bk"))
    assert (imp.matching_key, imp.feature_name, imp.treatment, imp.label, imp.change_number,
            imp.bucketing_key, imp.time, imp.previous_time, imp.properties) == (
        "mk", "fl", "t", "lbl", 42, "bk", H0 + 5, None, None)


# --- OPTIMIZED ---------------------------------------------------------------------------


def test_optimized_first_sent_repeat_counted() -> None:
    """OPTIMIZED: first sighting queued (pt null); repeats in the hour only counted (§1.2)."""
    strategy = ImpressionsStrategy("OPTIMIZED")
    result = strategy.process([rec(H0 + 1), rec(H0 + 2), rec(H0 + 3)])
    assert [i.previous_time for i in result.to_send] == [None]
    assert result.deduplicated == 2
    assert counts(strategy) == [("f", H0, 2)]


def test_optimized_resent_next_hour_and_counted() -> None:
    """A repeat whose pt is from an older hour is queued again and counted (§1.2)."""
    strategy = ImpressionsStrategy("OPTIMIZED")
    sent(strategy, rec(H0 + 10))
    result = strategy.process([rec(H0 + HOUR + 5)])
    assert [i.previous_time for i in result.to_send] == [H0 + 10]
    assert result.deduplicated == 0
    assert counts(strategy) == [("f", H0 + HOUR, 1)]


def test_optimized_pt_at_hour_start_is_current_hour() -> None:
    """pt equal to the hour start is not older than the hour: deduplicated (§1.2)."""
    strategy = ImpressionsStrategy("OPTIMIZED")
    sent(strategy, rec(H0))
    assert sent(strategy, rec(H0 + HOUR - 1)) == []


def test_optimized_across_batches() -> None:
    """The observer persists across process() calls."""
    strategy = ImpressionsStrategy("OPTIMIZED")
    assert len(sent(strategy, rec(H0 + 1))) == 1
    assert sent(strategy, rec(H0 + 2)) == []


@pytest.mark.parametrize(
    "changes",
    [{"key": "other"}, {"flag": "g"}, {"treatment": "off"}, {"label": "x"},
     {"change_number": 11}],
)
def test_optimized_dedup_key_fields(changes: dict[str, Any]) -> None:
    """key, flag, treatment, label and change number all identify an impression (§1.3)."""
    strategy = ImpressionsStrategy("OPTIMIZED")
    out = sent(strategy, rec(H0 + 1), rec(H0 + 2, **changes))
    assert len(out) == 2


def test_optimized_bucketing_key_not_in_dedup_key() -> None:
    """The bucketing key and time are not part of the dedup key (§1.3)."""
    strategy = ImpressionsStrategy("OPTIMIZED")
    out = sent(strategy, rec(H0 + 1, bucketing_key="a"), rec(H0 + 2, bucketing_key="b"))
    assert len(out) == 1


def test_optimized_properties_never_deduplicated_nor_counted() -> None:
    """Impressions with properties are always queued, never counted (§1.2)."""
    strategy = ImpressionsStrategy("OPTIMIZED")
    result = strategy.process([rec(H0 + 1, properties="{}"), rec(H0 + 2, properties="{}")])
    assert len(result.to_send) == 2
    assert [i.previous_time for i in result.to_send] == [None, None]
    assert result.deduplicated == 0
    assert strategy.pop_counts() == []


def test_optimized_properties_do_not_feed_observer() -> None:
    """A property-carrying impression leaves the observer untouched (§1.2)."""
    strategy = ImpressionsStrategy("OPTIMIZED")
    out = sent(strategy, rec(H0 + 1, properties="{}"), rec(H0 + 2))
    assert [i.previous_time for i in out] == [None, None]


def test_optimized_counts_per_flag_and_hour() -> None:
    """Counts are keyed by (flag, hour start of the impression time) (§1.4)."""
    strategy = ImpressionsStrategy("OPTIMIZED")
    strategy.process([
        rec(H0 + 1, flag="a"), rec(H0 + 2, flag="a"), rec(H0 + 3, flag="a"),
        rec(H0 + 4, flag="b"), rec(H0 + 5, flag="b"),
        rec(H0 + HOUR + 1, flag="a"), rec(H0 + HOUR + 2, flag="a"),
    ])
    assert counts(strategy) == [("a", H0, 2), ("a", H0 + HOUR, 2), ("b", H0, 1)]


def test_pop_counts_resets() -> None:
    """pop_counts returns and clears the counters (§1.4)."""
    strategy = ImpressionsStrategy("OPTIMIZED")
    strategy.process([rec(H0 + 1), rec(H0 + 2)])
    assert counts(strategy) == [("f", H0, 1)]
    assert strategy.pop_counts() == []


def test_optimized_no_unique_keys() -> None:
    """OPTIMIZED does not track unique keys (§1.2)."""
    strategy = ImpressionsStrategy("OPTIMIZED")
    strategy.process([rec(H0 + 1), rec(H0 + 2)])
    assert strategy.pop_unique_keys() == {}


# --- NONE --------------------------------------------------------------------------------


def test_none_queues_nothing_counts_all() -> None:
    """NONE: nothing queued; every impression counted and deduplicated (§1.2)."""
    strategy = ImpressionsStrategy("NONE")
    result = strategy.process([rec(H0 + 1), rec(H0 + 2), rec(H0 + 3, flag="g"),
                               rec(H0 + HOUR, flag="g")])
    assert result.to_send == []
    assert result.deduplicated == 4
    assert counts(strategy) == [("f", H0, 2), ("g", H0, 1), ("g", H0 + HOUR, 1)]


def test_none_tracks_unique_keys() -> None:
    """NONE tracks (matching key, flag) pairs (§1.5)."""
    strategy = ImpressionsStrategy("NONE")
    strategy.process([rec(H0 + 1, key="a"), rec(H0 + 2, key="a"), rec(H0 + 3, key="b"),
                      rec(H0 + 4, key="a", flag="g", bucketing_key="bk")])
    assert strategy.pop_unique_keys() == {"f": {"a", "b"}, "g": {"a"}}
    assert strategy.pop_unique_keys() == {}


def test_none_counts_and_tracks_properties() -> None:
    """NONE still counts and tracks impressions carrying properties (§1.2)."""
    strategy = ImpressionsStrategy("NONE")
    result = strategy.process([rec(H0 + 1, properties="{}")])
    assert result.to_send == []
    assert counts(strategy) == [("f", H0, 1)]
    assert strategy.pop_unique_keys() == {"f": {"k"}}


def test_unique_keys_due_threshold() -> None:
    """The unique-keys flush is due once more than 30 000 pairs are held (§1.5)."""
    strategy = ImpressionsStrategy("NONE")
    strategy.process([rec(H0, key=f"k{i}") for i in range(30_000)])
    assert strategy.unique_keys_due is False
    strategy.process([rec(H0, key="k0"), rec(H0, key="k0", flag="other")])
    assert strategy.unique_keys_due is True
    strategy.pop_unique_keys()
    assert strategy.unique_keys_due is False


# --- impressionsDisabled -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["DEBUG", "OPTIMIZED"])
def test_impressions_disabled_uses_none(mode: str) -> None:
    """A flag with impressionsDisabled uses NONE whatever the mode (§1.2)."""
    strategy = ImpressionsStrategy(mode)
    result = strategy.process([rec(H0 + 1, disabled=True), rec(H0 + 2, disabled=True),
                               rec(H0 + 3, flag="g")])
    assert [i.feature_name for i in result.to_send] == ["g"]
    assert result.deduplicated == 2
    assert ("f", H0, 2) in counts(strategy)
    assert strategy.pop_unique_keys() == {"f": {"k"}}


@pytest.mark.parametrize("mode", ["DEBUG", "OPTIMIZED"])
def test_impressions_disabled_does_not_feed_observer(mode: str) -> None:
    """NONE-processed impressions never consult the observer (§1.2)."""
    strategy = ImpressionsStrategy(mode)
    out = sent(strategy, rec(H0 + 1, disabled=True), rec(H0 + 2))
    assert [i.previous_time for i in out] == [None]


@pytest.mark.parametrize("mode", ["DEBUG", "OPTIMIZED", "NONE"])
def test_deduplicated_is_total_minus_queued(mode: str) -> None:
    """Telemetry 'deduped' = impressions in the call - impressions queued (§1.2)."""
    strategy = ImpressionsStrategy(mode)
    records = [rec(H0 + 1), rec(H0 + 2), rec(H0 + 3, disabled=True), rec(H0 + 4, flag="g"),
               rec(H0 + 5, properties="{}"), rec(H0 + HOUR + 1)]
    result = strategy.process(records)
    assert result.deduplicated == len(records) - len(result.to_send)


# --- DedupCache bound --------------------------------------------------------------------


def test_dedup_cache_test_and_set() -> None:
    """test_and_set returns the previous time (or None) and stores the new one (§1.3)."""
    cache = DedupCache(10)
    assert cache.test_and_set(1, 100) is None
    assert cache.test_and_set(1, 200) == 100
    assert cache.test_and_set(1, 300) == 200


def test_dedup_cache_bounded() -> None:
    """The cache never holds more than its capacity (§1.3 LRU)."""
    cache = DedupCache(3)
    for i in range(50):
        cache.test_and_set(i, i)
        assert len(cache) <= 3
    assert len(cache) == 3


def test_dedup_cache_lru_eviction() -> None:
    """The least recently used entry is evicted; a hit refreshes recency (§1.3)."""
    cache = DedupCache(2)
    cache.test_and_set(1, 10)
    cache.test_and_set(2, 20)
    cache.test_and_set(1, 11)  # 1 becomes most recent
    cache.test_and_set(3, 30)  # evicts 2
    assert cache.test_and_set(1, 12) == 11
    assert cache.test_and_set(2, 21) is None


def test_default_capacity() -> None:
    """The default observer holds 500 000 entries (§1.3)."""
    cache = DedupCache()
    assert cache._capacity == 500_000


def test_strategy_observer_bounded_and_lru() -> None:
    """process() keeps the strategy's cache within capacity, evicting LRU (§1.3)."""
    strategy = ImpressionsStrategy("OPTIMIZED", dedup=DedupCache(2))
    sent(strategy, rec(H0 + 1, key="a"), rec(H0 + 2, key="b"))
    assert sent(strategy, rec(H0 + 3, key="a")) == []  # refreshes a
    sent(strategy, rec(H0 + 4, key="c"))  # evicts b
    assert len(strategy.dedup) == 2
    assert [i.previous_time for i in sent(strategy, rec(H0 + 5, key="b"))] == [None]
    assert len(strategy.dedup) == 2
    strategy.process([rec(H0 + 10 + i, key=f"x{i}") for i in range(100)])
    assert len(strategy.dedup) == 2


def test_strategy_observer_bounded_in_debug() -> None:
    """DEBUG also keeps the observer within capacity."""
    strategy = ImpressionsStrategy("DEBUG", dedup=DedupCache(5))
    strategy.process([rec(H0 + i, key=f"x{i}") for i in range(100)])
    assert len(strategy.dedup) == 5
