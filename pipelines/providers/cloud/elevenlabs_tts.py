"""ElevenLabs streaming text-to-speech (``/v1/text-to-speech/{voice_id}/stream``).

Asks for ``pcm_<rate>`` output so no decoding is needed. Chunks are passed on
as the network delivers them (``chunk_size=None``) instead of the SDK's
default re-buffering into 1 KiB pieces.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, cast

import httpx
from elevenlabs.client import AsyncElevenLabs

from pipelines.providers.cloud.adapter import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from pipelines.providers.cloud.metrics import MetricsSink
from pipelines.providers.cloud.tts_base import CloudTTS

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
PCM_RATES = (8000, 16000, 22050, 24000, 44100, 48000)


class ElevenLabsTTS(CloudTTS):
    def __init__(
        self,
        *,
        api_key: str,
        voice_id: str,
        base_url: str = DEFAULT_BASE_URL,
        model_id: str = "eleven_flash_v2_5",
        name: str = "elevenlabs",
        sample_rate: int = 16_000,
        optimize_streaming_latency: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        on_metrics: MetricsSink | None = None,
    ) -> None:
        if sample_rate not in PCM_RATES:
            raise ValueError(f"ElevenLabs pcm output supports {PCM_RATES} Hz, not {sample_rate}")
        super().__init__(name=name, base_url=base_url, api_key=api_key, on_metrics=on_metrics)
        self.voice_id = voice_id
        self.model_id = model_id
        self.sample_rate = sample_rate
        self.optimize_streaming_latency = optimize_streaming_latency
        self._max_retries = max_retries
        # Our own HTTP client, so aclose() releases its connections.
        self._http = httpx.AsyncClient(timeout=timeout)
        self._client = AsyncElevenLabs(
            api_key=api_key, base_url=base_url, timeout=timeout, httpx_client=self._http
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _chunks(self, text: str) -> AsyncGenerator[bytes, None]:
        options = cast(Any, {"chunk_size": None, "max_retries": self._max_retries})
        async for chunk in self._client.text_to_speech.stream(
            self.voice_id,
            text=text,
            model_id=self.model_id,
            output_format=cast(Any, f"pcm_{self.sample_rate}"),
            optimize_streaming_latency=self.optimize_streaming_latency,
            request_options=options,
        ):
            yield chunk
