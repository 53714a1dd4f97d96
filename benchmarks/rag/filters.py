"""One search over 10 knowledge bases: the engine filter shapes compared, then the store.

The corpus: one organisation with `size` points over 10 kbs (10% each) plus
`other` points of a second organisation (the same kb ids), synthetic 384-d. The
scope is all 10 kbs of the first organisation. Per shape, CPU time per search (the
process's, every thread) and wall latency, on the raw shard:

- merged: one query per kb (a `MatchValue` on its scope key), merged top k
  (EdgeStore before 2026-11-25);
- batched: the same queries as one `query_batch`;
- match_any: one query, `MatchAny` over the 10 scope keys;
- should: one query, a `should` of the 10 exact matches (EdgeStore now).

Then the stores end to end (hits re-checked, payloads converted): `EdgeStore` in
process, and `ProcessEdgeStore` (the embedded default) with the child's CPU read
from /proc. Recall@5 is against brute force over the scope's points, and every
hit is checked to be in scope.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.rag.common import (
    clustered_vectors,
    corpus_records,
    percentile,
    unit_vectors,
)
from rag.edge_process import ProcessEdgeStore
from rag.edge_store import EdgeStore
from rag.store import SCOPE, Scope, scope_key

KBS = 10


def child_cpu_ms(pid: int) -> float:
    """CPU time (user + system) of process `pid` so far, in ms (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _stats(label: str, cpu: list[float], wall: list[float], **extra: Any) -> dict[str, Any]:
    row = {
        "shape": label,
        "cpu_ms_p50": round(percentile(cpu, 50), 2),
        "cpu_ms_mean": round(statistics.fmean(cpu), 2),
        "p50_ms": round(percentile(wall, 50), 2),
        "p95_ms": round(percentile(wall, 95), 2),
        **extra,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(row, flush=True)
    return row


def _shard_shapes(shard: Any, keys: list[str]) -> dict[str, Callable[[list[float]], list[Any]]]:
    import qdrant_edge as qe

    params = qe.SearchParams(
        hnsw_ef=128, quantization=qe.QuantizationSearchParams(rescore=True, oversampling=2.0)
    )

    def request(flt: Any, v: list[float]) -> Any:
        return qe.QueryRequest(
            limit=5, query=qe.Query.Nearest(v), filter=flt, with_payload=True, params=params
        )

    def one(key: str) -> Any:
        return qe.Filter(must=[qe.FieldCondition(key=SCOPE, match=qe.MatchValue(key))])

    def top(points: list[Any]) -> list[Any]:
        return sorted(points, key=lambda p: p.score, reverse=True)[:5]

    def merged(v: list[float]) -> list[Any]:
        return top([p for k in keys for p in shard.query(request(one(k), v))])

    def batched(v: list[float]) -> list[Any]:
        batch = qe.QueryBatchRequest([request(one(k), v) for k in keys])
        return top([p for res in shard.query_batch(batch) for p in res])

    def match_any(v: list[float]) -> list[Any]:
        flt = qe.Filter(must=[qe.FieldCondition(key=SCOPE, match=qe.MatchAny(keys))])
        result: list[Any] = shard.query(request(flt, v))
        return result

    def should(v: list[float]) -> list[Any]:
        conditions: list[Any] = [qe.FieldCondition(key=SCOPE, match=qe.MatchValue(k)) for k in keys]
        result: list[Any] = shard.query(request(qe.Filter(should=conditions), v))
        return result

    return {"merged": merged, "batched": batched, "match_any": match_any, "should": should}


async def bench_filters(
    size: int = 100_000, queries: int = 100, corpus: str = "uniform", other: int = 10_000
) -> dict[str, Any]:
    dim = 384
    total = size + other
    if corpus == "clustered":
        vectors = clustered_vectors(total, dim, seed=size)
    else:
        vectors = unit_vectors(total, dim, seed=size)
    qs = unit_vectors(queries + 3, dim, seed=1)
    keys = [scope_key("org", f"kb{i}") for i in range(KBS)]
    scope = Scope("org", tuple(f"kb{i}" for i in range(KBS)))
    out: dict[str, Any] = {"chunks": size, "other_org_chunks": other, "corpus": corpus}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore(tmp, "bench", dim, optimize_every=10**9)
        for start in range(0, total, 1000):
            await store.upsert(
                corpus_records(
                    vectors[start : start + 1000],
                    start,
                    lambda i: "org" if i < size else "other",
                    lambda i: f"kb{i % KBS}",
                )
            )
        await store.optimize()
        out["info"] = await store.info()
        shard = store._open()  # the raw engine: filter shapes without the store around them
        for label, shape in _shard_shapes(shard, keys).items():
            cpu, wall = [], []
            for n, q in enumerate(qs):
                v = q.tolist()
                c0, t0 = time.process_time(), time.perf_counter()
                points = shape(v)
                if n >= 3:
                    wall.append((time.perf_counter() - t0) * 1000)
                    cpu.append((time.process_time() - c0) * 1000)
                assert all(int(p.payload["chunk_index"]) >= 0 for p in points)
                assert all(p.payload["org_id"] == "org" for p in points), label
            rows.append(_stats(label, cpu, wall))
        rows.append(
            await _store_row("EdgeStore.search (in process)", store, scope, qs, vectors[:size])
        )
        await store.aclose()
        child = ProcessEdgeStore(tmp, "bench", dim, optimize_every=10**9)
        try:
            await child.ensure_collection()
            rows.append(
                await _store_row(
                    "ProcessEdgeStore.search (child)", child, scope, qs, vectors[:size]
                )
            )
        finally:
            await child.aclose()
    out["rows"] = rows
    return out


async def _store_row(
    label: str,
    store: EdgeStore | ProcessEdgeStore,
    scope: Scope,
    qs: np.ndarray,
    scoped: np.ndarray,
) -> dict[str, Any]:
    pid = store.pid if isinstance(store, ProcessEdgeStore) else None
    cpu, wall = [], []
    found = 0
    child0 = child_cpu_ms(pid) if pid is not None else 0.0
    for n, q in enumerate(qs):
        c0, t0 = time.process_time(), time.perf_counter()
        hits = await store.search(scope, q.tolist(), 5)
        if n < 3:
            child0 = child_cpu_ms(pid) if pid is not None else 0.0
            continue
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert all(h.org_id == scope.org_id and h.kb_id in scope.kb_ids for h in hits)
        exact = {int(i) for i in np.argsort(-(scoped @ q))[:5]}
        found += len(exact & {int(h.chunk_id.replace("-", ""), 16) - 1 for h in hits})
    extra: dict[str, Any] = {"recall_at_5": round(found / (5 * len(wall)), 3)}
    if pid is not None:
        extra["child_cpu_ms_mean"] = round((child_cpu_ms(pid) - child0) / len(wall), 2)
    return _stats(label, cpu, wall, **extra)
