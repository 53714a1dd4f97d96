"""An agent's voice configuration: prompt, greeting, providers with fallbacks, VAD.

Loaded from a TOML/JSON file or built by the control plane from a published
agent version. Plain data; building live providers is the registry's job.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from media.vad.detector import VadParams
from pipelines.config import DEFAULT_SYSTEM_PROMPT, ConversationConfig
from pipelines.errors import ConfigError

# silero: every session's 32 ms windows scored in one worker thread shared by
# the process, each as soon as it is full, batched with whatever else is ready
# (media.vad.worker). silero_per_session: one model call per window inline on
# the event loop. silero_batched: one inference per 20 ms clock tick on the loop.
VadBackend = Literal["webrtc", "silero", "silero_per_session", "silero_batched"]
VAD_BACKENDS: tuple[VadBackend, ...] = ("webrtc", "silero", "silero_per_session", "silero_batched")


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: object) -> ProviderSpec:
        if isinstance(raw, str):
            return cls(raw)
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            options = {k: v for k, v in raw.items() if k != "name"}
            return cls(raw["name"], options)
        raise ConfigError(f"provider must be a name or a table with a name, got {raw!r}")


@dataclass(frozen=True, slots=True)
class AgentSpec:
    id: str = "default"
    name: str = "CAP assistant"
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    greeting: str | None = "Hello! How can I help you today?"
    language: str = "en"
    # Ordered fallback lists: the first is used, the next replaces it on failure.
    stt: tuple[ProviderSpec, ...] = (ProviderSpec("whisper"),)
    llm: tuple[ProviderSpec, ...] = (ProviderSpec("llama"),)
    tts: tuple[ProviderSpec, ...] = (ProviderSpec("hibari"),)
    vad: VadBackend = "webrtc"
    vad_params: VadParams = field(default_factory=VadParams)
    # Set when the agent comes from the control plane: whose knowledge to search.
    org_id: str | None = None
    knowledge_base_ids: tuple[str, ...] = ()

    def conversation(self) -> ConversationConfig:
        return ConversationConfig(
            system_prompt=self.system_prompt,
            greeting=self.greeting,
            language=self.language,
            vad=self.vad_params,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentSpec:
        known = {
            "id", "name", "system_prompt", "greeting", "language",
            "stt", "llm", "tts", "vad", "vad_params",
        }  # fmt: skip
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown agent settings: {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        for stage in ("stt", "llm", "tts"):
            if stage in kwargs:
                raw = kwargs[stage]
                items = raw if isinstance(raw, list) else [raw]
                if not items:
                    raise ConfigError(f"{stage}: at least one provider is needed")
                kwargs[stage] = tuple(ProviderSpec.parse(item) for item in items)
        if "vad" in kwargs and kwargs["vad"] not in VAD_BACKENDS:
            raise ConfigError(f"vad must be one of {', '.join(VAD_BACKENDS)}")
        if "vad_params" in kwargs:
            try:
                kwargs["vad_params"] = VadParams(**kwargs["vad_params"])
            except TypeError as exc:
                raise ConfigError(f"vad_params: {exc}") from exc
        return cls(**kwargs)

    @classmethod
    def load(cls, path: Path) -> AgentSpec:
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        return cls.from_dict(data)
