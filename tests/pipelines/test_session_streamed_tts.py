"""Replies spoken through a text-streaming voice, on the virtual clock."""

from __future__ import annotations

from collections.abc import Sequence

from pipelines.events import AgentInterrupted, TurnMetrics
from pipelines.fallback import Failover, FallbackTTS
from pipelines.providers.base import ChatMessage
from pipelines.providers.fake import (
    FakeLLM,
    FakeLLMKnobs,
    FakeStreamingTTS,
    FakeStreamKnobs,
    FakeSTT,
    FakeTTS,
    FakeTTSKnobs,
)
from pipelines.responder import streams_text
from pipelines.text import STREAM_CHARS_PER_SECOND
from pipelines.turn import TurnState
from tests.pipelines.harness import Harness
from tests.virtual_time import run_virtual

FIRST = "Here is a fairly long first sentence of the reply for you to hear today."
REPLY = f"{FIRST} And a short second one."
LONG_REPLY = " ".join(
    f"Sentence number {i} is here to take a good while to speak out loud." for i in range(12)
)
# FakeTTS speech: 60 ms per character.
SECS_PER_CHAR = 0.06


def metrics(h: Harness) -> TurnMetrics:
    (m,) = [e for e in h.events if isinstance(e, TurnMetrics)]
    return m


def first_sentence_written_at(m: TurnMetrics, interval: float) -> float:
    """When the LLM wrote the token ending ``FIRST`` (word by word, ``interval`` apart)."""
    return m.marks["llm_first_token"] + (len(FIRST.split()) - 1) * interval


def story_or_echo(messages: Sequence[ChatMessage]) -> str:
    last = messages[-1].content
    return LONG_REPLY if last == "tell me a story" else f"You said: {last}."


def assert_heard_no_more_than_played(cut: AgentInterrupted, reply: str) -> None:
    heard = cut.heard_text
    assert heard and reply.startswith(heard)
    # A word is claimed only once its audio has fully played ...
    assert len(heard) * SECS_PER_CHAR <= cut.played_ms / 1000
    # ... and only the next word was not yet long enough for the slow rate.
    following = reply[len(heard) :].split(maxsplit=1)[0]
    claimed = (len(heard) + 1 + len(following) + 1) / STREAM_CHARS_PER_SECOND
    assert claimed > cut.played_ms / 1000


def test_streamed_voice_starts_before_the_first_sentence_is_written() -> None:
    interval = 0.05

    async def one_turn(h: Harness) -> TurnMetrics:
        async with h:
            h.s.push_text("hi")
            await h.feed(8.0, voiced=False)
            assert h.s.history[-1] == ChatMessage("assistant", REPLY)
            assert h.s.state is TurnState.LISTENING
            return metrics(h)

    async def main() -> None:
        knobs = FakeLLMKnobs(token_interval=interval)
        voice = FakeStreamingTTS()
        streamed = await one_turn(Harness(llm=FakeLLM(lambda m: REPLY, knobs), tts=voice))
        per_sentence = await one_turn(Harness(llm=FakeLLM(lambda m: REPLY, knobs)))
        # Streamed: the first word's audio follows the first token by the voice's latency.
        assert streamed.marks["first_audio_out"] < first_sentence_written_at(streamed, interval)
        assert streamed.marks["first_audio_out"] - streamed.marks["llm_first_token"] <= 0.1 + 1e-6
        # Per sentence, the voice waits for the whole first sentence (no early clause in it).
        assert per_sentence.marks["first_audio_out"] > first_sentence_written_at(
            per_sentence, interval
        )
        # One stream for the reply, given every character, closed at the end.
        (stream,) = voice.streams
        assert stream.text == REPLY
        assert voice.closed == 1
        assert streamed.usage["tts_characters"] == len(REPLY)

    run_virtual(main())


