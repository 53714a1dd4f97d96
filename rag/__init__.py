"""Knowledge bases: parsing, chunking, embeddings, vector store and retrieval.

Imports nothing of ours. Exports resolve lazily so that the parser worker process
(`python -m rag.parsing.worker`) does not load onnxruntime or qdrant-client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.catalog import DocumentCatalog, DocumentRecord, InMemoryCatalog, SqliteCatalog
    from rag.chunking import Chunk, ChunkingConfig
    from rag.defaults import open_knowledge_service
    from rag.edge_process import ProcessEdgeStore
    from rag.edge_store import EdgeStore
    from rag.embeddings.base import Embedder
    from rag.errors import (
        ArchiveBomb,
        EmbeddingError,
        InputRejected,
        InvalidScope,
        NotFound,
        ParseError,
        ParseTimeout,
        QueueFull,
        QuotaExceeded,
        RagError,
        StoreError,
        StoreTimeout,
        TooLarge,
        UnsupportedType,
    )
    from rag.hits import Hit, RetrievalStats
    from rag.jobs import IngestJob, JobBoard, JobStatus
    from rag.limits import IngestLimits
    from rag.service import KnowledgeService
    from rag.store import QdrantConnection, QdrantStore, Scope, VectorStore
    from rag.tool import format_context, run_search_tool, search_tool_spec

_EXPORTS = {
    "DocumentCatalog": "rag.catalog",
    "DocumentRecord": "rag.catalog",
    "InMemoryCatalog": "rag.catalog",
    "SqliteCatalog": "rag.catalog",
    "Chunk": "rag.chunking",
    "ChunkingConfig": "rag.chunking",
    "open_knowledge_service": "rag.defaults",
    "EdgeStore": "rag.edge_store",
    "ProcessEdgeStore": "rag.edge_process",
    "Embedder": "rag.embeddings.base",
    "ArchiveBomb": "rag.errors",
    "EmbeddingError": "rag.errors",
    "InputRejected": "rag.errors",
    "InvalidScope": "rag.errors",
    "NotFound": "rag.errors",
    "ParseError": "rag.errors",
    "ParseTimeout": "rag.errors",
    "QueueFull": "rag.errors",
    "QuotaExceeded": "rag.errors",
    "RagError": "rag.errors",
    "StoreError": "rag.errors",
    "StoreTimeout": "rag.errors",
    "TooLarge": "rag.errors",
    "UnsupportedType": "rag.errors",
    "IngestJob": "rag.jobs",
    "JobBoard": "rag.jobs",
    "JobStatus": "rag.jobs",
    "IngestLimits": "rag.limits",
    "Hit": "rag.hits",
    "KnowledgeService": "rag.service",
    "RetrievalStats": "rag.hits",
    "QdrantConnection": "rag.store",
    "QdrantStore": "rag.store",
    "Scope": "rag.store",
    "VectorStore": "rag.store",
    "format_context": "rag.tool",
    "run_search_tool": "rag.tool",
    "search_tool_spec": "rag.tool",
}

__all__ = [
    "ArchiveBomb",
    "Chunk",
    "ChunkingConfig",
    "DocumentCatalog",
    "DocumentRecord",
    "EdgeStore",
    "Embedder",
    "EmbeddingError",
    "Hit",
    "InMemoryCatalog",
    "IngestJob",
    "IngestLimits",
    "InputRejected",
    "InvalidScope",
    "JobBoard",
    "JobStatus",
    "KnowledgeService",
    "NotFound",
    "ParseError",
    "ParseTimeout",
    "ProcessEdgeStore",
    "QdrantConnection",
    "QdrantStore",
    "QueueFull",
    "QuotaExceeded",
    "RagError",
    "RetrievalStats",
    "Scope",
    "SqliteCatalog",
    "StoreError",
    "StoreTimeout",
    "TooLarge",
    "UnsupportedType",
    "VectorStore",
    "format_context",
    "open_knowledge_service",
    "run_search_tool",
    "search_tool_spec",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
