"""The public surface of rag/ that the control plane and pipelines build on."""

from __future__ import annotations

import subprocess
import sys

import rag

EXPECTED = {
    "ArchiveBomb",
    "Chunk",
    "ChunkingConfig",
    "DocumentCatalog",
    "DocumentRecord",
    "EdgeStore",
    "EmbeddingError",
    "Embedder",
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
}


def test_exported_members() -> None:
    assert set(rag.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(rag, name) is not None


def test_importing_parsing_does_not_load_heavy_libraries() -> None:
    # The parser worker process imports rag.parsing; it must stay light.
    code = (
        "import sys, rag.parsing.worker; "
        "print(sorted(m for m in ('onnxruntime', 'qdrant_client', 'openai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
