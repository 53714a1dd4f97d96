"""What a fake LLM says: a scripted reply, cut into tokens, that can be continued.

Shared by the OpenAI and Anthropic fakes so both behave alike. When the
request ends with a partial assistant message (a prefill), the fake continues
from where that prefix stops, like a model that honours prefill; with
``repeat_prefix`` it starts over instead, like one that ignores it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"\s*\S+")


def tokenize(text: str) -> list[str]:
    """Word-sized tokens that keep their leading space, as real BPE tokens do."""
    return _TOKEN.findall(text)


@dataclass
class ScriptedTool:
    name: str
    arguments: str  # JSON text


@dataclass
class LLMScript:
    reply: str = "Hello there, how can I help you today?"
    tool_calls: list[ScriptedTool] = field(default_factory=list)
    # Ignore an assistant prefill and say the whole reply again.
    repeat_prefix: bool = False

    def tokens_for(self, prefill: str | None) -> list[str]:
        reply = self.reply
        if prefill and not self.repeat_prefix and reply.startswith(prefill):
            reply = reply[len(prefill) :]
        return tokenize(reply)


def count_tokens(text: str) -> int:
    return len(tokenize(text))
