"""A session speaking through the real socket adapters, against their wire fakes.

Real time (real sockets): the fakes encode each character as a slot of PCM, so
the audio that was played can be decoded back to the words the user heard.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from pipelines.events import AgentInterrupted
from pipelines.providers.base import ChatMessage
from pipelines.providers.cloud import DeepgramStreamingTTS, ElevenLabsStreamingTTS
from pipelines.providers.cloud.tts_socket import CloudSocketTTS
from pipelines.providers.fake import FakeLLM, FakeLLMKnobs
from tests.fakes import TEST_API_KEY as API_KEY
from tests.fakes import DeepgramFake, ElevenLabsFake
from tests.fakes.audio import decode_text
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


async def test_barge_in_over_the_socket_keeps_only_words_that_played(
    voice: CloudSocketTTS,
) -> None:
    async with Harness(llm=llm(), voice=voice) as h:
        h.s.push_text("move my booking")
        await until(lambda: len(h.audio_out) * 0.02 >= 2.0, 15.0)
        assert h.s.interrupt()
        (cut,) = [e for e in h.events if isinstance(e, AgentInterrupted)]
        heard = cut.heard_text
        assert heard and REPLY.startswith(heard)
        # Every word kept in history was in the audio that played, whole.
        assert played_text(h).startswith(heard)
        assert h.s.history[-1] == ChatMessage("assistant", heard, interrupted=True)
        await asyncio.sleep(0.2)
        assert played_text(h).strip() != REPLY  # nothing more played after the cut
