"""Produces one agent reply: LLM tokens streamed into TTS.

A voice that takes its text as a stream (``TextStreamingTTS``, or a
``FallbackTTS`` with such a voice in its chain) gets one text stream per reply,
opened as the reply starts so that connecting overlaps the LLM's first token;
every LLM delta is pushed as it arrives and the audio is played as it comes.
Which text the audio covers comes from the voice where it says (``SpeechChunk``
marks: per character, per flushed segment, per sentence) and is estimated
conservatively where it does not (``StreamAligner``).
Any other voice is given the reply sentence by sentence (``synthesize``), and
each sentence's audio length is known exactly.

Runs as the reply task of a ``VoiceSession``; cancelling that task (barge-in)
cancels the LLM stream and the TTS worker with it (a text stream is closed
with ``aclose`` at once).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from media.frames import PIPELINE_RATE
from pipelines.errors import ProviderError
from pipelines.events import AgentTextDelta, AgentTextDone, ToolCalled
from pipelines.fallback.chain import aclose_quietly
from pipelines.fallback.tts import FallbackTTS
from pipelines.fallback.tts_stream import speech_of
from pipelines.knowledge import Passage, Retriever, passages_prompt
from pipelines.providers.base import (
    ChatMessage,
    LLMProvider,
    LLMUsage,
    TextDelta,
    TextStreamingTTS,
    ToolCall,
    ToolCallEvent,
    TTSProvider,
    TTSTextStream,
)
from pipelines.reply import ReplyRun
from pipelines.text import SentenceAggregator, SpokenSegment, StreamAligner
from pipelines.tools import ToolBox

if TYPE_CHECKING:
    from pipelines.session import VoiceSession


def streams_text(tts: TTSProvider) -> bool:
    """Whether ``tts`` should be given a reply's text as a stream."""
    if isinstance(tts, FallbackTTS):
        return any(isinstance(p, TextStreamingTTS) for p in tts.providers)
    return isinstance(tts, TextStreamingTTS)


class SentenceFeed:
    """Reply text in, whole sentences out to the per-sentence speaker."""

    def __init__(self) -> None:
        self.sentences: asyncio.Queue[str | None] = asyncio.Queue()
        self._aggregator = SentenceAggregator()

    def push(self, text: str) -> None:
        for sentence in self._aggregator.push(text):
            self.sentences.put_nowait(sentence)

    def say(self, text: str) -> None:
        self.sentences.put_nowait(text)

    def end(self) -> None:
        rest = self._aggregator.flush()
        if rest:
            self.sentences.put_nowait(rest)
        self.sentences.put_nowait(None)


class StreamFeed:
    """Reply text in, pushed to the text stream (held until the stream is open).

    The stream is flushed once, at the end of the first sentence (or early
    clause): a voice that waits for a long buffer (ElevenLabs' chunk schedule)
    starts on it, and a fallback chain's first-byte deadline starts running
    there rather than when the LLM finishes. Later sentences are left to the
    voice's own pacing (Deepgram flushes by itself and caps its flushes).
    The sentence end is seen in the delta that may already start the next word
    (" Any"): a socket voice sends whole words only, so that flush leaves the
    word for later rather than voicing half of it.
    """

    def __init__(self, run: ReplyRun) -> None:
        self.aligner = StreamAligner(PIPELINE_RATE)
        self._run = run
        self._stream: TTSTextStream | None = None
        self._pending = ""
        self._first_sentence: SentenceAggregator | None = SentenceAggregator()
        self._flush_pending = False
        self._ended = False

    def push(self, text: str) -> None:
        if self._ended or not text:
            return
        self.aligner.push(text)
        self._run.timeline.add_usage("tts_characters", len(text))
        if self._stream is not None:
            self._stream.push_text(text)
        else:
            self._pending += text
        if self._first_sentence is not None and self._first_sentence.push(text):
            self._first_sentence = None
            if self._stream is not None:
                self._stream.flush()
            else:
                self._flush_pending = True

    def say(self, text: str) -> None:
        self.push(text)

    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        # The reply's text is all here: its last word can be credited from a mark now.
        self._run.segments.extend(self.aligner.complete())
        if self._stream is not None:
            self._stream.end_input()

    def attach(self, stream: TTSTextStream) -> None:
        self._stream = stream
        pending, self._pending = self._pending, ""
        if pending:
            stream.push_text(pending)
        if self._flush_pending:
            stream.flush()
        if self._ended:
            stream.end_input()


Feed = SentenceFeed | StreamFeed


