"""Deepgram Aura text-to-speech (``POST /v1/speak``), streamed as linear16 PCM."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import httpx

from pipelines.providers.cloud.adapter import DEFAULT_TIMEOUT
from pipelines.providers.cloud.deepgram_client import deepgram_client
from pipelines.providers.cloud.deepgram_stt import DEFAULT_BASE_URL
from pipelines.providers.cloud.metrics import MetricsSink
from pipelines.providers.cloud.tts_base import CloudTTS

# linear16 rates Aura accepts.
AURA_RATES = (8000, 16000, 24000, 32000, 48000)


class DeepgramTTS(CloudTTS):
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        model: str = "aura-2-thalia-en",
        name: str = "deepgram-tts",
        sample_rate: int = 24_000,
        timeout: float = DEFAULT_TIMEOUT,
        on_metrics: MetricsSink | None = None,
    ) -> None:
        if sample_rate not in AURA_RATES:
            raise ValueError(f"Aura linear16 supports {AURA_RATES} Hz, not {sample_rate}")
        super().__init__(name=name, base_url=base_url, api_key=api_key, on_metrics=on_metrics)
        self.model = model
        self.sample_rate = sample_rate
        # Our own HTTP client, so aclose() releases its connections; no SDK retries.
        self._http = httpx.AsyncClient(timeout=timeout)
        self._client = deepgram_client(api_key=api_key, base_url=base_url, httpx_client=self._http)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _chunks(self, text: str) -> AsyncGenerator[bytes, None]:
        # container=none: raw samples, no WAV header to strip.
        async for chunk in self._client.speak.v1.audio.generate(
            text=text,
            model=self.model,
            encoding="linear16",
            sample_rate=self.sample_rate,
            container="none",
        ):
            yield chunk
