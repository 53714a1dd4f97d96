"""A session whose detector scores audio elsewhere and reports each frame later (Silero's worker).

The speech-state machine advances on each frame's result when it arrives. The
reference is the same detector run inline (``WindowedEnergyVad``: 32 ms windows,
each frame scored with the last complete window, as ``SileroVad`` does): a
conversation must give the same events, marks and audio with both, but for
what the hand-off itself costs: a clock tick due at the instant a frame is
pushed runs before that frame's result comes back, so at a barge-in one more
20 ms frame may leave; and the pre-roll kept for STT is up to 0.1 s longer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from pipelines.events import AgentInterrupted, SessionEvent, TurnMetrics, UserSpeechStarted
from pipelines.providers.base import ChatMessage
from pipelines.providers.fake import FakeLLM, FakeSTT
from pipelines.session import KEEP_COMPLETED_TURNS
from pipelines.turn import TurnState
from tests.pipelines.harness import DeferredEnergyVad, Harness, WindowedEnergyVad
from tests.virtual_time import run_virtual

LONG_REPLY = " ".join(f"Sentence {i} takes a good while to say out loud." for i in range(12))


def _reply(m: Sequence[ChatMessage]) -> str:
    return LONG_REPLY if m[-1].content == "tell me a story" else "Fine."


async def _conversation(h: Harness) -> None:
    """A turn, a barge-in over the long reply, and the turn after it."""
    await h.say(0.6, then_silence=0.6)
    await h.feed(1.5, voiced=False)
    assert h.s.state is TurnState.AGENT_SPEAKING
    await h.say(0.5)
    await h.feed(8.0, voiced=False)


def _run(vad: WindowedEnergyVad | DeferredEnergyVad) -> Harness:
    harness = Harness(stt=FakeSTT(["tell me a story", "stop"]), llm=FakeLLM(_reply), vad=vad)

    async def main() -> None:
        async with harness as h:
            await _conversation(h)

    run_virtual(main())
    return harness


def _hand_off_neutral(event: SessionEvent) -> SessionEvent:
    if isinstance(event, AgentInterrupted):
        return dataclasses.replace(event, played_ms=0)
    if isinstance(event, TurnMetrics):
        return dataclasses.replace(event, usage={**event.usage, "stt_seconds": 0})
    return event


def test_deferred_results_give_the_same_conversation_as_the_detector_inline() -> None:
    inline = _run(WindowedEnergyVad())
    deferred_vad = DeferredEnergyVad()
    deferred = _run(deferred_vad)
    # Same events at the same times, same texts and marks.
    assert [_hand_off_neutral(e) for e in deferred.events] == [
        _hand_off_neutral(e) for e in inline.events
    ]
    (cut_inline,) = [e for e in inline.events if isinstance(e, AgentInterrupted)]
    (cut,) = [e for e in deferred.events if isinstance(e, AgentInterrupted)]
    assert cut_inline.played_ms <= cut.played_ms <= cut_inline.played_ms + 20
    for a, b in zip(inline.events, deferred.events, strict=True):
        if isinstance(a, TurnMetrics) and isinstance(b, TurnMetrics):
            assert a.usage["stt_seconds"] <= b.usage["stt_seconds"]
            assert b.usage["stt_seconds"] <= a.usage["stt_seconds"] + 0.1 + 1e-9
    # The same audio, but for at most that one frame at the barge-in.
    inline_out = [(f.timestamp, f.pcm) for f in inline.audio_out]
    deferred_out = [(f.timestamp, f.pcm) for f in deferred.audio_out]
    extra = [f for f in deferred_out if f not in inline_out]
    assert len(extra) <= 1 and [f for f in deferred_out if f not in extra] == inline_out
    assert pytest.approx(cut.played_ms - cut_inline.played_ms) == 20 * len(extra)
    # Not vacuous: speech was confirmed on window-lagged frames, the agent was cut off.
    starts = [e for e in deferred.events if isinstance(e, UserSpeechStarted)]
    assert starts[0].at == 0.02  # the first frame completes no window: scored 0
    assert any(isinstance(e, AgentInterrupted) for e in deferred.events)
    assert [m.content for m in deferred.s.history if m.role == "user"] == [
        "tell me a story",
        "stop",
    ]
    assert deferred_vad.closed  # the session released its detector when it closed


def test_a_session_keeps_a_bounded_number_of_completed_turns() -> None:
    async def main() -> None:
        async with Harness() as h:
            for n in range(KEEP_COMPLETED_TURNS + 5):
                h.s.push_text(f"question {n}")
                await h.feed(6.0, voiced=False)
            turns = [e for e in h.events if isinstance(e, TurnMetrics)]
            # Every turn was reported (the metrics sink has them all); the session
            # itself holds only the most recent ones.
            assert len(turns) == KEEP_COMPLETED_TURNS + 5
            assert len(h.s.completed) == KEEP_COMPLETED_TURNS
            assert h.s.completed[-1].turn_id == turns[-1].turn_id

    run_virtual(main())
