"""Builds providers from their specs, once per distinct spec per process.

Local models are heavy (a Whisper model, a GGUF file): every session of every
agent that names the same spec shares one instance. Adapters are imported
lazily so an agent that never uses a provider never pays for its import.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pipelines.agent import ProviderSpec
from pipelines.errors import ConfigError
from pipelines.providers.base import LLMProvider, STTProvider, TTSProvider

Stage = Literal["stt", "llm", "tts"]

# name -> "module:Class" for each stage.
_ADAPTERS: dict[Stage, dict[str, str]] = {
    "stt": {
        "fake": "pipelines.providers.fake:FakeSTT",
        "whisper": "pipelines.providers.local.whisper_stt:WhisperSTT",
        "deepgram": "pipelines.providers.cloud.deepgram_stt:DeepgramSTT",
        "openai": "pipelines.providers.cloud.openai_stt:OpenAISTT",
    },
    "llm": {
        "fake": "pipelines.providers.fake:FakeLLM",
        "llama": "pipelines.providers.local.llama_llm:LlamaLLM",
        "openai": "pipelines.providers.cloud.openai_llm:OpenAILLM",
        "anthropic": "pipelines.providers.cloud.anthropic_llm:AnthropicLLM",
    },
    "tts": {
        "fake": "pipelines.providers.fake:FakeTTS",
        "hibari": "pipelines.providers.local.hibari_tts:HibariTTS",
        "elevenlabs": "pipelines.providers.cloud.elevenlabs_tts:ElevenLabsTTS",
        "deepgram": "pipelines.providers.cloud.deepgram_tts:DeepgramTTS",
        # Input streaming over one WebSocket per reply: text in as the LLM writes it.
        "elevenlabs-ws": "pipelines.providers.cloud.elevenlabs_ws:ElevenLabsStreamingTTS",
        "deepgram-ws": "pipelines.providers.cloud.deepgram_ws:DeepgramStreamingTTS",
        "openai": "pipelines.providers.cloud.openai_tts:OpenAITTS",
    },
}


class ProviderRegistry:
    def __init__(self, defaults: dict[str, dict[str, Any]] | None = None) -> None:
        # Per-provider default options (model paths, credentials from settings).
        self._defaults = defaults or {}
        self._cache: dict[str, object] = {}
        self._overrides: dict[tuple[Stage, str], Callable[..., object]] = {}

    def register(self, stage: Stage, name: str, factory: Callable[..., object]) -> None:
        """Add or replace an adapter (tests, plugins)."""
        self._overrides[(stage, name)] = factory

    def names(self, stage: Stage) -> list[str]:
        extra = [n for (s, n) in self._overrides if s == stage]
        return sorted({*_ADAPTERS[stage], *extra})

    def _build(self, stage: Stage, spec: ProviderSpec) -> object:
        options = {**self._defaults.get(f"{stage}.{spec.name}", {}), **spec.options}
        key = f"{stage}:{spec.name}:{json.dumps(options, sort_keys=True, default=str)}"
        if key in self._cache:
            return self._cache[key]
        factory = self._overrides.get((stage, spec.name))
        if factory is None:
            target = _ADAPTERS[stage].get(spec.name)
            if target is None:
                known = ", ".join(self.names(stage))
                raise ConfigError(f"unknown {stage} provider {spec.name!r} (known: {known})")
            module, _, attr = target.partition(":")
            factory = getattr(importlib.import_module(module), attr)
        instance = factory(**options)
        self._cache[key] = instance
        return instance

    def stt(self, specs: Sequence[ProviderSpec]) -> STTProvider:
        built: list[STTProvider] = [self._build("stt", s) for s in specs]  # type: ignore[misc]
        return built[0] if len(built) == 1 else _chain("FallbackSTT", built)

    def llm(self, specs: Sequence[ProviderSpec]) -> LLMProvider:
        built: list[LLMProvider] = [self._build("llm", s) for s in specs]  # type: ignore[misc]
        return built[0] if len(built) == 1 else _chain("FallbackLLM", built)

    def tts(self, specs: Sequence[ProviderSpec]) -> TTSProvider:
        built: list[TTSProvider] = [self._build("tts", s) for s in specs]  # type: ignore[misc]
        return built[0] if len(built) == 1 else _chain("FallbackTTS", built)


def _chain(kind: str, providers: list[Any]) -> Any:
    fallback = importlib.import_module("pipelines.fallback")
    return getattr(fallback, kind)(providers)
