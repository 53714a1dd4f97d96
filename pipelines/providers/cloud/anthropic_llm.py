"""Anthropic Messages, streamed, with tool use.

System messages (wherever they sit in the history) become the ``system``
parameter; tool results become ``tool_result`` blocks in a user turn;
consecutive turns of one role are merged. A trailing assistant message is sent
as a prefill, which Anthropic continues: that is how a fallback resumes a
reply another provider started.
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
from pipelines.providers.cloud.metrics import MetricsSink

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
        # index -> [id, name, json pieces] for tool_use blocks being streamed
        tool_blocks: dict[int, tuple[str, str, list[str]]] = {}
        calls: list[ToolCall] = []
        try:
            stream = await self._client.messages.create(
                model=self.model,
                max_tokens=self.max_tokens,
                messages=turns,
                stream=True,
                **extra,
            )
            async with stream:
                async for event in stream:
                    if event.type == "message_start":
                        rec.prompt_tokens = event.message.usage.input_tokens
                    elif event.type == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            rec.first_byte()
                            tool_blocks[event.index] = (block.id, block.name, [])
                    elif event.type == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta" and delta.text:
                            rec.first_byte()
                            yield TextDelta(delta.text)
                        elif delta.type == "input_json_delta" and event.index in tool_blocks:
                            tool_blocks[event.index][2].append(delta.partial_json)
                    elif event.type == "content_block_stop" and event.index in tool_blocks:
                        tool_id, name, pieces = tool_blocks.pop(event.index)
                        calls.append(ToolCall(tool_id, name, "".join(pieces) or "{}"))
                    elif event.type == "message_delta":
                        rec.completion_tokens = event.usage.output_tokens
            for call in calls:
                yield ToolCallEvent(call)
            yield LLMUsage(rec.prompt_tokens, rec.completion_tokens)
        except Exception as exc:
            error = self._error(exc)
            raise error from None
        finally:
            self._publish(rec, error)


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
