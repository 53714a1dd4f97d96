"""SSE decoding and malformed stream events: skipped, counted, never fatal."""

from __future__ import annotations

import pytest

from pipelines.errors import ProviderStatusError
from pipelines.providers.base import ChatMessage, TextDelta
from pipelines.providers.cloud import AnthropicLLM, OpenAILLM
from pipelines.providers.cloud.error_map import streamed_error
from pipelines.providers.cloud.sse import MAX_EVENT_BYTES, SSEDecoder, SSEvent, json_object
from tests.fakes import TEST_API_KEY as API_KEY
from tests.fakes import AnthropicFake, OpenAIFake

REPLY = "Hello there, how can I help you today?"
GARBAGE = [
    "data: {not json\n\n",
    "data: [1, 2, 3]\n\n",
    'data: {"choices": "nope"}\n\n',
    'data: {"choices": [{"delta": "nope"}]}\n\n',
    'data: {"choices": [{"delta": {"tool_calls": [{"index": "x"}]}}]}\n\n',
    ": keep-alive comment\n\n",
]


def test_decoder_joins_multiline_data_and_ignores_comments() -> None:
    decoder = SSEDecoder()
    lines = ["event: message_start", 'data: {"a":', "data: 1}", "", ": ping", "", "data:x", ""]
    events = [e for e in map(decoder.feed, lines) if e is not None]
    assert events == [SSEvent("message_start", '{"a":\n1}'), SSEvent("message", "x")]


def test_decoder_refuses_an_endless_event() -> None:
    decoder = SSEDecoder()
    with pytest.raises(ValueError, match="too large"):
        decoder.feed("data: " + "x" * (MAX_EVENT_BYTES + 1))


@pytest.mark.parametrize("data", ["", "null", "[]", '"s"', "{bad"])
def test_json_object_rejects_non_objects(data: str) -> None:
    assert json_object(data) is None


@pytest.mark.parametrize(
    ("body", "status", "retryable"),
    [
        ({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, 529, True),
        ({"error": {"type": "invalid_request_error", "message": "bad"}}, 400, False),
        ({"error": {"code": "rate_limit_exceeded", "message": "slow down"}}, 429, True),
        ({"error": "weird"}, 500, True),
    ],
)
def test_streamed_errors_carry_a_status(
    body: dict[str, object], status: int, retryable: bool
) -> None:
    error = streamed_error(body, "p")
    assert isinstance(error, ProviderStatusError)
    assert (error.status, error.retryable) == (status, retryable)


async def test_openai_skips_and_counts_malformed_chunks(openai_fake: OpenAIFake) -> None:
    openai_fake.inject_events = GARBAGE
    llm = OpenAILLM(api_key=API_KEY, base_url=f"{openai_fake.http_url}/v1")
    events = [e async for e in llm.stream([ChatMessage("user", "hi")])]
    await llm.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == REPLY
    assert llm.invalid_events == 5


async def test_openai_error_chunk_mid_stream_fails_the_call(openai_fake: OpenAIFake) -> None:
    openai_fake.inject_events = ['data: {"error": {"type": "server_error", "message": "boom"}}\n\n']
    llm = OpenAILLM(api_key=API_KEY, base_url=f"{openai_fake.http_url}/v1")
    with pytest.raises(ProviderStatusError, match="boom") as info:
        _ = [e async for e in llm.stream([ChatMessage("user", "hi")])]
    await llm.aclose()
    assert info.value.retryable


async def test_anthropic_skips_and_counts_malformed_events(anthropic_fake: AnthropicFake) -> None:
    anthropic_fake.inject_events = [
        "event: content_block_delta\ndata: {oops\n\n",
        'event: surprise\ndata: {"type": "surprise"}\n\n',
        'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": 5}\n\n',
    ]
    llm = AnthropicLLM(api_key=API_KEY, base_url=anthropic_fake.http_url)
    events = [e async for e in llm.stream([ChatMessage("user", "hi")])]
    await llm.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == REPLY
    assert llm.invalid_events == 3
