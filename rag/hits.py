"""What retrieval returns: cited chunks, and the counters of per-turn retrieval."""

from __future__ import annotations

from dataclasses import dataclass

from rag.store import ScoredChunk


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved chunk with its source, ready to cite."""

    chunk_id: str
    text: str
    score: float
    kb_id: str
    document_id: str
    document_name: str
    page: int | None
    row: int | None
    heading_path: tuple[str, ...]
    category: str | None

    @property
    def source(self) -> str:
        """Human citation: `menu.pdf p. 3`, `prices.csv row 12`, `faq.docx > Returns`."""
        where = ""
        if self.page is not None:
            where = f" p. {self.page}"
        elif self.row is not None:
            where = f" row {self.row}"
        section = f" > {' > '.join(self.heading_path)}" if self.heading_path else ""
        return f"{self.document_name}{where}{section}"

    @classmethod
    def of(cls, chunk: ScoredChunk) -> Hit:
        return cls(
            chunk_id=chunk.chunk_id,
            text=chunk.text,
            score=chunk.score,
            kb_id=chunk.kb_id,
            document_id=chunk.document_id,
            document_name=chunk.document_name,
            page=chunk.page,
            row=chunk.row,
            heading_path=chunk.heading_path,
            category=chunk.category,
        )


@dataclass(slots=True)
class RetrievalStats:
    """Counters for per-turn retrieval; exported as metrics by the caller."""

    served: int = 0
    #: Budget exceeded: the turn went on without knowledge.
    misses: int = 0
    errors: int = 0
    #: Not started because earlier over-budget searches are still running.
    shed: int = 0
