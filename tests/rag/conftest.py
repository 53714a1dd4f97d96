"""Fixtures for rag tests: a hand-written fake embedder with fault knobs, services."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path

import pytest

from rag.catalog import InMemoryCatalog
from rag.edge_process import ProcessEdgeStore
from rag.edge_store import EdgeStore
from rag.errors import EmbeddingError
from rag.jobs import JobBoard
from rag.limits import IngestLimits
from rag.parsing.runner import DocumentParser
from rag.service import KnowledgeService
from rag.store import QdrantConnection, QdrantStore, VectorStore

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    {"a", "an", "the", "of", "to", "at", "is", "are", "do", "does", "how", "what", "when"}
    | {"where", "which", "who", "in", "on", "for"}
)


class FakeEmbedder:
    """Bag-of-words hashed into `dim` buckets: shared words mean similar vectors.

    Knobs: `delay_s` (slow provider), `fail_with` (raise on every call),
    `calls` (how many embed calls were made).
    """

    def __init__(self, dim: int = 1024, model_id: str = "fake-bow") -> None:
        self._dim = dim
        self._model_id = model_id
        self.delay_s = 0.0
        self.fail_with: Exception | None = None
        self.calls = 0
        #: Set on every embed call (lets a test act while a job is embedding).
        self.called = asyncio.Event()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def count_tokens(self, text: str) -> int:
        return max(1, len(text.split()))

    def vector(self, text: str) -> list[float]:
        vec = [0.0] * self._dim
        for word in _WORD.findall(text.lower()):
            if word in _STOP:
                continue
            bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
            vec[bucket % self._dim] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        if norm == 1.0 and not any(vec):
            vec[0] = 1.0
        return [v / norm for v in vec]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        self.called.set()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_with is not None:
            raise self.fail_with
        return [self.vector(t) for t in texts]


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def limits() -> IngestLimits:
    return IngestLimits(parse_timeout_s=20.0)


@pytest.fixture
def parser(limits: IngestLimits) -> Iterator[DocumentParser]:
    # The worker process starts lazily, so tests without PDF/DOCX pay nothing.
    parser = DocumentParser(limits)
    yield parser
    parser.close()


@pytest.fixture
async def connection(tmp_path: Path) -> AsyncIterator[QdrantConnection]:
    conn = QdrantConnection.open(path=str(tmp_path / "qdrant"))
    yield conn
    await conn.close()


StoreFactory = Callable[[str, int], VectorStore]


@pytest.fixture(params=["qdrant-local", "edge", "edge-process"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Stores on one backend: qdrant-client local mode on disk, Qdrant Edge in-process,
    or Qdrant Edge in a child process (the embedded default)."""
    made: list[EdgeStore | ProcessEdgeStore] = []
    if request.param in ("edge", "edge-process"):
        pytest.importorskip("qdrant_edge")
        cls = EdgeStore if request.param == "edge" else ProcessEdgeStore

        def edge(model_id: str, dim: int) -> VectorStore:
            store = cls(tmp_path / "edge", model_id, dim)
            made.append(store)
            return store

        yield edge
        for store in made:
            await store.aclose()
        return
    conn = QdrantConnection.open(path=str(tmp_path / "qdrant"))

    def local(model_id: str, dim: int) -> VectorStore:
        return QdrantStore(conn, model_id, dim)

    yield local
    await conn.close()


@pytest.fixture
async def service(
    make_store: StoreFactory,
    fake_embedder: FakeEmbedder,
    parser: DocumentParser,
    limits: IngestLimits,
) -> AsyncIterator[KnowledgeService]:
    svc = KnowledgeService(
        make_store(fake_embedder.model_id, fake_embedder.dim),
        fake_embedder,
        catalog=InMemoryCatalog(),
        parser=parser,
        jobs=JobBoard(workers=2, max_queued=10),
        limits=limits,
    )
    yield svc
    await svc.jobs.aclose()


__all__ = ["EmbeddingError", "FakeEmbedder"]
