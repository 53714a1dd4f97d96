"""The retrieval boundary the conversation engine sees (rag/ provides the real one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Passage:
    text: str
    source: str
    score: float = 0.0


class Retriever(Protocol):
    async def retrieve(self, query: str) -> Sequence[Passage]: ...


def passages_prompt(passages: Sequence[Passage]) -> str:
    lines = ["Answer from these knowledge passages when relevant; cite the [source]."]
    lines += [f"[{p.source}] {p.text}" for p in passages]
    return "\n".join(lines)