def test_streamed_reply_plays_all_its_audio() -> None:
    async def main() -> None:
        voice = FakeStreamingTTS()
        async with Harness(llm=FakeLLM(lambda m: REPLY), tts=voice) as h:
            h.s.push_text("hi")
            await h.feed(8.0, voiced=False)
            played = sum(f.sample_count for f in h.audio_out)
            expected = sum(voice.samples_for(t) for t in voice.spoken)
            assert 0 <= played - expected < 320
            assert "".join(voice.spoken) == REPLY
            assert h.of("agent.audio.done")

    run_virtual(main())


def test_streamed_barge_in_keeps_only_heard_words_and_the_call_goes_on() -> None:
    async def main() -> None:
        voice = FakeStreamingTTS()
        llm = FakeLLM(story_or_echo)
        stt = FakeSTT(["tell me a story", "stop please"])
        async with Harness(stt=stt, llm=llm, tts=voice) as h:
            await h.say(0.6, then_silence=0.6)
            await h.feed(3.0, voiced=False)
            assert h.s.state is TurnState.AGENT_SPEAKING
            speech_at = h.s.loop.time()
            await h.say(0.5)
            (cut,) = [e for e in h.events if isinstance(e, AgentInterrupted)]
            assert h.audio_out[-1].timestamp <= speech_at + 0.2 + 0.02
            assert voice.closed == 1
            assert h.s.history[1] == ChatMessage("assistant", cut.heard_text, interrupted=True)
            assert_heard_no_more_than_played(cut, LONG_REPLY)
            # The next turn gets its own stream and is answered in full.
            await h.feed(0.1, voiced=True)
            await h.feed(8.0, voiced=False)
            assert h.s.history[2] == ChatMessage("user", "stop please")
            assert h.s.history[3] == ChatMessage("assistant", "You said: stop please.")
            assert len(voice.streams) == 2 and voice.closed == 2
            assert voice.streams[1].text == "You said: stop please."
            assert h.states()[-1] == "listening"

    run_virtual(main())


def test_barge_in_while_the_voice_is_connecting_forgets_the_reply() -> None:
    async def main() -> None:
        voice = FakeStreamingTTS(stream_knobs=FakeStreamKnobs(connect_latency=5.0))
        llm = FakeLLM(story_or_echo)
        async with Harness(stt=FakeSTT(["tell me a story"]), llm=llm, tts=voice) as h:
            await h.say(0.6, then_silence=1.5)
            assert h.s.state is TurnState.THINKING
            await h.say(0.5)
            (cut,) = [e for e in h.events if isinstance(e, AgentInterrupted)]
            assert cut.heard_text == ""
            assert h.audio_out == []
            assert not [m for m in h.s.history if m.role == "assistant"]

    run_virtual(main())


def test_stream_failing_mid_reply_falls_back_without_repeating_heard_words() -> None:
    async def main() -> None:
        # The streamed voice dies after 1.6 s of audio; the next voice takes the rest.
        first = FakeStreamingTTS(knobs=FakeTTSKnobs(fail_after_chunks=80, chunk_interval=0.02))
        backup = FakeTTS(name="backup", knobs=FakeTTSKnobs(chunk_interval=0.02))
        failovers: list[Failover] = []
        chain = FallbackTTS([first, backup], on_failover=failovers.append)
        llm = FakeLLM(story_or_echo)
        stt = FakeSTT(["tell me a story", "stop please"])
        async with Harness(stt=stt, llm=llm, voice=chain) as h:
            await h.say(0.6, then_silence=0.6)
            await h.feed(4.0, voiced=False)
            assert [f.provider for f in failovers] == ["fake-tts-stream"]
            # The backup starts mid-reply, at the word being spoken, not from the top.
            resumed = backup.spoken[0]
            resume_at = LONG_REPLY.index(resumed)
            assert 0 < resume_at < len("Sentence number 0 is here")
            assert LONG_REPLY.startswith(LONG_REPLY[:resume_at] + resumed)
            await h.say(0.5)
            (cut,) = [e for e in h.events if isinstance(e, AgentInterrupted)]
            heard = cut.heard_text
            assert heard and LONG_REPLY.startswith(heard)
            assert h.s.history[1] == ChatMessage("assistant", heard, interrupted=True)
            # Audio repeats a word or two at the switch, so the heard words are
            # fewer than the audio played, never more.
            assert len(heard) * SECS_PER_CHAR <= cut.played_ms / 1000
            assert len(heard) > resume_at + len("is here")
            await h.feed(0.1, voiced=True)
            await h.feed(8.0, voiced=False)
            assert h.s.history[3] == ChatMessage("assistant", "You said: stop please.")

    run_virtual(main())


