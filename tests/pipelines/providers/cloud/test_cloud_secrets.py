"""API keys never reach logs, reprs or error messages, even at DEBUG level."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from media.frames import AudioFrame
from pipelines.errors import ProviderError
from pipelines.providers.base import ChatMessage
from pipelines.providers.cloud import (
    AnthropicLLM,
    DeepgramStreamingTTS,
    DeepgramSTT,
    DeepgramTTS,
    ElevenLabsStreamingTTS,
    ElevenLabsTTS,
    OpenAILLM,
    OpenAISTT,
    OpenAITTS,
)
from pipelines.providers.cloud.adapter import CloudAdapter

WRONG_KEY = "sk-wrong-7d1e0c55aa93"


async def run(adapter: CloudAdapter) -> None:
    """One call through whichever stage the adapter serves."""
    if isinstance(adapter, (OpenAILLM, AnthropicLLM)):
        _ = [e async for e in adapter.stream([ChatMessage("user", "hi")])]
    elif isinstance(adapter, (DeepgramSTT, OpenAISTT)):
        stream = await adapter.open_stream()
        try:
            stream.push_frame(AudioFrame.silence())
            stream.flush()
            async for t in stream:
                if t.is_final:
                    break
        finally:
            await stream.aclose()
    else:
        assert isinstance(
            adapter,
            (ElevenLabsTTS, DeepgramTTS, OpenAITTS, ElevenLabsStreamingTTS, DeepgramStreamingTTS),
        )
        _ = [c async for c in adapter.synthesize("hi")]


Builder = Callable[[str, Any], CloudAdapter]

BUILDERS: dict[str, Builder] = {
    "openai-llm": lambda k, f: OpenAILLM(api_key=k, base_url=f"{f.openai.http_url}/v1"),
    "anthropic": lambda k, f: AnthropicLLM(api_key=k, base_url=f.anthropic.http_url),
    "deepgram-stt": lambda k, f: DeepgramSTT(api_key=k, base_url=f.deepgram.http_url),
    "openai-stt": lambda k, f: OpenAISTT(api_key=k, base_url=f"{f.openai.http_url}/v1"),
    "elevenlabs": lambda k, f: ElevenLabsTTS(
        api_key=k, voice_id="voice-1", base_url=f.elevenlabs.http_url
    ),
    "deepgram-tts": lambda k, f: DeepgramTTS(api_key=k, base_url=f.deepgram.http_url),
    "openai-tts": lambda k, f: OpenAITTS(api_key=k, base_url=f"{f.openai.http_url}/v1"),
    "elevenlabs-ws": lambda k, f: ElevenLabsStreamingTTS(
        api_key=k, voice_id="voice-1", base_url=f.elevenlabs.http_url
    ),
    "deepgram-ws": lambda k, f: DeepgramStreamingTTS(api_key=k, base_url=f.deepgram.http_url),
}


@pytest.mark.parametrize("which", sorted(BUILDERS))
async def test_wrong_key_is_never_shown(
    which: str, caplog: pytest.LogCaptureFixture, all_fakes: Any
) -> None:
    caplog.set_level(logging.DEBUG)  # SDKs and HTTP/WebSocket libraries log requests here
    adapter = BUILDERS[which](WRONG_KEY, all_fakes)
    try:
        with pytest.raises(ProviderError) as info:
            await run(adapter)
    finally:
        await adapter.aclose()
    error = info.value
    shown = [
        caplog.text,
        repr(adapter),
        str(error),
        repr(error),
        "".join(traceback.format_exception(error)),
        repr(adapter.last_metrics),
    ]
    assert caplog.text  # the libraries did log at DEBUG: the check is not vacuous
    for text in shown:
        assert WRONG_KEY not in text


async def test_right_key_is_never_logged_on_success(
    caplog: pytest.LogCaptureFixture, all_fakes: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    key = all_fakes.openai.api_key
    for build in BUILDERS.values():
        adapter = build(key, all_fakes)
        try:
            await run(adapter)
        finally:
            await adapter.aclose()
        assert key not in repr(adapter)
    assert key not in caplog.text


async def test_repr_names_the_endpoint_not_the_key() -> None:
    adapter = OpenAILLM(api_key=WRONG_KEY, base_url="http://127.0.0.1:9/v1")
    assert repr(adapter) == "OpenAILLM(name='openai', base_url='http://127.0.0.1:9/v1')"
    await adapter.aclose()
