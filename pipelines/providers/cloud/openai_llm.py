"""OpenAI-compatible chat completions, streamed, with tool calls.

One adapter covers OpenAI, Groq and local servers (vLLM, llama.cpp server,
Ollama) through ``base_url``. Text deltas are yielded as they arrive; tool
calls are assembled from their fragments and yielded whole once the stream
says it is done, so a half-received call is never acted on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from pipelines.providers.base import (
    ChatMessage,
    LLMEvent,
    LLMUsage,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
)
from pipelines.providers.cloud.adapter import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, CloudAdapter
from pipelines.providers.cloud.metrics import MetricsSink

DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass
class _ToolFragments:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAILLM(CloudAdapter):
    stage = "llm"

    def __init__(
        self,
        *,
        api_key: str,
        model: str = "gpt-4o-mini",
        base_url: str = DEFAULT_BASE_URL,
        name: str = "openai",
        temperature: float | None = None,
        max_tokens: int | None = None,
        # Ask for a final usage chunk; some compatible servers reject the option.
        include_usage: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        on_metrics: MetricsSink | None = None,
    ) -> None:
        super().__init__(name=name, base_url=base_url, api_key=api_key, on_metrics=on_metrics)
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.include_usage = include_usage
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[LLMEvent]:
        rec = self._recorder()
        error: BaseException | None = None
        extra: dict[str, Any] = {}
        if tools:
            extra["tools"] = [to_openai_tool(t) for t in tools]
        if self.include_usage:
            extra["stream_options"] = {"include_usage": True}
        if self.temperature is not None:
            extra["temperature"] = self.temperature
        if self.max_tokens is not None:
            extra["max_completion_tokens"] = self.max_tokens
        fragments: dict[int, _ToolFragments] = {}
        usage: LLMUsage | None = None
        try:
            stream = await self._client.chat.completions.create(
                model=self.model,
                messages=to_openai_messages(messages),
                stream=True,
                **extra,
            )
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = LLMUsage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content:
                            rec.first_byte()
                            rec.completion_tokens += 1
                            yield TextDelta(delta.content)
                        for tc in delta.tool_calls or ():
                            rec.first_byte()
                            frag = fragments.setdefault(tc.index, _ToolFragments())
                            frag.id = tc.id or frag.id
                            if tc.function is not None:
                                frag.name = tc.function.name or frag.name
                                if tc.function.arguments:
                                    frag.arguments.append(tc.function.arguments)
            for index in sorted(fragments):
                frag = fragments[index]
                call = ToolCall(frag.id or f"call_{index}", frag.name, "".join(frag.arguments))
                yield ToolCallEvent(call)
            if usage is not None:
                rec.prompt_tokens = usage.prompt_tokens
                rec.completion_tokens = usage.completion_tokens
                yield usage
        except Exception as exc:
            error = self._error(exc)
            raise error from None
        finally:
            self._publish(rec, error)


def to_openai_tool(tool: ToolSpec) -> ChatCompletionToolParam:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def to_openai_messages(messages: Sequence[ChatMessage]) -> list[ChatCompletionMessageParam]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content})
        elif m.role == "assistant" and m.tool_calls:
            calls = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in m.tool_calls
            ]
            out.append({"role": "assistant", "content": m.content or None, "tool_calls": calls})
        else:
            out.append({"role": m.role, "content": m.content})
    return cast(list[ChatCompletionMessageParam], out)
