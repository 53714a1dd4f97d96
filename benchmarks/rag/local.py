"""qdrant-client local mode (pure Python scoring): the slow embedded option, for reference."""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

from benchmarks.rag.common import corpus_records, percentile, unit_vectors
from rag.store import QdrantConnection, QdrantStore, Scope

#: Organisations the corpus is spread over; a search scopes to one (10%).
ORGS = 10


async def bench_qdrant_local(size: int, queries: int, dim: int = 384) -> dict[str, Any]:
    vectors = unit_vectors(size, dim, seed=size)
    with tempfile.TemporaryDirectory() as tmp:
        conn = QdrantConnection.open(path=tmp)
        store = QdrantStore(conn, "bench-random", dim)
        t0 = time.perf_counter()
        for start in range(0, size, 1000):
            await store.upsert(
                corpus_records(vectors[start : start + 1000], start, lambda i: f"org{i % ORGS}")
            )
        load_s = time.perf_counter() - t0
        q = unit_vectors(queries + 2, dim, seed=1).tolist()
        scope = Scope("org3", ("kb",))
        for v in q[:2]:
            await store.search(scope, v, 5)
        latencies = []
        for v in q[2:]:
            t1 = time.perf_counter()
            hits = await store.search(scope, v, 5)
            latencies.append((time.perf_counter() - t1) * 1000)
            assert all(h.org_id == "org3" for h in hits)
        await conn.close()
    return {
        "engine": "qdrant-client local mode (on disk)",
        "chunks": size,
        "load_s": round(load_s, 1),
        "queries": queries,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
    }
