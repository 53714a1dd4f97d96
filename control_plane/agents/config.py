"""What an agent is made of, validated at the edge (pydantic) and stored as JSON.

The draft holds an ``AgentConfig``; publishing freezes ``{name, type, **config}``
into a version. Provider names follow ``pipelines.providers.registry``; the
defaults are the offline stack that ships with the install.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from control_plane.api.schemas import ApiModel, Id, ShortText
from pipelines.agent import AgentSpec

AgentType = Literal["text", "voice", "hybrid", "phone", "api"]
ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,49}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
MAX_PROMPT_CHARS = 32_000
MAX_FALLBACKS = 5
MAX_KNOWLEDGE_BASES = 20

_DEFAULTS = AgentSpec()


class ProviderChoice(ApiModel):
    """One entry of a fallback list: an adapter name and its options."""

    provider: ProviderName
    options: dict[str, Any] = Field(default_factory=dict)
    # Which stored credential to pass as ``api_key`` (default: the org's
    # credential for this provider labelled "default", if any).
    credential_id: Id | None = None


def _chain(specs: tuple[Any, ...]) -> list[ProviderChoice]:
    return [ProviderChoice(provider=s.name, options=dict(s.options)) for s in specs]


class VoiceSettings(ApiModel):
    voice: Annotated[str, Field(max_length=100)] | None = None
    language: Language = "en"
    speaking_rate: float = Field(default=1.0, ge=0.25, le=4.0)


class AgentLimits(ApiModel):
    max_session_seconds: int = Field(default=1800, ge=10, le=86_400)
    max_turns: int = Field(default=200, ge=1, le=10_000)
    max_reply_tokens: int = Field(default=512, ge=1, le=32_000)
    max_history_messages: int = Field(default=40, ge=2, le=1000)


class AgentConfig(ApiModel):
    description: ShortText = ""
    avatar_url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2048)] | None = (
        None
    )
    personality: ShortText = ""
    system_prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS)] = _DEFAULTS.system_prompt
    greeting: Annotated[str, Field(max_length=1000)] | None = _DEFAULTS.greeting
    llm: list[ProviderChoice] = Field(
        default_factory=lambda: _chain(_DEFAULTS.llm), min_length=1, max_length=MAX_FALLBACKS
    )
    stt: list[ProviderChoice] = Field(
        default_factory=lambda: _chain(_DEFAULTS.stt), min_length=1, max_length=MAX_FALLBACKS
    )
    tts: list[ProviderChoice] = Field(
        default_factory=lambda: _chain(_DEFAULTS.tts), min_length=1, max_length=MAX_FALLBACKS
    )
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    knowledge_base_ids: list[Id] = Field(default_factory=list, max_length=MAX_KNOWLEDGE_BASES)
    limits: AgentLimits = Field(default_factory=AgentLimits)


class AgentConfigPatch(ApiModel):
    """Partial update of a draft: fields left out keep their value."""

    description: ShortText | None = None
    avatar_url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2048)] | None = (
        None
    )
    personality: ShortText | None = None
    system_prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS)] | None = None
    greeting: Annotated[str, Field(max_length=1000)] | None = None
    llm: list[ProviderChoice] | None = Field(default=None, min_length=1, max_length=MAX_FALLBACKS)
    stt: list[ProviderChoice] | None = Field(default=None, min_length=1, max_length=MAX_FALLBACKS)
    tts: list[ProviderChoice] | None = Field(default=None, min_length=1, max_length=MAX_FALLBACKS)
    voice: VoiceSettings | None = None
    knowledge_base_ids: list[Id] | None = Field(default=None, max_length=MAX_KNOWLEDGE_BASES)
    limits: AgentLimits | None = None
