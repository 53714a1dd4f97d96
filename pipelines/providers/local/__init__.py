"""The offline default stack: Whisper STT, SmolLM2 via llama.cpp, hibari TTS.

Every model ships inside a pip package, so a fresh install talks with no API key
and no network. ``offline_stack_status`` says which parts are usable here.
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines.errors import ProviderUnavailable
from pipelines.providers.local.hibari_tts import HibariTTS
from pipelines.providers.local.llama_llm import LlamaLLM
from pipelines.providers.local.whisper_stt import WhisperSTT

__all__ = ["HibariTTS", "LlamaLLM", "WhisperSTT", "offline_stack_status"]


def _check(make: Callable[[], WhisperSTT | LlamaLLM | HibariTTS], detail: Callable[[], str]) -> str:
    try:
        provider = make()
    except ProviderUnavailable as exc:
        return f"unavailable: {exc}"
    provider.close()
    return f"ready: {detail()}"


def offline_stack_status() -> dict[str, str]:
    """``{"stt": ..., "llm": ..., "tts": ...}``, each ``"ready: ..."`` or ``"unavailable: why"``.

    Cheap: checks packages and model files without loading any model.
    """
    from pipelines.providers.local import llama_llm, whisper_stt

    return {
        "stt": _check(WhisperSTT, lambda: f"whisper {whisper_stt.default_model_path()}"),
        "llm": _check(LlamaLLM, lambda: f"llama.cpp {llama_llm.default_model_path()}"),
        "tts": _check(HibariTTS, lambda: "hibari voice 'heart'"),
    }
