"""A reply written as an LLM writes it (space-prefixed tokens, words split
across tokens) through the real socket adapters: the feed's flush at the end of
the first sentence, and the adapters' own, never send half a word."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from media.frames import PIPELINE_RATE
from pipelines.providers.base import (
    ChatMessage,
    LLMEvent,
    SpeechChunk,
    TextDelta,
    TextMark,
    ToolSpec,
)
from pipelines.providers.cloud import DeepgramStreamingTTS, ElevenLabsStreamingTTS
from pipelines.providers.cloud.tts_socket import CloudSocketTTS
from pipelines.providers.fake import FakeLLM
from pipelines.reply import ReplyRun
from pipelines.responder import StreamFeed
from pipelines.text import SpokenSegment, heard_text
from pipelines.timeline import TurnTimeline
from tests.fakes import TEST_API_KEY as API_KEY
from tests.fakes import DeepgramFake, ElevenLabsFake
from tests.fakes.audio import decode_text
from tests.pipelines.harness import Harness

RATE = 16_000
TOKENS = [
    *("Sure", ".", " Any", "thing", " else", " I", " can", " do", "?"),
    *(" It", " is", " $3.", "50", " a", " night", ",", " e.g.", " on", " Fri", "days", "."),
]
REPLY = "".join(TOKENS)


class TokenLLM(FakeLLM):
    """Streams a fixed list of tokens, as an LLM would split its reply."""

    def __init__(self, tokens: Sequence[str]) -> None:
        super().__init__(name="token-llm")
        self._tokens = list(tokens)

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[LLMEvent]:
        for token in self._tokens:
            await asyncio.sleep(0.01)
            yield TextDelta(token)


async def until_done(h: Harness, within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not h.of("agent.audio.done"):
        if loop.time() > deadline:
            raise AssertionError("the reply did not finish in time")
        await asyncio.sleep(0.02)


def at_word_edge(text: str, offset: int) -> bool:
    return offset in (0, len(text)) or text[offset - 1].isspace() or text[offset].isspace()


def sent_and_flushes(messages: list[dict[str, Any]], kind: str) -> tuple[str, list[int]]:
    sent, flushes = "", []
    for message in messages[1:] if kind == "elevenlabs" else messages:
        if message.get("type") == "Flush" or message.get("flush") is True:
            flushes.append(len(sent))
        elif message.get("type", "Speak") == "Speak":
            sent += message.get("text", "")
    return sent, flushes


@pytest.mark.parametrize("kind", ["elevenlabs", "deepgram"])
async def test_the_first_sentence_flush_never_cuts_the_next_word(kind: str) -> None:
    fake: ElevenLabsFake | DeepgramFake = (
        ElevenLabsFake() if kind == "elevenlabs" else DeepgramFake()
    )
    async with fake:
        voice: CloudSocketTTS
        if kind == "elevenlabs":
            voice = ElevenLabsStreamingTTS(
                api_key=API_KEY, voice_id="voice-1", base_url=fake.http_url, sample_rate=RATE
            )
        else:
            voice = DeepgramStreamingTTS(api_key=API_KEY, base_url=fake.http_url, sample_rate=RATE)
        async with Harness(llm=TokenLLM(TOKENS), voice=voice) as h:
            h.s.push_text("anything else?")
            await until_done(h)
            assert h.s.history[-1] == ChatMessage("assistant", REPLY)
            pcm = b"".join(f.pcm for f in h.audio_out)
            assert decode_text(pcm, RATE).split() == REPLY.split()
        sent, flushes = sent_and_flushes(fake.requests[-1].messages, kind)
        assert sent == REPLY
        # The feed flushed at the end of "Sure.", with " Any" already written:
        # that flush (and every other) falls on a word edge.
        assert flushes and flushes[0] == len("Sure. ")
        assert all(at_word_edge(REPLY, at) for at in flushes)
        if kind == "deepgram":
            # Its own flushes come at sentence ends: not in "$3.50" nor after "e.g.".
            assert flushes == [len("Sure. "), len("Sure. Anything else I can do? "), len(REPLY)]


def test_stream_feed_end_credits_the_last_word_from_its_mark() -> None:
    run = ReplyRun(turn_id=1, timeline=TurnTimeline(1), user_text="hi", played_at_start=0)
    feed = StreamFeed(run)
    text = "Sure, I can"
    feed.push(text)
    ms = PIPELINE_RATE // 1000
    # The voice's marks: "Sure, I " voiced by 800 ms, all of it by 1100 ms.
    chunk = SpeechChunk(b"", (TextMark(len("Sure, I "), 800.0), TextMark(len(text), 1100.0)))
    run.segments.extend(feed.aligner.add(chunk, 1100 * ms))
    assert heard_text(run.segments, 10_000 * ms) == "Sure, I"  # "can" may go on
    feed.end()  # the LLM is done: "can" is the last word, over at its mark
    assert run.segments[-1] == SpokenSegment("can", 300 * ms, True)
    assert heard_text(run.segments, 1100 * ms) == text
    assert heard_text(run.segments, 1100 * ms - 1) == "Sure, I"
