"""The offline stack as a whole: Protocol conformance and the status report."""

from __future__ import annotations

import importlib.util

import pytest

from pipelines.providers import local
from pipelines.providers.base import LLMProvider, STTProvider, TTSProvider
from pipelines.providers.local import HibariTTS, LlamaLLM, WhisperSTT, llama_llm


def test_adapters_conform_to_the_provider_protocols() -> None:
    # Checked by mypy through the annotations; constructed here so a broken
    # default model path fails at test time as well.
    stt: STTProvider = WhisperSTT()
    tts: TTSProvider = HibariTTS()
    assert (stt.sample_rate, tts.sample_rate) == (16_000, 24_000)
    assert (stt.name, tts.name) == ("whisper-local", "hibari")
    if importlib.util.find_spec("llama_cpp") is not None:
        llm: LLMProvider = LlamaLLM()
        assert llm.name == "llama-local"


def test_status_reports_each_stage() -> None:
    status = local.offline_stack_status()
    assert set(status) == {"stt", "llm", "tts"}
    assert status["stt"].startswith("ready: whisper")
    assert status["tts"].startswith("ready: hibari")
    llama_present = importlib.util.find_spec("llama_cpp") is not None
    assert status["llm"].startswith("ready: llama.cpp" if llama_present else "unavailable:")


def test_status_says_why_the_llm_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llama_llm, "llama_cpp_installed", lambda: False)
    status = local.offline_stack_status()
    assert status["llm"].startswith("unavailable: llama-cpp-python is not installed")
    assert "cap-voice[llm]" in status["llm"]
    assert status["stt"].startswith("ready:")


def test_public_surface() -> None:
    assert sorted(local.__all__) == ["HibariTTS", "LlamaLLM", "WhisperSTT", "offline_stack_status"]
