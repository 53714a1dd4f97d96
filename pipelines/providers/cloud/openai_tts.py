"""OpenAI speech (``/v1/audio/speech``) streamed as raw PCM.

``response_format="pcm"`` is 24 kHz, 16-bit little-endian mono; the rate is
fixed by the API, so ``sample_rate`` is not configurable here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import openai

from pipelines.providers.cloud.adapter import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from pipelines.providers.cloud.metrics import MetricsSink
from pipelines.providers.cloud.tts_base import CloudTTS

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PCM_RATE = 24_000


class OpenAITTS(CloudTTS):
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        model: str = "gpt-4o-mini-tts",
        voice: str = "alloy",
        name: str = "openai-tts",
        speed: float | None = None,
        instructions: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        on_metrics: MetricsSink | None = None,
    ) -> None:
        super().__init__(name=name, base_url=base_url, api_key=api_key, on_metrics=on_metrics)
        self.model = model
        self.voice = voice
        self.speed = speed
        self.instructions = instructions
        self.sample_rate = PCM_RATE
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def _chunks(self, text: str) -> AsyncGenerator[bytes, None]:
        extra: dict[str, object] = {}
        if self.speed is not None:
            extra["speed"] = self.speed
        if self.instructions:
            extra["instructions"] = self.instructions
        async with self._client.audio.speech.with_streaming_response.create(
            model=self.model,
            voice=self.voice,
            input=text,
            response_format="pcm",
            **extra,  # type: ignore[arg-type]
        ) as response:
            async for chunk in response.iter_bytes():
                yield chunk