class Responder:
    def __init__(
        self,
        *,
        session: VoiceSession,
        llm: LLMProvider,
        tts: TTSProvider,
        tools: ToolBox,
        retriever: Retriever | None,
    ) -> None:
        self._session = session
        self._llm = llm
        self._tts = tts
        self._tools = tools
        self._retriever = retriever
        self.streaming = streams_text(tts)

    async def run(self, run: ReplyRun, *, say: str | None = None) -> None:
        session = self._session
        loop = asyncio.get_running_loop()
        feed: Feed
        if self.streaming:
            feed = StreamFeed(run)
            speaker = loop.create_task(self._speak_stream(run, feed))
        else:
            feed = SentenceFeed()
            speaker = loop.create_task(self._speak(run, feed.sentences))
        try:
            if say is not None:
                feed.say(say)
                feed.end()
                run.assistant_index = session.append_history(ChatMessage("assistant", say))
                session.emit(AgentTextDone(text=say, turn_id=run.turn_id))
            else:
                await self._think(run, feed)
            await speaker
            session.finish_synthesis(run)
        except asyncio.CancelledError:
            speaker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await speaker
            raise
        except ProviderError as exc:
            speaker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await speaker
            session.fail_reply(run, "provider_error", f"{exc.provider or 'provider'}: {exc}")

    async def _think(self, run: ReplyRun, feed: Feed) -> None:
        session = self._session
        loop = asyncio.get_running_loop()
        assert run.user_text is not None
        run.user_index = session.append_history(ChatMessage("user", run.user_text))
        context = await self._context(run.user_text)
        spoken: list[str] = []
        for _round in range(session.config.max_tool_rounds + 1):
            messages = self._messages(context)
            calls: list[ToolCall] = []
            run.timeline.mark("llm_request", loop.time())
            async for event in self._llm.stream(messages, self._tools.specs):
                if isinstance(event, TextDelta):
                    if not event.text:
                        continue
                    run.timeline.mark("llm_first_token", loop.time())
                    spoken.append(event.text)
                    session.emit(AgentTextDelta(text=event.text, turn_id=run.turn_id))
                    feed.push(event.text)
                elif isinstance(event, ToolCallEvent):
                    calls.append(event.call)
                elif isinstance(event, LLMUsage):
                    run.timeline.add_usage("llm_prompt_tokens", event.prompt_tokens)
                    run.timeline.add_usage("llm_completion_tokens", event.completion_tokens)
            if not calls:
                break
            await self._run_tools(run, calls)
        feed.end()
        text = "".join(spoken).strip()
        if text:
            run.assistant_index = session.append_history(ChatMessage("assistant", text))
        session.emit(AgentTextDone(text=text, turn_id=run.turn_id))

    async def _context(self, query: str) -> list[Passage]:
        if self._retriever is None:
            return []
        budget = self._session.config.retrieval_budget_secs
        try:
            return list(await asyncio.wait_for(self._retriever.retrieve(query), budget))
        except TimeoutError:
            return []

    def _messages(self, passages: list[Passage]) -> list[ChatMessage]:
        system = self._session.config.system_prompt
        if passages:
            system = f"{system}\n\n{passages_prompt(passages)}"
        return [ChatMessage("system", system), *self._session.history]

    async def _run_tools(self, run: ReplyRun, calls: list[ToolCall]) -> None:
        session = self._session
        session.append_history(ChatMessage("assistant", "", tool_calls=tuple(calls)))
        for call in calls:
            result = await self._tools.call(call)
            session.append_history(ChatMessage("tool", result, tool_call_id=call.id))
            session.emit(
                ToolCalled(
                    turn_id=run.turn_id, name=call.name, arguments=call.arguments, result=result
                )
            )

    async def _speak(self, run: ReplyRun, sentences: asyncio.Queue[str | None]) -> None:
        session = self._session
        loop = asyncio.get_running_loop()
        while (sentence := await sentences.get()) is not None:
            run.timeline.add_usage("tts_characters", len(sentence))
            samples = 0
            async for chunk in self._tts.synthesize(sentence):
                if not chunk:
                    continue
                run.timeline.mark("tts_first_audio", loop.time())
                samples += session.enqueue_audio(run, chunk, self._tts.sample_rate)
            run.segments.append(SpokenSegment(sentence, samples))

    async def _speak_stream(self, run: ReplyRun, feed: StreamFeed) -> None:
        session = self._session
        loop = asyncio.get_running_loop()
        tts = self._tts
        assert isinstance(tts, TextStreamingTTS)
        stream = await tts.open_stream()
        chunks = speech_of(stream)
        try:
            feed.attach(stream)
            async for chunk in chunks:
                samples = 0
                if chunk.audio:
                    run.timeline.mark("tts_first_audio", loop.time())
                    samples = session.enqueue_audio(run, chunk.audio, tts.sample_rate)
                run.segments.extend(feed.aligner.add(chunk, samples))
            run.segments.extend(feed.aligner.finish())
        finally:
            # Barge-in lands here too: the voice stops now, its audio is dropped.
            await aclose_quietly(stream)
            await aclose_quietly(chunks)
