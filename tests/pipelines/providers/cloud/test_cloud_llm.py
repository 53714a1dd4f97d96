"""OpenAI-compatible and Anthropic LLM adapters against their wire fakes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from pipelines.errors import ProviderError, ProviderStatusError, ProviderTimeout
from pipelines.providers.base import (
    ChatMessage,
    LLMEvent,
    LLMUsage,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
)
from pipelines.providers.cloud import AnthropicLLM, OpenAILLM
from pipelines.providers.cloud.anthropic_llm import to_anthropic_messages
from tests.fakes import TEST_API_KEY as API_KEY
from tests.fakes import AnthropicFake, OpenAIFake, ScriptedTool

REPLY = "Hello there, how can I help you today?"
WEATHER = ToolSpec(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}},
)
HISTORY = [
    ChatMessage("system", "You are a helpful voice agent."),
    ChatMessage("user", "What's the weather in Paris?"),
    ChatMessage(
        "assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city": "Paris"}'),)
    ),
    ChatMessage("tool", "sunny, 24C", tool_call_id="call_1"),
    ChatMessage("user", "Thanks. And tomorrow?"),
]


@pytest.fixture
async def openai_llm(openai_fake: OpenAIFake) -> AsyncIterator[OpenAILLM]:
    llm = OpenAILLM(api_key=API_KEY, base_url=f"{openai_fake.http_url}/v1", timeout=2.0)
    yield llm
    await llm.aclose()


@pytest.fixture
async def anthropic_llm(anthropic_fake: AnthropicFake) -> AsyncIterator[AnthropicLLM]:
    llm = AnthropicLLM(api_key=API_KEY, base_url=anthropic_fake.http_url, timeout=2.0)
    yield llm
    await llm.aclose()


async def collect(
    llm: OpenAILLM | AnthropicLLM, tools: tuple[ToolSpec, ...] = ()
) -> list[LLMEvent]:
    return [e async for e in llm.stream(HISTORY, tools)]


def text_of(events: list[LLMEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# ---------------------------------------------------------------- OpenAI-compatible


async def test_openai_streams_text_then_usage(
    openai_llm: OpenAILLM, openai_fake: OpenAIFake
) -> None:
    events = await collect(openai_llm)
    assert text_of(events) == REPLY
    assert len([e for e in events if isinstance(e, TextDelta)]) == 8  # streamed, not one blob
    usage = events[-1]
    assert isinstance(usage, LLMUsage) and usage.completion_tokens == 8
    request = openai_fake.requests[-1]
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    metrics = openai_llm.last_metrics
    assert metrics is not None and metrics.ttfb is not None and metrics.error is None
    assert (metrics.prompt_tokens, metrics.completion_tokens) == (usage.prompt_tokens, 8)


async def test_openai_sends_its_options_and_omits_unset_ones(openai_fake: OpenAIFake) -> None:
    url = f"{openai_fake.http_url}/v1"
    tuned = OpenAILLM(
        api_key=API_KEY, base_url=url, temperature=0.2, max_tokens=64, include_usage=False
    )
    plain = OpenAILLM(api_key=API_KEY, base_url=url)
    try:
        await collect(tuned)
        body = openai_fake.requests[-1].body
        assert (body["temperature"], body["max_completion_tokens"]) == (0.2, 64)
        assert "stream_options" not in body and body["model"] == "gpt-4o-mini"
        await collect(plain)
        body = openai_fake.requests[-1].body
        assert not {"temperature", "max_completion_tokens"} & body.keys()
        assert body["messages"][-1] == {"role": "user", "content": "Thanks. And tomorrow?"}
    finally:
        await tuned.aclose()
        await plain.aclose()


async def test_openai_sends_tool_history_in_its_wire_shape(
    openai_llm: OpenAILLM, openai_fake: OpenAIFake
) -> None:
    await collect(openai_llm, (WEATHER,))
    body = openai_fake.requests[-1].body
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": WEATHER.parameters,
        },
    }
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert body["messages"][2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert body["messages"][3]["tool_call_id"] == "call_1"


async def test_openai_assembles_streamed_tool_calls(
    openai_llm: OpenAILLM, openai_fake: OpenAIFake
) -> None:
    openai_fake.script.reply = ""
    openai_fake.script.tool_calls = [
        ScriptedTool("get_weather", '{"city": "Paris"}'),
        ScriptedTool("get_time", '{"tz": "CET"}'),
    ]
    events = await collect(openai_llm, (WEATHER,))
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"tz": "CET"}),
    ]
    assert all(c.id.startswith("call_") for c in calls)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (404, False), (408, True), (429, True), (500, True), (503, True)],
)
async def test_openai_http_errors_carry_the_retry_decision(
    openai_llm: OpenAILLM, openai_fake: OpenAIFake, status: int, retryable: bool
) -> None:
    openai_fake.knobs.error_status = status
    with pytest.raises(ProviderStatusError) as info:
        await collect(openai_llm)
    assert info.value.status == status
    assert info.value.retryable is retryable
    assert info.value.provider == "openai"
    assert openai_llm.last_metrics is not None
    assert openai_llm.last_metrics.error == "ProviderStatusError"


async def test_openai_disconnect_mid_stream_is_retryable(
    openai_llm: OpenAILLM, openai_fake: OpenAIFake
) -> None:
    openai_fake.knobs.disconnect_after = 3
    got: list[LLMEvent] = []
    with pytest.raises(ProviderError) as info:
        async for event in openai_llm.stream(HISTORY):
            got.append(event)
    assert text_of(got) == "Hello there, how"
    assert info.value.retryable


async def test_openai_hang_times_out(openai_fake: OpenAIFake) -> None:
    openai_fake.knobs.hang = True
    llm = OpenAILLM(api_key=API_KEY, base_url=f"{openai_fake.http_url}/v1", timeout=0.2)
    with pytest.raises(ProviderTimeout):
        await collect(llm)
    await llm.aclose()


# ---------------------------------------------------------------- Anthropic


async def test_anthropic_streams_text_and_usage(
    anthropic_llm: AnthropicLLM, anthropic_fake: AnthropicFake
) -> None:
    events = await collect(anthropic_llm)
    assert text_of(events) == REPLY
    usage = events[-1]
    assert isinstance(usage, LLMUsage) and usage.completion_tokens == 8 and usage.prompt_tokens > 0
    request = anthropic_fake.requests[-1]
    assert request.headers["anthropic-version"]
    assert request.body["system"] == "You are a helpful voice agent."
    assert [m["role"] for m in request.body["messages"]] == ["user", "assistant", "user"]
    tool_turn = request.body["messages"][2]["content"]
    assert tool_turn[0] == {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny, 24C"}
    assert tool_turn[1] == {"type": "text", "text": "Thanks. And tomorrow?"}


async def test_anthropic_tool_use_blocks(
    anthropic_llm: AnthropicLLM, anthropic_fake: AnthropicFake
) -> None:
    anthropic_fake.script.tool_calls = [ScriptedTool("get_weather", '{"city": "Paris"}')]
    events = await collect(anthropic_llm, (WEATHER,))
    assert text_of(events) == REPLY
    (call,) = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert call.id.startswith("toolu_")
    assert anthropic_fake.requests[-1].body["tools"][0]["input_schema"] == WEATHER.parameters


async def test_anthropic_error_event_mid_stream_is_retryable(
    anthropic_llm: AnthropicLLM, anthropic_fake: AnthropicFake
) -> None:
    anthropic_fake.error_event_after = 2
    got: list[LLMEvent] = []
    with pytest.raises(ProviderStatusError) as info:
        async for event in anthropic_llm.stream(HISTORY):
            got.append(event)
    assert text_of(got) == "Hello there,"
    assert info.value.status == 529 and info.value.retryable


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (429, True), (529, True)])
async def test_anthropic_http_errors(
    anthropic_llm: AnthropicLLM, anthropic_fake: AnthropicFake, status: int, retryable: bool
) -> None:
    anthropic_fake.knobs.error_status = status
    with pytest.raises(ProviderStatusError) as info:
        await collect(anthropic_llm)
    assert (info.value.status, info.value.retryable) == (status, retryable)


async def test_anthropic_continues_a_prefill(
    anthropic_llm: AnthropicLLM, anthropic_fake: AnthropicFake
) -> None:
    history = [ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello there, ")]
    events = [e async for e in anthropic_llm.stream(history)]
    assert text_of(events) == " how can I help you today?"
    # The API rejects a final assistant turn ending in whitespace.
    assert anthropic_fake.requests[-1].body["messages"][-1]["content"][-1]["text"] == "Hello there,"


def test_anthropic_merges_turns_and_drops_empty_prefill() -> None:
    system, turns = to_anthropic_messages(
        [
            ChatMessage("system", "a"),
            ChatMessage("user", "x"),
            ChatMessage("user", "y"),
            ChatMessage("system", "b"),
            ChatMessage("assistant", "  "),
        ]
    )
    assert system == "a\n\nb"
    assert len(turns) == 1 and len(list(turns[0]["content"])) == 2