def test_stream_refused_at_open_reports_an_error_and_the_call_goes_on() -> None:
    async def main() -> None:
        voice = FakeStreamingTTS(stream_knobs=FakeStreamKnobs(fail_at_open=True))
        async with Harness(stt=FakeSTT(["hello", "again"]), tts=voice) as h:
            await h.say(0.5, then_silence=2.0)
            (err,) = h.of("error")
            assert err.code == "provider_error"  # type: ignore[union-attr]
            assert h.s.state is TurnState.LISTENING
            voice.stream_knobs.fail_at_open = False
            await h.say(0.5, then_silence=4.0)
            assert h.s.history[-1].content.startswith("You said: again.")
            assert h.audio_out

    run_virtual(main())


def test_which_voices_get_the_text_as_a_stream() -> None:
    assert streams_text(FakeStreamingTTS())
    assert not streams_text(FakeTTS())
    assert streams_text(FallbackTTS([FakeTTS(name="a"), FakeStreamingTTS()]))
    assert not streams_text(FallbackTTS([FakeTTS(name="a"), FakeTTS(name="b")]))


def test_a_voice_waiting_for_a_long_buffer_starts_at_the_first_sentence_end() -> None:
    interval = 0.05

    async def main() -> None:
        # Like ElevenLabs' chunk schedule: nothing is voiced before 200 characters
        # wait, unless flushed. The reply is shorter than that.
        voice = FakeStreamingTTS(stream_knobs=FakeStreamKnobs(min_chars=200))
        llm = FakeLLM(lambda m: REPLY, FakeLLMKnobs(token_interval=interval))
        async with Harness(llm=llm, tts=voice) as h:
            h.s.push_text("hi")
            await h.feed(8.0, voiced=False)
            m = metrics(h)
            written = first_sentence_written_at(m, interval)
            assert voice.spoken[0] == FIRST + " "
            # Flushed as the first sentence was written, not when the LLM finished.
            assert m.marks["first_audio_out"] - written <= 0.1 + 1e-6
            assert h.s.history[-1] == ChatMessage("assistant", REPLY)

    run_virtual(main())


def test_a_hung_streamed_voice_is_replaced_before_the_llm_finishes() -> None:
    async def main() -> None:
        stuck = FakeStreamingTTS(knobs=FakeTTSKnobs(hang=True))
        backup = FakeTTS(name="backup")
        chain = FallbackTTS([stuck, backup], first_byte_timeout=1.0)
        llm = FakeLLM(story_or_echo)
        async with Harness(stt=FakeSTT(["tell me a story"]), llm=llm, voice=chain) as h:
            await h.say(0.6, then_silence=12.0)
            assert not h.of("turn.metrics")  # still telling the story
            h.s.interrupt()
            (timeline,) = h.s.completed
            llm_done = timeline.marks["llm_first_token"] + (len(LONG_REPLY.split()) - 1) * 0.01
            # The first-byte deadline ran from the first sentence, not from the LLM's end.
            assert timeline.marks["first_audio_out"] < llm_done
            assert backup.spoken[0] == LONG_REPLY.split(". ")[0] + "."
            assert stuck.closed == 1

    run_virtual(main())
