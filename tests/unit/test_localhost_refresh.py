"""The official per-section rules of a localhost JSON refresh (spec localhost.md §6.2), on pure
snapshots: each section's staleness is decided by its own ``t``, and what is applied replaces the
held definitions whatever their change numbers (the file is the source of truth)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from splitio_async.actors.localhost import fresh_sections
from splitio_async.models.rule_based_segments import parse_rule_based_segment
from splitio_async.models.splits import parse_split
from splitio_async.storage.snapshot import FlagChanges, Snapshot, apply_flag_changes
from tests.helpers import rollout_flag, staff_rbs

FILE = "flags.json"


def flag(treatment: str, change_number: int) -> Any:
    return parse_split(rollout_flag("f", ((treatment, 100),), changeNumber=change_number))


def staff(change_number: int, *keys: str) -> Any:
    return parse_rule_based_segment({**staff_rbs(*keys), "changeNumber": change_number})


def held(ff_t: int = 10, rbs_t: int = 10) -> Snapshot:
    """What the first file load left: ``f`` answering "v1", ``staff`` holding alice."""
    snapshot, _ = apply_flag_changes(Snapshot(), FlagChanges(
        flags=(flag("v1", 10),), rule_based_segments=(staff(10, "alice"),),
        flags_till=ff_t, rule_based_segments_till=rbs_t,
    ))
    return snapshot


def refreshed(ff_t: int, rbs_t: int, flag_cn: int = 10, rbs_cn: int = 10) -> FlagChanges:
    """The file after an edit: ``f`` answers "v2", ``staff`` holds bob."""
    return FlagChanges(
        flags=(flag("v2", flag_cn),), rule_based_segments=(staff(rbs_cn, "bob"),),
        flags_till=ff_t, rule_based_segments_till=rbs_t,
    )


def apply(snapshot: Snapshot, changes: FlagChanges | None) -> Snapshot:
    assert changes is not None
    return apply_flag_changes(snapshot, changes)[0]


def test_both_sections_stale_apply_nothing(caplog: pytest.LogCaptureFixture) -> None:
    assert fresh_sections(refreshed(9, 9), held(), FILE) is None
    assert "both sections are older than the data held" in caplog.text


def test_a_stale_ff_section_keeps_the_flags_and_applies_the_newer_rbs() -> None:
    """The bug this rule fixes: a newer ``rbs`` section must not carry a stale ``ff`` in."""
    before = held()
    changes = fresh_sections(refreshed(9, 11), before, FILE)
    assert changes is not None and changes.flags == () and changes.flags_till is None
    after = apply(before, changes)
    assert after.flags["f"] is before.flags["f"]
    assert after.flags_change_number == 10
    assert after.rule_based_segments["staff"] is changes.rule_based_segments[0]
    assert after.rule_based_segments_change_number == 11


def test_a_stale_rbs_section_keeps_the_segments_and_applies_the_newer_flags() -> None:
    before = held()
    changes = fresh_sections(refreshed(11, 9), before, FILE)
    assert changes is not None and changes.rule_based_segments == ()
    after = apply(before, changes)
    assert after.flags["f"] is changes.flags[0] and after.flags_change_number == 11
    assert after.rule_based_segments["staff"] is before.rule_based_segments["staff"]
    assert after.rule_based_segments_change_number == 10


@pytest.mark.parametrize(("ff_t", "rbs_t"), [(10, 10), (-1, -1), (-1, 10), (10, -1)])
def test_same_or_unset_t_applies_both_sections(ff_t: int, rbs_t: int) -> None:
    """A ``t`` equal to what is held (a hand edit that did not touch it) or -1 applies."""
    before = held()
    changes = fresh_sections(refreshed(ff_t, rbs_t), before, FILE)
    assert changes is not None
    after = apply(before, changes)
    assert after.flags["f"] is changes.flags[0]
    assert after.rule_based_segments["staff"] is changes.rule_based_segments[0]
    assert (after.flags_change_number, after.rule_based_segments_change_number) == (ff_t, rbs_t)


def test_a_definition_edited_back_to_an_older_change_number_is_applied(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = held()
    with caplog.at_level(logging.DEBUG, logger="splitio"):
        changes = fresh_sections(refreshed(10, 10, flag_cn=3, rbs_cn=4), before, FILE)
    assert changes is not None and changes.source_of_truth
    after = apply(before, changes)
    assert after.flags["f"].change_number == 3
    assert after.flags["f"].conditions[0].partitions[0].treatment == "v2"
    assert after.rule_based_segments["staff"].change_number == 4
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    messages = "\n".join(r.getMessage() for r in debug)
    assert "feature flag 'f' goes back from changeNumber 10 to 3; applied" in messages
    assert "rule-based segment 'staff' goes back from changeNumber 10 to 4" in messages


def test_a_fetch_still_refuses_an_older_definition() -> None:
    """Outside localhost (a fetch's answer landing after an instant update) the held newer
    definition stays."""
    before = held()
    after = apply(before, FlagChanges(flags=(flag("v0", 3),), flags_till=11))
    assert after.flags["f"] is before.flags["f"]
