"""Produces one agent reply: LLM tokens streamed into TTS sentence by sentence.

Runs as the reply task of a ``VoiceSession``; cancelling that task (barge-in)
cancels the LLM stream and the TTS worker with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from pipelines.errors import ProviderError
from pipelines.events import AgentTextDelta, AgentTextDone, ToolCalled
from pipelines.knowledge import Passage, Retriever, passages_prompt
from pipelines.providers.base import (
    ChatMessage,
    LLMProvider,
    LLMUsage,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    TTSProvider,
)
from pipelines.reply import ReplyRun
from pipelines.text import SentenceAggregator, SpokenSegment
from pipelines.tools import ToolBox

if TYPE_CHECKING:
    from pipelines.session import VoiceSession


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

    async def run(self, run: ReplyRun, *, say: str | None = None) -> None:
        session = self._session
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = asyncio.get_running_loop().create_task(self._speak(run, sentences))
        try:
            if say is not None:
                sentences.put_nowait(say)
                sentences.put_nowait(None)
                run.assistant_index = session.append_history(ChatMessage("assistant", say))
                session.emit(AgentTextDone(text=say, turn_id=run.turn_id))
            else:
                await self._think(run, sentences)
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

    async def _think(self, run: ReplyRun, sentences: asyncio.Queue[str | None]) -> None:
        session = self._session
        loop = asyncio.get_running_loop()
        assert run.user_text is not None
        run.user_index = session.append_history(ChatMessage("user", run.user_text))
        context = await self._context(run.user_text)
        aggregator = SentenceAggregator()
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
                    for sentence in aggregator.push(event.text):
                        sentences.put_nowait(sentence)
                elif isinstance(event, ToolCallEvent):
                    calls.append(event.call)
                elif isinstance(event, LLMUsage):
                    run.timeline.add_usage("llm_prompt_tokens", event.prompt_tokens)
                    run.timeline.add_usage("llm_completion_tokens", event.completion_tokens)
            if not calls:
                break
            await self._run_tools(run, calls)
        rest = aggregator.flush()
        if rest:
            sentences.put_nowait(rest)
        sentences.put_nowait(None)
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
