"""Anthropic Messages, streamed, with tool use.

System messages (wherever they sit in the history) become the ``system``
parameter; tool results become ``tool_result`` blocks in a user turn;
consecutive turns of one role are merged. A trailing assistant message is sent
as a prefill, which Anthropic continues: that is how a fallback resumes a
reply another provider started.

The SDK sends the request and raises HTTP errors; the event stream is read raw
and decoded by ``sse`` (the SDK's per-event models cost most of the CPU).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import anthropic
from anthropic.types import MessageParam, ToolParam

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
from pipelines.providers.cloud.metrics import MetricsRecorder, MetricsSink
from pipelines.providers.cloud.sse import SSEDecoder, as_int, as_str, json_object

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MAX_TOKENS = 1024


class AnthropicLLM(CloudAdapter):
    stage = "llm"

    def __init__(
        self,
        *,
        api_key: str,
        model: str = "claude-3-5-haiku-latest",
        base_url: str = DEFAULT_BASE_URL,
        name: str = "anthropic",
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        on_metrics: MetricsSink | None = None,
    ) -> None:
        super().__init__(name=name, base_url=base_url, api_key=api_key, on_metrics=on_metrics)
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self.invalid_events = 0  # malformed stream events skipped (untrusted input)

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[LLMEvent]:
        rec = self._recorder()
        error: BaseException | None = None
        system, turns = to_anthropic_messages(messages)
        extra: dict[str, Any] = {}
        if system:
            extra["system"] = system
        if tools:
            extra["tools"] = [to_anthropic_tool(t) for t in tools]
        if self.temperature is not None:
            extra["temperature"] = self.temperature
        blocks: dict[int, tuple[str, str, list[str]]] = {}  # tool_use blocks in flight
        calls: list[ToolCall] = []
        try:
            async with self._client.messages.with_streaming_response.create(
                model=self.model,
                max_tokens=self.max_tokens,
                messages=turns,
                stream=True,
                **extra,
            ) as response:
                decoder = SSEDecoder()
                async for line in response.iter_lines():
                    event = decoder.feed(line)
                    if event is None or event.event == "ping":
                        continue
                    data = json_object(event.data)
                    if data is None:
                        self.invalid_events += 1
                        continue
                    if event.event == "error" or data.get("type") == "error":
                        raise streamed_error(data, self.name)
                    text = self._on_event(data, rec, blocks, calls)
                    if text:
                        rec.first_byte()
                        yield TextDelta(text)
            for call in calls:
                yield ToolCallEvent(call)
            yield LLMUsage(rec.prompt_tokens, rec.completion_tokens)
        except Exception as exc:
            error = self._error(exc)
            raise error from None
        finally:
            self._publish(rec, error)

    def _on_event(
        self,
        data: dict[str, Any],
        rec: MetricsRecorder,
        blocks: dict[int, tuple[str, str, list[str]]],
        calls: list[ToolCall],
    ) -> str:
        """Apply one stream event; the text it carries, if any."""
        kind = data.get("type")
        index = data.get("index")
        if kind == "content_block_delta":
            delta = data.get("delta")
            if not isinstance(delta, dict):
                self.invalid_events += 1
            elif delta.get("type") == "text_delta":
                return as_str(delta.get("text"))
            elif delta.get("type") == "input_json_delta" and index in blocks:
                blocks[index][2].append(as_str(delta.get("partial_json")))
        elif kind == "content_block_start":
            block = data.get("content_block")
            if not isinstance(block, dict) or not isinstance(index, int):
                self.invalid_events += 1
            elif block.get("type") == "tool_use":
                rec.first_byte()
                blocks[index] = (as_str(block.get("id")), as_str(block.get("name")), [])
        elif kind == "content_block_stop":
            if index in blocks:
                tool_id, name, pieces = blocks.pop(index)
                calls.append(ToolCall(tool_id, name, "".join(pieces) or "{}"))
        elif kind == "message_start":
            message = data.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            rec.prompt_tokens = as_int(usage.get("input_tokens")) if isinstance(usage, dict) else 0
        elif kind == "message_delta":
            usage = data.get("usage")
            if isinstance(usage, dict):
                rec.completion_tokens = as_int(usage.get("output_tokens"))
        elif kind != "message_stop":
            self.invalid_events += 1
        return ""


def to_anthropic_tool(tool: ToolSpec) -> ToolParam:
    return cast(
        ToolParam,
        {"name": tool.name, "description": tool.description, "input_schema": tool.parameters},
    )


def to_anthropic_messages(messages: Sequence[ChatMessage]) -> tuple[str, list[MessageParam]]:
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for m in messages:
        if m.role == "system":
            system.append(m.content)
        elif m.role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": m.tool_call_id or "",
                "content": m.content,
            }
            add("user", [block])
        elif m.role == "assistant":
            blocks: list[dict[str, Any]] = []
            if m.content:
                blocks.append({"type": "text", "text": m.content})
            for c in m.tool_calls:
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": c.id,
                        "name": c.name,
                        "input": _json_object(c.arguments),
                    }
                )
            if blocks:
                add("assistant", blocks)
        else:
            add("user", [{"type": "text", "text": m.content}])
    # The API rejects a final assistant turn ending in whitespace (a prefill).
    if turns and turns[-1]["role"] == "assistant":
        content = turns[-1]["content"]
        if content[-1].get("type") == "text":
            content[-1]["text"] = content[-1]["text"].rstrip()
            if not content[-1]["text"]:
                content.pop()
        if not content:
            turns.pop()
    return "\n\n".join(system), cast(list[MessageParam], turns)


def _json_object(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
