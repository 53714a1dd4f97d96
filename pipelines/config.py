"""What a conversation needs to know about its agent, independent of where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from media.vad.detector import VadParams
from pipelines.providers.base import ToolSpec

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful voice assistant. Answer in one or two short sentences, "
    "in plain spoken words without lists or markup."
)


@dataclass(frozen=True, slots=True)
class ConversationConfig:
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    greeting: str | None = None
    language: str = "en"
    vad: VadParams = field(default_factory=VadParams)
    tools: tuple[ToolSpec, ...] = ()
    # Limits: named, with defaults.
    max_history_messages: int = 40
    max_tool_rounds: int = 3
    tool_timeout: float = 5.0
    # Wait this long after end of speech for the STT final before giving up.
    stt_final_timeout: float = 3.0
    # Audio kept from before the VAD confirmed speech, so STT hears the onset.
    preroll_secs: float = 0.3
    # Budget for knowledge retrieval inside a turn; a miss never stalls the voice.
    retrieval_budget_secs: float = 0.05
