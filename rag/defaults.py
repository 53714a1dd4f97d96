"""Assemble a KnowledgeService from settings: embedded defaults or a Qdrant server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from rag.catalog import SqliteCatalog
from rag.chunking import ChunkingConfig
from rag.embeddings.base import Embedder
from rag.jobs import JobBoard
from rag.limits import IngestLimits
from rag.parsing.runner import DocumentParser
from rag.service import KnowledgeService
from rag.spool import UploadSpool
from rag.store import QdrantConnection, QdrantStore, VectorStore

#: "edge" (the default): Qdrant Edge (`qdrant-edge-py`), the Qdrant engine in a child
#: process of the server (`ProcessEdgeStore`):
#: payload-indexed scopes, int8 scans, ~1 ms for a 10k-chunk knowledge base;
#: "qdrant-local": qdrant-client local mode, numpy brute force with payload filters
#: checked in Python point by point (~190 ms at 10k chunks, seconds at 100k).
EmbeddedBackend = Literal["qdrant-local", "edge"]


def open_knowledge_service(
    data_dir: str | Path,
    *,
    qdrant_url: str | None = None,
    qdrant_api_key: str | None = None,
    embedded_backend: EmbeddedBackend = "edge",
    embedder: Embedder | None = None,
    limits: IngestLimits | None = None,
    chunking: ChunkingConfig | None = None,
    workers: int = 2,
    max_queued: int = 100,
) -> KnowledgeService:
    """The service on `data_dir`: catalog.sqlite, plus the vectors under edge/ (or
    qdrant/) unless `qdrant_url` points at a Qdrant server (qdrant-client,
    `QdrantStore`). Call inside a running event loop; `await service.aclose()`
    releases everything, the embedder included. Uploads wait under uploads/ until
    their job ends: `await service.resume()` re-queues those a previous process
    left unfinished.
    """
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    hooks: list[Callable[[], Awaitable[None]]] = []
    if embedder is None:
        from rag.embeddings.onnx_minilm import MiniLMEmbedder

        minilm = MiniLMEmbedder()
        embedder = minilm

        async def close_embedder() -> None:
            minilm.close()

        hooks.append(close_embedder)
    store: VectorStore
    if qdrant_url is None and embedded_backend == "edge":
        from rag.edge_process import ProcessEdgeStore

        # The shard lives in a child process: its optimisations hold the GIL for
        # seconds, which in-process would stop the event loop (rag/edge_process.py).
        edge = ProcessEdgeStore(root / "edge", embedder.model_id, embedder.dim)
        store = edge
        hooks.insert(0, edge.aclose)
    else:
        connection = (
            QdrantConnection.open(url=qdrant_url, api_key=qdrant_api_key)
            if qdrant_url
            else QdrantConnection.open(path=str(root / "qdrant"))
        )
        store = QdrantStore(connection, embedder.model_id, embedder.dim)
        hooks.insert(0, connection.close)
    catalog = SqliteCatalog(root / "catalog.sqlite")

    async def close_catalog() -> None:
        catalog.close()

    hooks.append(close_catalog)
    limits = limits or IngestLimits()
    return KnowledgeService(
        store,
        embedder,
        catalog=catalog,
        parser=DocumentParser(limits, processes=max(1, workers // 2)),
        jobs=JobBoard(workers=workers, max_queued=max_queued),
        limits=limits,
        chunking=chunking,
        on_close=hooks,
        spool=UploadSpool(root / "uploads"),
    )
