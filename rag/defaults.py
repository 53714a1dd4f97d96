"""Assemble a KnowledgeService from settings: embedded defaults or a Qdrant server."""

from __future__ import annotations

from pathlib import Path

from rag.catalog import SqliteCatalog
from rag.chunking import ChunkingConfig
from rag.embeddings.base import Embedder
from rag.jobs import JobBoard
from rag.limits import IngestLimits
from rag.parsing.runner import DocumentParser
from rag.service import KnowledgeService
from rag.store import QdrantConnection, QdrantStore


def open_knowledge_service(
    data_dir: str | Path,
    *,
    qdrant_url: str | None = None,
    qdrant_api_key: str | None = None,
    embedder: Embedder | None = None,
    limits: IngestLimits | None = None,
    chunking: ChunkingConfig | None = None,
    workers: int = 2,
    max_queued: int = 100,
) -> tuple[KnowledgeService, QdrantConnection]:
    """The service on `data_dir` (catalog.sqlite, and qdrant/ unless a URL is given).

    Returns the connection too: close it after `service.aclose()`.
    Must be called inside a running event loop.
    """
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    if embedder is None:
        from rag.embeddings.onnx_minilm import MiniLMEmbedder

        embedder = MiniLMEmbedder()
    connection = (
        QdrantConnection.open(url=qdrant_url, api_key=qdrant_api_key)
        if qdrant_url
        else QdrantConnection.open(path=str(root / "qdrant"))
    )
    limits = limits or IngestLimits()
    service = KnowledgeService(
        QdrantStore(connection, embedder.model_id, embedder.dim),
        embedder,
        catalog=SqliteCatalog(root / "catalog.sqlite"),
        parser=DocumentParser(limits, processes=max(1, workers // 2)),
        jobs=JobBoard(workers=workers, max_queued=max_queued),
        limits=limits,
        chunking=chunking,
    )
    return service, connection
