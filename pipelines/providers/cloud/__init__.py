"""Cloud provider adapters: one module per provider and stage.

Each adapter takes ``api_key`` and ``base_url`` (so tests and self-hosted
compatible servers can point it anywhere), records a ``ProviderMetrics`` per
call in ``last_metrics`` (and hands it to ``on_metrics``), maps failures to
``pipelines.errors``, and never shows its key in a repr, a log or an error.
"""

from pipelines.providers.cloud.anthropic_llm import AnthropicLLM
from pipelines.providers.cloud.deepgram_stt import DeepgramSTT, DeepgramSTTStream
from pipelines.providers.cloud.deepgram_tts import DeepgramTTS
from pipelines.providers.cloud.deepgram_ws import DeepgramStreamingTTS
from pipelines.providers.cloud.elevenlabs_tts import ElevenLabsTTS
from pipelines.providers.cloud.elevenlabs_ws import ElevenLabsStreamingTTS
from pipelines.providers.cloud.metrics import MetricsSink, ProviderMetrics
from pipelines.providers.cloud.openai_llm import OpenAILLM
from pipelines.providers.cloud.openai_stt import OpenAISTT
from pipelines.providers.cloud.openai_tts import OpenAITTS

__all__ = [
    "AnthropicLLM",
    "DeepgramSTT",
    "DeepgramSTTStream",
    "DeepgramStreamingTTS",
    "DeepgramTTS",
    "ElevenLabsStreamingTTS",
    "ElevenLabsTTS",
    "MetricsSink",
    "OpenAILLM",
    "OpenAISTT",
    "OpenAITTS",
    "ProviderMetrics",
]
