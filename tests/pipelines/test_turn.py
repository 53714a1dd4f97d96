from __future__ import annotations

import itertools

import pytest

from pipelines.errors import InvalidTransition
from pipelines.turn import TurnState, TurnStateMachine

ALLOWED = {
    ("listening", "user_speaking"),
    ("listening", "thinking"),
    ("user_speaking", "thinking"),
    ("user_speaking", "listening"),
    ("thinking", "agent_speaking"),
    ("thinking", "listening"),
    ("thinking", "user_speaking"),
    ("thinking", "thinking"),
    ("agent_speaking", "listening"),
    ("agent_speaking", "user_speaking"),
    ("agent_speaking", "thinking"),
}


@pytest.mark.parametrize(("source", "target"), itertools.product(TurnState, TurnState))
def test_every_transition_is_checked(source: TurnState, target: TurnState) -> None:
    machine = TurnStateMachine()
    machine._state = source
    if (source.value, target.value) in ALLOWED:
        assert machine.to(target) is source
        assert machine.state is target
    else:
        with pytest.raises(InvalidTransition):
            machine.to(target)
        assert machine.state is source
