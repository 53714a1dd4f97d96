"""Turn engine on a virtual clock with fake providers: exact timings, no flakes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pipelines.events import AgentInterrupted, TurnMetrics
from pipelines.providers.base import ChatMessage, ToolCall, ToolSpec
from pipelines.providers.fake import FakeLLM, FakeLLMKnobs, FakeSTT, FakeSTTKnobs
from pipelines.tools import Tool, ToolBox
from pipelines.turn import TurnState
from tests.pipelines.harness import Harness
from tests.virtual_time import run_virtual

LONG_REPLY = " ".join(
    f"Sentence number {i} is here to take a good while to speak out loud." for i in range(12)
)


def metrics(h: Harness) -> list[TurnMetrics]:
    return [e for e in h.events if isinstance(e, TurnMetrics)]


def test_one_turn_latency_is_the_sum_of_its_parts() -> None:
    async def main() -> None:
        async with Harness(stt=FakeSTT(["what time is it"])) as h:
            await h.say(1.0, then_silence=6.0)
            assert h.states() == ["user_speaking", "thinking", "agent_speaking", "listening"]
            (m,) = metrics(h)
            assert m.marks["user_speech_start"] == 0.0
            assert abs(m.marks["user_speech_end"] - 1.0) < 1e-6
            assert m.voice_to_voice_ms is not None
            # Stop window 580 (the harness stamps frames at their start, so the
            # 30th silent frame is seen at +0.58 s) + STT 150 + LLM first token 200
            # + 5 more tokens to the end of the first sentence (50) + TTS first
            # audio 100; the first frame then leaves at once (no tick wait).
            assert m.voice_to_voice_ms == pytest.approx(1080, abs=0.5)
            assert [msg.role for msg in h.s.history] == ["user", "assistant"]
            assert h.s.history[0].content == "what time is it"
            assert h.s.history[1].content.startswith("You said: what time is it.")
            # Every sample the TTS produced was played out, in order, as whole frames.
            played = sum(f.sample_count for f in h.audio_out)
            expected = sum(h.tts.samples_for(t) for t in h.tts.spoken)
            assert 0 <= played - expected < 320
            assert h.s.state is TurnState.LISTENING

    run_virtual(main())


def test_barge_in_stops_audio_within_a_frame_and_keeps_only_heard_text() -> None:
    async def main() -> None:
        def reply(m: Sequence[ChatMessage]) -> str:
            last = m[-1].content
            return LONG_REPLY if last == "tell me a story" else f"You said: {last}."

        llm = FakeLLM(reply)
        async with Harness(stt=FakeSTT(["tell me a story", "stop please"]), llm=llm) as h:
            await h.say(0.6, then_silence=0.6)
            await h.feed(1.5, voiced=False)  # the agent speaks for a while
            assert h.s.state is TurnState.AGENT_SPEAKING
            speech_at = h.s.loop.time()
            await h.say(0.5)
            (cut,) = [e for e in h.events if isinstance(e, AgentInterrupted)]
            last_out = h.audio_out[-1].timestamp
            # Confirmed after the 0.2 s start window; nothing plays after that tick.
            assert last_out <= speech_at + 0.2 + 0.02
            assert h.s.history[1].interrupted
            heard = h.s.history[1].content
            assert heard == cut.heard_text
            assert heard and LONG_REPLY.startswith(heard)
            assert len(heard) < len(LONG_REPLY) / 2
            # What was heard matches how long audio played (FakeTTS: 60 ms per char).
            assert abs(len(heard) * 0.06 - cut.played_ms / 1000) < 1.0
            assert llm.cancelled + h.tts.cancelled >= 1
            # The conversation goes on: the next turn is answered normally.
            await h.feed(0.1, voiced=True)
            await h.feed(8.0, voiced=False)
            assert h.s.history[2] == ChatMessage("user", "stop please")
            assert h.s.history[3].content.startswith("You said: stop please.")
            assert h.of("agent.audio.done")

    run_virtual(main())


def test_user_resuming_while_agent_thinks_merges_both_utterances() -> None:
    async def main() -> None:
        llm = FakeLLM(knobs=FakeLLMKnobs(first_token_latency=1.0))
        async with Harness(stt=FakeSTT(["I would like", "a large pizza"]), llm=llm) as h:
            await h.say(0.6, then_silence=0.8)  # final arrives; the LLM is still thinking
            assert h.s.state is TurnState.THINKING
            await h.say(0.6, then_silence=4.0)
            users = [m.content for m in h.s.history if m.role == "user"]
            assert users == ["I would like a large pizza"]
            assert len(llm.requests) == 2
            assert llm.cancelled == 1

    run_virtual(main())


def test_llm_failure_reports_an_error_and_the_call_goes_on() -> None:
    async def main() -> None:
        llm = FakeLLM(knobs=FakeLLMKnobs(fail_after_tokens=0))
        async with Harness(stt=FakeSTT(["hello", "again"]), llm=llm) as h:
            await h.say(0.5, then_silence=2.0)
            (err,) = h.of("error")
            assert err.code == "provider_error"  # type: ignore[union-attr]
            assert h.s.state is TurnState.LISTENING
            llm.knobs.fail_after_tokens = None
            await h.say(0.5, then_silence=3.0)
            assert h.s.history[-1].content.startswith("You said: again.")

    run_virtual(main())


def test_stt_final_timeout_commits_what_was_heard() -> None:
    async def main() -> None:
        stt = FakeSTT(["hello"], FakeSTTKnobs(hang=True))
        async with Harness(stt=stt) as h:
            await h.say(0.5, then_silence=4.0)
            # No final ever came and nothing was transcribed: back to listening.
            assert h.s.state is TurnState.LISTENING
            assert h.s.history == []
            assert h.states()[-1] == "listening"

    run_virtual(main())


def test_noise_shorter_than_the_start_window_is_not_a_turn() -> None:
    async def main() -> None:
        async with Harness() as h:
            await h.say(0.1, then_silence=2.0)
            assert h.events == []
            assert h.s.history == []

    run_virtual(main())


def test_text_input_interrupts_and_is_answered() -> None:
    async def main() -> None:
        llm = FakeLLM(lambda m: LONG_REPLY if len(m) < 3 else "Sure.")
        async with Harness(llm=llm) as h:
            h.s.push_text("first")
            await h.feed(1.0, voiced=False)
            assert h.s.state is TurnState.AGENT_SPEAKING
            h.s.push_text("second")
            await h.feed(2.0, voiced=False)
            assert [e.type for e in h.events].count("agent.interrupted") == 1
            assert [m.content for m in h.s.history if m.role == "user"] == ["first", "second"]
            assert h.s.history[-1].content == "Sure."
            assert h.s.state is TurnState.LISTENING

    run_virtual(main())


def test_greeting_is_spoken_first() -> None:
    async def main() -> None:
        from dataclasses import replace

        h = Harness()
        h.config = replace(h.config, greeting="Hi, how can I help?")
        async with h:
            await h.feed(1.0, voiced=False)
            assert h.tts.spoken == ["Hi, how can I help?"]
            assert h.s.history == [ChatMessage("assistant", "Hi, how can I help?")]
            assert h.audio_out

    run_virtual(main())


def test_tool_call_result_feeds_the_answer() -> None:
    async def lookup(args: dict[str, object]) -> str:
        return f"open until {args['day']} 9pm"

    def responder(messages: Sequence[ChatMessage]) -> str | ToolCall:
        if messages[-1].role == "tool":
            return f"We are {messages[-1].content}."
        return ToolCall(id="c1", name="hours", arguments='{"day": "friday"}')

    async def main() -> None:
        spec = ToolSpec("hours", "opening hours", {"type": "object"})
        tools = ToolBox([Tool(spec, lookup)])
        async with Harness(llm=FakeLLM(responder), tools=tools) as h:
            h.s.push_text("when do you close on friday")
            await h.feed(3.0, voiced=False)
            (called,) = h.of("tool.called")
            assert called.result == "open until friday 9pm"  # type: ignore[union-attr]
            assert h.s.history[-1].content == "We are open until friday 9pm."
            assert h.tts.spoken == ["We are open until friday 9pm."]

    run_virtual(main())


def test_a_final_arriving_after_its_timeout_is_still_answered() -> None:
    async def main() -> None:
        stt = FakeSTT(["late words"], FakeSTTKnobs(final_latency=4.0))
        async with Harness(stt=stt) as h:
            await h.say(0.5, then_silence=3.8)
            # End confirmed at 1.1 s; gave up waiting at 4.1 s; the final lands at 5.1 s.
            assert h.s.state is TurnState.LISTENING
            await h.feed(6.0, voiced=False)
            assert h.s.history[0] == ChatMessage("user", "late words")
            assert h.s.history[1].content.startswith("You said: late words.")
            # The answer belongs to the turn that was spoken: its timeline keeps the
            # speech end, so voice-to-voice shows the whole wait for the late final.
            (m,) = h.of("turn.metrics")
            assert isinstance(m, TurnMetrics)
            assert "user_speech_end" in m.marks and "stt_final" in m.marks
            assert m.voice_to_voice_ms is not None
            assert m.voice_to_voice_ms > 4000

    run_virtual(main())
