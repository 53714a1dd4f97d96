"""One text reply from an agent: the same LLM boundary as voice, without audio.

The agent's LLM list is tried in order; a provider that fails before saying
anything is replaced by the next. Once text has streamed to the client a
failure ends the reply (what was said is kept and marked as cut short).
Retrieval joins when a retriever is configured; tool calls are left to the
pipelines' engine (text chat offers none yet).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from control_plane.agents.resolve import ResolvedAgent
from control_plane.services import LLMFactory
from pipelines.errors import ConfigError, ProviderError
from pipelines.knowledge import Retriever, passages_prompt
from pipelines.providers.base import ChatMessage, LLMUsage, TextDelta

RETRIEVAL_BUDGET_SECS = 0.5


@dataclass(frozen=True, slots=True)
class ReplyDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    text: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    # True when the reply stopped early: a provider failed mid-way or the limit hit.
    truncated: bool = False
    error: str | None = None


ReplyEvent = ReplyDelta | ReplyDone


def system_prompt(agent: ResolvedAgent) -> str:
    prompt = agent.system_prompt
    if agent.personality:
        prompt = f"{prompt}\n\nPersonality: {agent.personality}"
    return prompt


def build_messages(
    agent: ResolvedAgent, history: Sequence[ChatMessage], extra_system: str = ""
) -> list[ChatMessage]:
    system = system_prompt(agent)
    if extra_system:
        system = f"{system}\n\n{extra_system}"
    recent = list(history)[-agent.limits.max_history_messages :]
    return [ChatMessage("system", system), *recent]


async def _context(retriever: Retriever | None, query: str) -> str:
    if retriever is None or not query:
        return ""
    try:
        passages = await asyncio.wait_for(retriever.retrieve(query), RETRIEVAL_BUDGET_SECS)
    except TimeoutError:
        return ""
    return passages_prompt(passages) if passages else ""


async def reply(
    agent: ResolvedAgent,
    history: Sequence[ChatMessage],
    llm_factory: LLMFactory,
    *,
    retriever: Retriever | None = None,
) -> AsyncIterator[ReplyEvent]:
    """Streams ``ReplyDelta``s then exactly one ``ReplyDone`` (also on failure)."""
    last_user = next((m.content for m in reversed(history) if m.role == "user"), "")
    messages = build_messages(agent, history, await _context(retriever, last_user))
    errors: list[str] = []
    for choice in agent.llm:
        spoken: list[str] = []
        usage = LLMUsage(0, 0)
        try:
            llm = llm_factory([choice.spec()])
            async for event in llm.stream(messages):
                if isinstance(event, TextDelta) and event.text:
                    spoken.append(event.text)
                    yield ReplyDelta(event.text)
                    if len(spoken) >= agent.limits.max_reply_tokens:
                        yield ReplyDone("".join(spoken), choice.provider, 0, len(spoken), True)
                        return
                elif isinstance(event, LLMUsage):
                    usage = event
        except (ProviderError, ConfigError, TypeError) as exc:
            # TypeError: options that do not fit the adapter (a config error).
            message = f"{choice.provider}: {exc}"
            if spoken:
                yield ReplyDone("".join(spoken), choice.provider, 0, len(spoken), True, message)
                return
            errors.append(message)
            continue
        yield ReplyDone(
            "".join(spoken), choice.provider, usage.prompt_tokens, usage.completion_tokens
        )
        return
    yield ReplyDone("", "", 0, 0, True, "; ".join(errors) or "no LLM configured")
