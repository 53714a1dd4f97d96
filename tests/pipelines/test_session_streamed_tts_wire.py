"""A session speaking through the real socket adapters, against their wire fakes.

Real time (real sockets): the fakes encode each character as a slot of PCM, so
the audio that was played can be decoded back to the words the user heard.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from pipelines.events import AgentInterrupted
from pipelines.fallback import Failover, FallbackTTS
from pipelines.providers.base import ChatMessage
from pipelines.providers.cloud import DeepgramStreamingTTS, ElevenLabsStreamingTTS
from pipelines.providers.cloud.tts_socket import CloudSocketTTS
from pipelines.providers.fake import FakeLLM, FakeLLMKnobs
from tests.fakes import TEST_API_KEY as API_KEY
from tests.fakes import DeepgramFake, ElevenLabsFake
from tests.fakes.audio import decode_text, samples_per_char
from tests.fakes.tts_sockets import alignment_knobs
from tests.pipelines.harness import Harness

RATE = 16_000
REPLY = "Sure, I can move your booking to Friday at noon. Is there anything else?"


@pytest.fixture(params=["elevenlabs", "deepgram"])
async def voice(request: pytest.FixtureRequest) -> AsyncIterator[CloudSocketTTS]:
    if request.param == "elevenlabs":
        async with ElevenLabsFake() as el:
            yield ElevenLabsStreamingTTS(
                api_key=API_KEY, voice_id="voice-1", base_url=el.http_url, sample_rate=RATE
            )
    else:
        async with DeepgramFake() as dg:
            yield DeepgramStreamingTTS(api_key=API_KEY, base_url=dg.http_url, sample_rate=RATE)


def played_text(h: Harness) -> str:
    """The words heard, one space apart (a voice may pause with an extra space)."""
    text = decode_text(b"".join(f.pcm for f in h.audio_out), RATE)
    return " ".join(text.split()) + (" " if text[-1:].isspace() else "")


async def until(condition: Callable[[], bool], within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def llm() -> FakeLLM:
    return FakeLLM(lambda m: REPLY, FakeLLMKnobs(first_token_latency=0.05, token_interval=0.01))


async def test_streamed_reply_over_the_socket_is_played_in_full(voice: CloudSocketTTS) -> None:
    async with Harness(llm=llm(), voice=voice) as h:
        h.s.push_text("move my booking")
        await until(lambda: bool(h.of("agent.audio.done")), 15.0)
        assert h.s.history[-1] == ChatMessage("assistant", REPLY)
        assert played_text(h).strip() == REPLY


async def barge_in_after(h: Harness, seconds: float) -> tuple[AgentInterrupted, str, int]:
    """Interrupt once ``seconds`` of the reply played: the cut, the text voiced
    by the audio that played, and the samples played."""
    h.s.push_text("move my booking")
    await until(lambda: len(h.audio_out) * 0.02 >= seconds, 15.0)
    assert h.s.interrupt()
    (cut,) = [e for e in h.events if isinstance(e, AgentInterrupted)]
    assert h.s.history[-1] == ChatMessage("assistant", cut.heard_text, interrupted=True)
    voiced = decode_text(b"".join(f.pcm for f in h.audio_out), RATE)
    return cut, voiced, cut.played_ms * RATE // 1000


def collapse(text: str) -> str:
    return " ".join(text.split())


# The provider's timings are whole milliseconds: within this many samples of a
# character's edge, either side of it is the exact cut.
EDGE = 20


def played_mid_word(h: Harness, past: int) -> bool:
    """The reply's audio played so far stops part-way through a word (clear of
    a character's edge), more than ``past`` characters in."""
    per = samples_per_char(RATE)
    pcm = b"".join(f.pcm for f in h.audio_out)
    samples = len(pcm) // 2
    voiced = decode_text(pcm, RATE)
    chars = samples // per
    if chars <= past or chars >= len(voiced) or not EDGE <= samples % per <= per - EDGE:
        return False
    return not voiced[chars - 1].isspace() and not voiced[chars].isspace()


