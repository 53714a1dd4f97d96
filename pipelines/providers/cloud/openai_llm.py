"""OpenAI-compatible chat completions, streamed, with tool calls.

One adapter covers OpenAI, Groq and local servers (vLLM, llama.cpp server,
Ollama) through ``base_url``. Text deltas are yielded as they arrive; tool
calls are assembled from their fragments and yielded whole once the stream
says it is done, so a half-received call is never acted on.

The SDK builds, authenticates and sends the request and raises HTTP errors;
the event stream is read raw (``with_streaming_response``) and decoded by
``sse``, because the SDK's per-chunk model building was most of the CPU.
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
from pipelines.providers.cloud.error_map import streamed_error
from pipelines.providers.cloud.metrics import MetricsSink
from pipelines.providers.cloud.sse import SSEDecoder, as_int, as_str, json_object

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
        self.invalid_events = 0  # malformed stream chunks skipped (untrusted input)

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[LLMEvent]:
        rec = self._recorder()
        error: BaseException | None = None
        # History and tools go in ``extra_body`` (the SDK's documented pass-through),
        # not as typed params: the SDK walks typed params against its TypedDicts,
        # which cost ~0.5 ms per message here (10 ms for a 20-message history).
        # The optional fields go the same way: each typed param costs a walk.
        wire: dict[str, Any] = {"messages": to_openai_messages(messages)}
        if tools:
            wire["tools"] = [to_openai_tool(t) for t in tools]
        if self.include_usage:
            wire["stream_options"] = {"include_usage": True}
        if self.temperature is not None:
            wire["temperature"] = self.temperature
        if self.max_tokens is not None:
            wire["max_completion_tokens"] = self.max_tokens
        fragments: dict[int, _ToolFragments] = {}
        usage: LLMUsage | None = None
        try:
            async with self._client.chat.completions.with_streaming_response.create(
                model=self.model,
                messages=[],
                stream=True,
                extra_body=wire,
            ) as response:
                decoder = SSEDecoder()
                done = False
                # Read to the end even after [DONE]: a drained response keeps
                # its keep-alive connection for the next turn.
                async for line in response.iter_lines():
                    event = decoder.feed(line)
                    if event is None or done:
                        continue
                    if event.data == "[DONE]":
                        done = True
                        continue
                    chunk = json_object(event.data)
                    if chunk is None:
                        self.invalid_events += 1
                        continue
                    if "error" in chunk:
                        raise streamed_error(chunk, self.name)
                    if isinstance(chunk.get("usage"), dict):
                        u = chunk["usage"]
                        usage = LLMUsage(
                            as_int(u.get("prompt_tokens")), as_int(u.get("completion_tokens"))
                        )
                    for text in self._read_choices(chunk, fragments):
                        rec.first_byte()
                        rec.completion_tokens += 1
                        yield TextDelta(text)
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

    def _read_choices(
        self, chunk: dict[str, Any], fragments: dict[int, _ToolFragments]
    ) -> list[str]:
        """Text deltas of a chunk; tool-call fragments go into ``fragments``."""
        texts: list[str] = []
        choices = chunk.get("choices")
        if choices is None:  # e.g. a usage-only chunk from some servers
            return texts
        if not isinstance(choices, list):
            self.invalid_events += 1
            return texts
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                self.invalid_events += 1
                continue
            content = delta.get("content")
            if isinstance(content, str) and content:
                texts.append(content)
            calls = delta.get("tool_calls")
            for tc in calls if isinstance(calls, list) else ():
                index = tc.get("index") if isinstance(tc, dict) else None
                if not isinstance(index, int):
                    self.invalid_events += 1
                    continue
                frag = fragments.setdefault(index, _ToolFragments())
                frag.id = as_str(tc.get("id")) or frag.id
                function = tc.get("function")
                if isinstance(function, dict):
                    frag.name = as_str(function.get("name")) or frag.name
                    if piece := as_str(function.get("arguments")):
                        frag.arguments.append(piece)
        return texts


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
