"""Turn-taking state: who holds the floor. An enum with every transition checked."""

from __future__ import annotations

from enum import StrEnum

from pipelines.errors import InvalidTransition


class TurnState(StrEnum):
    LISTENING = "listening"
    USER_SPEAKING = "user_speaking"
    THINKING = "thinking"
    AGENT_SPEAKING = "agent_speaking"


_ALLOWED: dict[TurnState, frozenset[TurnState]] = {
    # Text input and the greeting go straight to thinking.
    TurnState.LISTENING: frozenset({TurnState.USER_SPEAKING, TurnState.THINKING}),
    # End of speech: thinking; speech that yields no words: back to listening.
    TurnState.USER_SPEAKING: frozenset({TurnState.THINKING, TurnState.LISTENING}),
    # The user resuming while we think cancels the reply (user_speaking); a
    # reply with nothing to say or a failed one returns to listening; new text
    # input while thinking restarts thinking.
    TurnState.THINKING: frozenset(
        {
            TurnState.AGENT_SPEAKING,
            TurnState.LISTENING,
            TurnState.USER_SPEAKING,
            TurnState.THINKING,
        }
    ),
    # Barge-in (user_speaking), reply played out (listening), text input (thinking).
    TurnState.AGENT_SPEAKING: frozenset(
        {TurnState.LISTENING, TurnState.USER_SPEAKING, TurnState.THINKING}
    ),
}


class TurnStateMachine:
    def __init__(self) -> None:
        self._state = TurnState.LISTENING

    @property
    def state(self) -> TurnState:
        return self._state

    def can(self, target: TurnState) -> bool:
        return target in _ALLOWED[self._state]

    def to(self, target: TurnState) -> TurnState:
        """Move to ``target``; returns the previous state. Raises on a forbidden move."""
        previous = self._state
        if target not in _ALLOWED[previous]:
            raise InvalidTransition(f"{previous.value} -> {target.value} is not a turn transition")
        self._state = target
        return previous