async def test_barge_in_mid_word_over_elevenlabs_keeps_the_whole_words_heard() -> None:
    async with ElevenLabsFake() as el:
        voice = ElevenLabsStreamingTTS(
            api_key=API_KEY, voice_id="voice-1", base_url=el.http_url, sample_rate=RATE
        )
        async with Harness(llm=llm(), voice=voice) as h:
            h.s.push_text("move my booking")
            # Per-character alignment; the user cuts in part-way through a word.
            await until(lambda: played_mid_word(h, past=len("Sure, I can ")), 15.0)
            assert h.s.interrupt()
            (cut,) = [e for e in h.events if isinstance(e, AgentInterrupted)]
            pcm = b"".join(f.pcm for f in h.audio_out)
            per = samples_per_char(RATE)
            assert abs(cut.played_ms * RATE // 1000 - len(pcm) // 2) < RATE // 1000
            voiced = decode_text(pcm, RATE)[: len(pcm) // 2 // per]
            assert not voiced[-1].isspace()  # the characters of a word still being said
            heard = cut.heard_text
            # History and event: every word that played, whole, and not the one cut.
            assert h.s.history[-1] == ChatMessage("assistant", heard, interrupted=True)
            assert REPLY.startswith(heard) and REPLY[len(heard)] == " "
            assert collapse(heard) == collapse(voiced.rsplit(" ", 1)[0])
            assert len(heard) >= len("Sure, I can")
            assert not voice.alignment_faults
            await asyncio.sleep(0.2)
            assert played_text(h).strip() != REPLY  # nothing more played after the cut


async def test_barge_in_over_deepgram_keeps_every_flushed_segment_that_played() -> None:
    async with DeepgramFake() as dg:
        voice = DeepgramStreamingTTS(api_key=API_KEY, base_url=dg.http_url, sample_rate=RATE)
        async with Harness(llm=llm(), voice=voice) as h:
            cut, voiced, played = await barge_in_after(h, 3.5)
            per = samples_per_char(RATE)
            # The text of each flush, as the fake voiced it one after the other.
            segments, text = [], ""
            for message in dg.requests[-1].messages:
                if message["type"] == "Speak":
                    text += message["text"]
                elif message["type"] == "Flush" and text:
                    segments.append(text)
                    text = ""
            assert len(segments) >= 2
            ends = [sum(len(t) for t in segments[: i + 1]) * per for i in range(len(segments))]
            whole = "".join(t for t, end in zip(segments, ends, strict=True) if end <= played)
            assert whole  # the first segment played in full
            heard = collapse(cut.heard_text)
            # Every segment that played in full is kept, and nothing not yet played.
            assert heard.startswith(collapse(whole))
            assert collapse(voiced[: played // per]).startswith(heard)
            assert REPLY.startswith(cut.heard_text)


async def test_barge_in_without_alignment_keeps_only_words_that_played() -> None:
    async with ElevenLabsFake() as el:
        alignment_knobs(el).mode = "null"
        voice = ElevenLabsStreamingTTS(
            api_key=API_KEY, voice_id="voice-1", base_url=el.http_url, sample_rate=RATE
        )
        async with Harness(llm=llm(), voice=voice) as h:
            cut, _, _ = await barge_in_after(h, 2.0)
            heard = cut.heard_text
            assert heard and REPLY.startswith(heard)
            # The estimate: whole words only, every one of them played.
            assert played_text(h).startswith(heard + " ")
            assert not voice.alignment_faults


async def test_malformed_alignment_is_counted_and_the_call_goes_on() -> None:
    async with ElevenLabsFake() as el:
        knobs = alignment_knobs(el)
        knobs.malformed, knobs.malformed_at = "negative", 3
        voice = ElevenLabsStreamingTTS(
            api_key=API_KEY, voice_id="voice-1", base_url=el.http_url, sample_rate=RATE
        )
        async with Harness(llm=llm(), voice=voice) as h:
            h.s.push_text("move my booking")
            await until(lambda: bool(h.of("agent.audio.done")), 15.0)
            assert h.s.history[-1] == ChatMessage("assistant", REPLY)
            assert played_text(h).strip() == REPLY
            assert voice.alignment_faults == {"malformed": 1}


async def test_socket_failing_mid_reply_falls_back_and_history_matches_what_was_heard() -> None:
    async with ElevenLabsFake() as el, DeepgramFake() as dg:
        el.knobs.disconnect_after = 12  # 12 messages of 3201 bytes, then the socket drops
        primary = ElevenLabsStreamingTTS(
            api_key=API_KEY, voice_id="voice-1", base_url=el.http_url, sample_rate=RATE
        )
        backup = DeepgramStreamingTTS(api_key=API_KEY, base_url=dg.http_url, sample_rate=RATE)
        failovers: list[Failover] = []
        chain = FallbackTTS([primary, backup], on_failover=failovers.append)
        async with Harness(llm=llm(), voice=chain) as h:
            cut, voiced, played = await barge_in_after(h, 3.5)
        per = samples_per_char(RATE)
        first_samples = 12 * el.chunk_bytes // 2  # what the first voice got out
        [failover] = failovers
        resumed_at = REPLY.index(failover.carried_text.strip())
        # Its marks say "Sure, I can move yo" had played in full: the backup
        # resumes at the start of "your" (an estimate would go back further).
        assert REPLY[:resumed_at] == "Sure, I can move "
        first, second = voiced[: -(-first_samples // per)], voiced[-(-first_samples // per) :]
        assert collapse(REPLY).startswith(collapse(first))
        assert collapse(REPLY[resumed_at:]).startswith(collapse(second))
        # History: a prefix of the reply (nothing twice), past the switch, and
        # nothing the backup had not fully voiced by the cut.
        heard = cut.heard_text
        assert REPLY.startswith(heard) and len(heard) > len("Sure, I can move your")
        played_second = second[: (played - first_samples) // per]
        assert collapse(played_second).startswith(collapse(heard[resumed_at:]))
