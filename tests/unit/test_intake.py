"""The hot path's buffer: when it wakes its recorder (threshold, next record when idle) and how
far behind a send in progress makes producers yield."""

from __future__ import annotations

from splitio_async.runtime.intake import Intake


def _intake() -> tuple[Intake[int], list[int]]:
    intake: Intake[int] = Intake(capacity=10, threshold=4)
    wakes: list[int] = []
    intake.set_waker(lambda: wakes.append(len(intake)))
    return intake, wakes


def test_wakes_at_the_threshold_once_until_drained() -> None:
    intake, wakes = _intake()
    for i in range(6):
        intake.append(i)
    assert wakes == [4]
    assert intake.drain() == list(range(6))
    for i in range(4):
        intake.append(i)
    assert wakes == [4, 4]


def test_an_idle_recorder_is_woken_by_the_next_record_then_at_the_threshold() -> None:
    """No timer while idle: the first record wakes it, and that wake does not stand in for the
    threshold's (a burst still wakes it to flush at its bulk size)."""
    intake, wakes = _intake()
    assert intake.wake_on_next()
    intake.append(0)
    assert wakes == [1]
    for i in range(1, 4):
        intake.append(i)
    assert wakes == [1, 4]


def test_wake_on_next_refused_when_records_are_queued() -> None:
    """A record appended (from another thread) before the recorder asked would not wake it:
    the recorder is told to flush on its timer instead."""
    intake, wakes = _intake()
    intake.append(0)
    assert not intake.wake_on_next()
    intake.append(1)
    assert wakes == []


def test_backlogged_while_a_send_holds_a_bulk_only_near_the_bound() -> None:
    """A bulk in flight with room left is a busy recorder's normal state: producers go on at
    full speed until what is queued and what the recorder holds reach 3/4 of the capacity."""
    intake, _ = _intake()
    assert not intake.backlogged()
    intake.set_held(4)  # a bulk in flight
    assert not intake.backlogged()
    for i in range(2):
        intake.append(i)
    assert not intake.backlogged()
    intake.append(2)  # 3 queued + 4 held = 7 of 10
    assert intake.backlogged()
    intake.drain()
    intake.set_held(0)  # delivered: a bulk's worth queued asks for the recorder again
    for i in range(3):
        intake.append(i)
    assert not intake.backlogged()
    intake.append(3)
    assert intake.backlogged()
