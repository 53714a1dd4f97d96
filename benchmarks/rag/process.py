"""EdgeStore in-process vs ProcessEdgeStore: search latency and event-loop stalls."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from typing import Any

import numpy as np

from benchmarks.rag.common import percentile
from rag.edge_process import ProcessEdgeStore
from rag.edge_store import EdgeStore
from rag.store import ChunkRecord, Scope


def random_chunks(rng: np.random.Generator, n: int, offset: int, dim: int) -> list[ChunkRecord]:
    """``n`` unit-length random chunks of org "org", spread over kb0..kb9 by index."""
    v = rng.standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return [
        ChunkRecord(
            chunk_id=str(uuid.uuid4()),
            org_id="org",
            kb_id=f"kb{(offset + i) % 10}",
            document_id=f"doc{(offset + i) // 50}",
            document_name="doc.txt",
            chunk_index=i,
            text=f"chunk {offset + i}",
            heading_path=(),
            page=None,
            row=None,
            category=None,
            content_hash="h",
            vector=row.tolist(),
        )
        for i, row in enumerate(v)
    ]


async def bench_process_store(size: int, queries: int, added: int) -> list[dict[str, Any]]:
    """EdgeStore in-process against ProcessEdgeStore (the shard in a child process).

    Per mode: search latency in one knowledge base (10% of `size` points, 384-d uniform
    random, int8 scan) and the event loop's longest stall, seen by a task ticking every
    millisecond, while `added` more points are upserted (1000 per call) and optimised.
    """
    dim = 384
    rng = np.random.default_rng(7)

    def batch(n: int, offset: int) -> list[ChunkRecord]:
        return random_chunks(rng, n, offset, dim)

    rows: list[dict[str, Any]] = []
    for mode in ("in-process", "child process"):
        with tempfile.TemporaryDirectory() as tmp:
            store: EdgeStore | ProcessEdgeStore = (
                EdgeStore(tmp, "bench", dim, optimize_every=10**9)
                if mode == "in-process"
                else ProcessEdgeStore(tmp, "bench", dim, optimize_every=10**9)
            )
            try:
                for start in range(0, size, 1000):
                    await store.upsert(batch(min(1000, size - start), start))
                await store.optimize()
                scope = Scope("org", ("kb3",))
                qs = rng.standard_normal((queries + 5, dim)).astype(np.float32)
                wall: list[float] = []
                cpu0 = time.process_time()
                for i, q in enumerate(qs):
                    t0 = time.perf_counter()
                    await store.search(scope, q.tolist(), 5)
                    if i >= 5:  # the first few warm the caches (and the pipe)
                        wall.append((time.perf_counter() - t0) * 1000)
                cpu_ms = (time.process_time() - cpu0) * 1000 / len(qs)

                gaps: list[float] = []
                stop = asyncio.Event()

                async def ticker(gaps: list[float] = gaps, stop: asyncio.Event = stop) -> None:
                    last = time.perf_counter()
                    while not stop.is_set():
                        await asyncio.sleep(0.001)
                        now = time.perf_counter()
                        gaps.append((now - last) * 1000)
                        last = now

                # Built before the clock starts: the ticker sees the store's stalls only.
                batches = [
                    batch(min(1000, added - start), size + start) for start in range(0, added, 1000)
                ]
                task = asyncio.create_task(ticker())
                t0 = time.perf_counter()
                for records in batches:
                    await store.upsert(records)
                await store.optimize()
                write_s = time.perf_counter() - t0
                stop.set()
                await task
            finally:
                await store.aclose()
        row = {
            "mode": mode,
            "points": size,
            "scope_points": size // 10,
            "search_p50_ms": round(percentile(wall, 50), 3),
            "search_p95_ms": round(percentile(wall, 95), 3),
            "server_cpu_ms_per_search": round(cpu_ms, 3),
            "added_points": added,
            "upsert_and_optimize_s": round(write_s, 2),
            "loop_max_stall_ms": round(max(gaps), 1),
            "loop_p99_tick_ms": round(percentile(gaps, 99), 1),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        print(row, flush=True)
        rows.append(row)
    return rows


async def bench_optimise_wait(
    size: int,
    added: int,
    *,
    optimize_every: int = 20_000,
    max_segment_points: int = 20_000,
    search_every_ms: float = 20.0,
    batch_points: int = 1000,
    writers: int = 1,
) -> dict[str, Any]:
    """How long a search waits behind the child's writes and optimisations.

    `ProcessEdgeStore` with the given optimisation settings holds `size` points
    (10 kbs, 384-d uniform); then `added` more are upserted 1000 per call (an
    automatic optimise runs inside the upsert that crosses `optimize_every`) and
    one `optimize` settles them, while a search in one kb starts every
    `search_every_ms`. `batch_points` per upsert and `writers` concurrent writers:
    the service writes 32 chunks per call, with 2 ingestion workers. Each search's
    latency is its whole wait: the child answers one call at a time (a search goes
    ahead of queued writes), and an optimise holds its GIL.
    """
    dim = 384
    rng = np.random.default_rng(11)

    def batch(n: int, offset: int) -> list[ChunkRecord]:
        return random_chunks(rng, n, offset, dim)

    scope = Scope("org", ("kb3",))
    query = batch(1, 0)[0].vector
    with tempfile.TemporaryDirectory() as tmp:
        store = ProcessEdgeStore(
            tmp,
            "bench",
            dim,
            optimize_every=optimize_every,
            max_segment_points=max_segment_points,
        )
        try:
            for start in range(0, size, 1000):
                await store.upsert(batch(min(1000, size - start), start))
            await store.optimize()
            idle: list[float] = []
            for _ in range(50):
                t0 = time.perf_counter()
                await store.search(scope, query, 5)
                idle.append((time.perf_counter() - t0) * 1000)
            batches = iter(
                [
                    batch(min(batch_points, added - start), size + start)
                    for start in range(0, added, batch_points)
                ]
            )
            waits: list[float] = []
            calls: list[tuple[str, float]] = []
            writing = True

            async def searcher() -> None:
                while writing:
                    t0 = time.perf_counter()
                    await store.search(scope, query, 5)
                    waits.append((time.perf_counter() - t0) * 1000)
                    await asyncio.sleep(search_every_ms / 1000)

            task = asyncio.create_task(searcher())
            t_all = time.perf_counter()

            async def writer() -> None:
                for records in batches:  # shared: each batch goes to one writer
                    t0 = time.perf_counter()
                    await store.upsert(records)
                    calls.append(("upsert", (time.perf_counter() - t0) * 1000))

            await asyncio.gather(*(writer() for _ in range(writers)))
            t0 = time.perf_counter()
            await store.optimize()
            calls.append(("optimize", (time.perf_counter() - t0) * 1000))
            write_s = time.perf_counter() - t_all
            writing = False
            await task
            info = await store.info()
        finally:
            await store.aclose()
    longest_upsert = max(ms for op, ms in calls if op == "upsert")
    row = {
        "points": size,
        "added_points": added,
        "optimize_every": optimize_every,
        "max_segment_points": max_segment_points,
        "points_per_upsert": batch_points,
        "writers": writers,
        "segments_after": info["segments"],
        "write_and_optimize_s": round(write_s, 2),
        "longest_upsert_ms": round(longest_upsert, 1),
        "final_optimize_ms": round(calls[-1][1], 1),
        "idle_search_p95_ms": round(percentile(idle, 95), 2),
        "searches_during": len(waits),
        "search_p50_ms_during": round(percentile(waits, 50), 2),
        "search_p95_ms_during": round(percentile(waits, 95), 2),
        "search_p99_ms_during": round(percentile(waits, 99), 2),
        "search_max_ms_during": round(max(waits), 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(row, flush=True)
    return row
