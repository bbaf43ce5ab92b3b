"""The lifecycle's transitions (``lifecycle.FactoryState``) and how a mode is chosen."""

from __future__ import annotations

import pytest

from splitio_async.config import Config
from splitio_async.lifecycle import (
    DESTROYED,
    NOT_INITIALIZED,
    READY,
    WAITING_FORK,
    FactoryState,
)
from splitio_async.modes import select
from splitio_async.modes.data_source import DataSourceMode
from splitio_async.modes.localhost import LocalhostMode
from splitio_async.modes.redis import RedisMode
from splitio_async.modes.standalone import StandaloneMode


def _state(status: str) -> FactoryState:
    state = FactoryState()
    if status in (READY, WAITING_FORK):
        assert state.become_ready()
    if status == WAITING_FORK:
        assert state.pause_for_fork()
    if status == DESTROYED:
        assert state.destroy()
    assert state.status == status
    return state


# transition -> the statuses it moves from (every other status refuses it)
TRANSITIONS = {
    "become_ready": ({NOT_INITIALIZED}, READY),
    "destroy": ({NOT_INITIALIZED, READY, WAITING_FORK}, DESTROYED),
    "pause_for_fork": ({NOT_INITIALIZED, READY}, WAITING_FORK),
    "keep_for_fork": ({DESTROYED}, WAITING_FORK),
}


@pytest.mark.parametrize("transition", sorted(TRANSITIONS))
@pytest.mark.parametrize("status", [NOT_INITIALIZED, READY, WAITING_FORK, DESTROYED])
def test_each_transition_moves_only_from_its_states(transition: str, status: str) -> None:
    sources, target = TRANSITIONS[transition]
    state = _state(status)
    moved = getattr(state, transition)()
    assert moved == (status in sources)
    assert state.status == (target if moved else status)


def test_a_new_state_waits_for_its_data() -> None:
    assert FactoryState().status == NOT_INITIALIZED


@pytest.mark.parametrize(("sdk_key", "raw", "mode"), [
    ("SDK-KEY", {}, StandaloneMode),
    ("localhost", {}, LocalhostMode),
    ("SDK-KEY", {"redisHost": "localhost"}, RedisMode),
    ("localhost", {"testData": object()}, DataSourceMode),
    ("SDK-KEY", {"testData": object(), "redisHost": "localhost"}, DataSourceMode),
])
def test_the_first_mode_that_applies_serves(sdk_key: str, raw: dict[str, object],
                                            mode: type) -> None:
    assert select(sdk_key, Config.from_dict(raw)) is mode
