"""A scripted LLM with fault knobs, and a factory that serves it by provider name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from pipelines.agent import ProviderSpec
from pipelines.errors import ConfigError, ProviderError
from pipelines.providers.base import ChatMessage, LLMEvent, LLMUsage, TextDelta, ToolSpec


@dataclass
class Knobs:
    reply: str = "Hello from the fake model."
    fail_before_text: bool = False
    fail_after_tokens: int | None = None
    retryable: bool = True
    token_delay: float = 0.0


@dataclass
class ScriptedLLM:
    name: str
    knobs: Knobs = field(default_factory=Knobs)
    requests: list[list[ChatMessage]] = field(default_factory=list)

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[LLMEvent]:
        self.requests.append(list(messages))
        k = self.knobs
        if k.fail_before_text:
            raise ProviderError(f"{self.name} is down", provider=self.name, retryable=k.retryable)
        words = k.reply.split(" ")
        for i, word in enumerate(words):
            if k.fail_after_tokens is not None and i >= k.fail_after_tokens:
                raise ProviderError(f"{self.name} broke", provider=self.name)
            if k.token_delay:
                await asyncio.sleep(k.token_delay)
            yield TextDelta(word if i == 0 else " " + word)
        yield LLMUsage(
            prompt_tokens=sum(len(m.content.split()) for m in messages),
            completion_tokens=len(words),
        )


class FakeLLMFactory:
    """``llm_factory`` for tests: provider name -> ScriptedLLM; others are unknown."""

    def __init__(self, *names: str) -> None:
        self.llms = {name: ScriptedLLM(name) for name in names or ("fake",)}
        self.built: list[ProviderSpec] = []

    def __call__(self, specs: Sequence[ProviderSpec]) -> ScriptedLLM:
        (spec,) = specs
        self.built.append(spec)
        if spec.name not in self.llms:
            raise ConfigError(f"unknown llm provider {spec.name!r}")
        return self.llms[spec.name]
