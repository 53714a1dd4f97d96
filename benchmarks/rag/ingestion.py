"""Ingestion throughput: a generated PDF through parser, chunker, MiniLM and the store."""

from __future__ import annotations

import random
import tempfile
import time
from typing import Any

from benchmarks.rag.common import percentile
from rag.catalog import InMemoryCatalog
from rag.edge_store import EdgeStore
from rag.embeddings.onnx_minilm import MiniLMEmbedder
from rag.jobs import JobBoard, JobStatus
from rag.parsing.runner import DocumentParser
from rag.service import KnowledgeService
from tests.rag.ragdocs import make_pdf

_VOCABULARY = (
    "order delivery refund warranty kitchen menu booking table invoice payment card "
    "account password reset opening hours holiday staff parking allergy gluten vegan "
    "soup dessert coffee tea breakfast lunch dinner price discount voucher manager"
)
WORDS = tuple(_VOCABULARY.split())


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
    return " ".join(words).capitalize() + "."


def synthetic_pdf(pages: int, rng: random.Random) -> bytes:
    return make_pdf([[sentence(rng) for _ in range(40)] for _ in range(pages)])


async def bench_ingestion(pages: int) -> dict[str, Any]:
    rng = random.Random(7)
    pdf = synthetic_pdf(pages, rng)
    embedder = MiniLMEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore(tmp, embedder.model_id, embedder.dim)
        parser = DocumentParser()
        service = KnowledgeService(
            store,
            embedder,
            catalog=InMemoryCatalog(),
            parser=parser,
            jobs=JobBoard(workers=1),
        )
        await parser.parse("warmup.pdf", make_pdf([["warm up"]]))
        t0 = time.perf_counter()
        parsed = await parser.parse("bench.pdf", pdf)
        parse_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        job = await service.ingest("org", "kb", "bench.pdf", pdf)
        job = await service.wait_for_job("org", job.job_id)
        total_s = time.perf_counter() - t0
        assert job.status is JobStatus.INDEXED, job.error
        queries = ["how do I get a refund for my order", "opening hours on holiday"] * 10
        latencies = []
        for q in queries:
            t1 = time.perf_counter()
            await embedder.embed([q])
            latencies.append((time.perf_counter() - t1) * 1000)
        await service.aclose()
        await store.aclose()
    embedder.close()
    return {
        "pages": parsed.units,
        "pdf_bytes": len(pdf),
        "chunks": job.chunks,
        "parse_s": round(parse_s, 3),
        "total_s": round(total_s, 2),
        "pages_per_s": round(parsed.units / total_s, 2),
        "chunks_per_s": round(job.chunks / total_s, 2),
        "parse_pages_per_s": round(parsed.units / parse_s, 1),
        "query_embed_ms_p50": round(percentile(latencies, 50), 2),
        "query_embed_ms_p95": round(percentile(latencies, 95), 2),
    }
