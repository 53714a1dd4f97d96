"""EdgeStore (Qdrant Edge in-process) search latency, CPU and recall by scope shape."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from typing import Any

import numpy as np

from benchmarks.rag.common import (
    clustered_vectors,
    corpus_records,
    cpu_ms,
    percentile,
    unit_vectors,
)
from rag.edge_store import EdgeStore
from rag.store import Scope


async def bench_edge_store(
    size: int,
    queries: int,
    corpus: str = "uniform",
    *,
    dim: int = 384,
    hnsw_m: int = 0,
    single_kb: bool = False,
) -> list[dict[str, Any]]:
    """`EdgeStore` (Qdrant Edge in-process, the embedded default), two scope shapes.

    One organisation holds the corpus spread over 10 knowledge bases: a search in one
    kb filters to 10% of the points (exactly scanned below `exact_below_points`), a
    search over all 10 kbs filters nothing away (the HNSW graph). Recall@5 is against
    exact brute force over the same filtered points. `single_kb`: one knowledge base
    holds every point instead (the shape an HNSW graph, `hnsw_m` > 0 and not the
    default, is for). Load: upserts in batches of
    1000 as the service writes them, then one `optimize` (HNSW + int8 segments).
    CPU time is the process's, per search (the store's thread included).
    """
    if corpus == "clustered":
        vectors = clustered_vectors(size, dim, seed=size)
        rng = np.random.default_rng(11)
        q = vectors[rng.integers(0, size, queries + 2)]
        q = q + 0.3 * rng.standard_normal(q.shape).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
    else:
        vectors = unit_vectors(size, dim, seed=size)
        q = unit_vectors(queries + 2, dim, seed=1)
    kbs_in_store = 1 if single_kb else 10
    kb_index = np.arange(size) % kbs_in_store
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore(tmp, "bench-random", dim, optimize_every=10 * size, hnsw_m=hnsw_m)
        t0 = time.perf_counter()
        for start in range(0, size, 1000):
            await store.upsert(
                corpus_records(
                    vectors[start : start + 1000],
                    start,
                    lambda _: "org",
                    lambda i: f"kb{i % kbs_in_store}",
                )
            )
        upsert_s = time.perf_counter() - t0
        c0 = cpu_ms()
        await store.optimize()
        optimize_s = time.perf_counter() - t0 - upsert_s
        optimize_cpu_s = (cpu_ms() - c0) / 1000
        info = await store.info()
        print(f"  loaded {size}: upsert {upsert_s:.1f} s, optimize {optimize_s:.1f} s", info)
        shapes = {
            "1 kb of 10 (10% of points)": (("kb3",), kb_index == 3),
            "all 10 kbs (100% of points)": (tuple(f"kb{i}" for i in range(10)), kb_index >= 0),
        }
        if single_kb:
            shapes = {"1 kb holding every point (100%)": (("kb0",), kb_index >= 0)}
        for label, (kbs, mask) in shapes.items():
            scope = Scope("org", kbs)
            ids = np.flatnonzero(mask)
            latencies: list[float] = []
            cpu: list[float] = []
            found = 0
            load_before = os.getloadavg()
            for n, v in enumerate(q):
                c1 = cpu_ms()
                t1 = time.perf_counter()
                hits = await store.search(scope, v.tolist(), 5)
                elapsed = (time.perf_counter() - t1) * 1000
                spent = cpu_ms() - c1
                if n < 2:
                    continue  # warm-up
                latencies.append(elapsed)
                cpu.append(spent)
                exact = {
                    str(uuid.UUID(int=int(ids[j]) + 1)) for j in np.argsort(-(vectors[ids] @ v))[:5]
                }
                found += len(exact & {h.chunk_id for h in hits})
            rows.append(
                {
                    "engine": (
                        f"EdgeStore hnsw_m={hnsw_m} (qdrant-edge, HNSW, int8 rescored)"
                        if hnsw_m
                        else "EdgeStore (qdrant-edge, int8 scan, rescored)"
                    ),
                    "corpus": corpus,
                    "filter": label,
                    "chunks": size,
                    "upsert_s": round(upsert_s, 1),
                    "upsert_chunks_per_s": round(size / upsert_s),
                    "optimize_s": round(optimize_s, 1),
                    "optimize_cpu_s": round(optimize_cpu_s, 1),
                    "segments": info["segments"],
                    "indexed_vectors": info["indexed_vectors"],
                    "queries": queries,
                    "p50_ms": round(percentile(latencies, 50), 2),
                    "p95_ms": round(percentile(latencies, 95), 2),
                    "mean_ms": round(statistics.fmean(latencies), 2),
                    "cpu_ms_p50": round(percentile(cpu, 50), 2),
                    "cpu_ms_mean": round(statistics.fmean(cpu), 2),
                    "recall_at_5": round(found / (5 * queries), 3),
                    "load_average": [round(x, 2) for x in load_before],
                }
            )
            print(rows[-1], flush=True)
        await store.aclose()
    return rows


async def bench_hnsw_recall(size: int = 30_000, queries: int = 50) -> dict[str, Any]:
    """EdgeStore with an HNSW graph (`hnsw_m=16`, not the default) forced onto it:
    recall@5 on clustered vs uniformly random vectors.

    Uniform random 384-d vectors have no neighbourhood structure, the worst case for
    any graph index; the main table's HNSW recall on them is a floor, not a forecast.
    """
    from rag.edge_store import EdgeStore

    rng = np.random.default_rng(5)
    clustered = clustered_vectors(size, 384, seed=1)
    near = clustered[rng.integers(0, size, queries)]
    near = near + 0.3 * rng.standard_normal(near.shape).astype(np.float32)
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    cases = {
        "clustered": (clustered, near),
        "uniform random": (unit_vectors(size, 384, seed=3), unit_vectors(queries, 384, seed=9)),
    }
    out: dict[str, Any] = {"chunks": size, "queries": queries}
    for label, (vectors, qs) in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            store = EdgeStore(tmp, "recall", 384, hnsw_m=16, exact_below_points=0)
            for start in range(0, size, 1000):
                await store.upsert(
                    corpus_records(vectors[start : start + 1000], start, lambda _: "org")
                )
            await store.optimize()
            found = 0
            for v in qs:
                hits = await store.search(Scope("org", ("kb",)), v.tolist(), 5)
                exact = {str(uuid.UUID(int=int(i) + 1)) for i in np.argsort(-(vectors @ v))[:5]}
                found += len(exact & {h.chunk_id for h in hits})
            await store.aclose()
        out[label] = {"recall_at_5": round(found / (5 * queries), 3)}
        print(label, out[label], flush=True)
    return out
