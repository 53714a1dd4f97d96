"""An agent's knowledge bases as a ``pipelines.knowledge.Retriever``.

Hits become passages numbered in rank order, so the model can cite ``[1]``,
``[2]``...; each source keeps the document (and page, row or heading) the
number stands for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pipelines.knowledge import Passage
from rag.hits import Hit

#: Per-turn budget for voice: past it the turn goes on without knowledge.
DEFAULT_BUDGET_MS = 50.0


class TurnSearch(Protocol):
    """What the retriever needs: KnowledgeService or the app's KnowledgeRuntime."""

    async def retrieve_for_turn(
        self, org_id: str, kb_ids: Sequence[str], query: str, *, budget_ms: float = ...
    ) -> list[Hit]: ...


def passages_of(hits: Sequence[Hit]) -> list[Passage]:
    return [Passage(h.text, f"{n}: {h.source}", h.score) for n, h in enumerate(hits, start=1)]


class KnowledgeRetriever:
    def __init__(
        self,
        svc: TurnSearch,
        org_id: str,
        kb_ids: Sequence[str],
        *,
        budget_ms: float = DEFAULT_BUDGET_MS,
    ) -> None:
        self._svc = svc
        self._org_id = org_id
        self._kb_ids = tuple(kb_ids)
        self._budget_ms = budget_ms

    async def retrieve(self, query: str) -> Sequence[Passage]:
        if not self._kb_ids:
            return []
        hits = await self._svc.retrieve_for_turn(
            self._org_id, self._kb_ids, query, budget_ms=self._budget_ms
        )
        return passages_of(hits)
