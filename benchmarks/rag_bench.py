"""RAG benchmark: ingestion throughput and filtered search latency on local Qdrant.

    python benchmarks/rag_bench.py [--sizes 10000 100000] [--queries 50] [--out PATH]

Ingestion runs the real path: a generated 40-page PDF through the parser process,
the chunker, the MiniLM int8 embedder and the embedded store (EdgeStore) on disk.
Search latency is measured on the store alone (query embedding excluded, reported
separately), with CPU time per search and recall@5 against exact brute force: the
bulk corpus is synthetic unit vectors (uniformly random, the worst case for any
index, and clustered), since embedding 100k real chunks with MiniLM on 2 cores
takes over an hour. Every search is scoped to an organisation and knowledge bases,
as in production. qdrant-client local mode is measured with `--local` (slow: its
100k load takes minutes). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# One BLAS thread: the recall check's matrix products would otherwise leave OpenBLAS
# threads spinning, and their CPU would land in the next search's cpu_ms.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.catalog import InMemoryCatalog
from rag.edge_process import ProcessEdgeStore
from rag.edge_store import EdgeStore
from rag.embeddings.onnx_minilm import MiniLMEmbedder
from rag.jobs import JobBoard, JobStatus
from rag.parsing.runner import DocumentParser
from rag.service import KnowledgeService
from rag.store import ChunkRecord, QdrantConnection, QdrantStore, Scope
from tests.rag.ragdocs import make_pdf

_VOCABULARY = (
    "order delivery refund warranty kitchen menu booking table invoice payment card "
    "account password reset opening hours holiday staff parking allergy gluten vegan "
    "soup dessert coffee tea breakfast lunch dinner price discount voucher manager"
)
WORDS = tuple(_VOCABULARY.split())
ORGS = 10


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


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


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


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


def corpus_records(
    vectors: np.ndarray, start: int, org_of: Any, kb_of: Any = lambda i: "kb"
) -> list[ChunkRecord]:
    """Bench points `start`.. with ids, org and kb derived from the global index."""
    return [
        ChunkRecord(
            chunk_id=str(uuid.UUID(int=start + n + 1)),
            org_id=org_of(start + n),
            kb_id=kb_of(start + n),
            document_id=f"doc{(start + n) // 50}",
            document_name=f"doc{(start + n) // 50}.pdf",
            chunk_index=(start + n) % 50,
            text="lorem ipsum " * 60,
            heading_path=(),
            page=1,
            row=None,
            category=None,
            content_hash="h",
            vector=vector.tolist(),
        )
        for n, vector in enumerate(vectors)
    ]


def cpu_ms() -> float:
    """CPU time of the whole process (every thread) so far, in ms."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


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


def clustered_vectors(n: int, dim: int, seed: int, centres: int = 500) -> np.ndarray:
    """Unit vectors around a few hundred centres: closer to real embeddings than noise."""
    rng = np.random.default_rng(seed)
    middle = rng.standard_normal((centres, dim)).astype(np.float32)
    v = middle[rng.integers(0, centres, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


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


def bench_hybrid() -> dict[str, Any]:
    """Dense (MiniLM) vs BM25 vs both fused (RRF) on tests/rag/retrieval_eval_set.py."""
    from tests.rag.retrieval_eval_set import (
        PASSAGES,
        QUESTIONS,
        bm25_scores,
        lexical_tokens,
        rrf,
    )

    embedder = MiniLMEmbedder()
    passages = embedder.embed_sync(list(PASSAGES))
    docs = [lexical_tokens(p) for p in PASSAGES]
    ranks: dict[str, dict[str, list[int]]] = {"dense": {}, "bm25": {}, "hybrid": {}}
    for question, answer, kind in QUESTIONS:
        dense = list(np.argsort(-(passages @ embedder.embed_sync([question])[0])))
        lexical_scores = bm25_scores(docs, lexical_tokens(question))
        lexical = [int(i) for i in np.argsort(-lexical_scores) if lexical_scores[i] > 0]
        hybrid = rrf([[int(i) for i in dense[:20]], lexical[:20]])
        for name, ranking in (("dense", dense), ("bm25", lexical), ("hybrid", hybrid)):
            position = ranking.index(answer) + 1 if answer in ranking else 999
            ranks[name].setdefault(kind, []).append(position)
            ranks[name].setdefault("all", []).append(position)
    embedder.close()
    table: dict[str, Any] = {}
    for name, by_kind in ranks.items():
        table[name] = {
            kind: {
                "recall_at_1": round(sum(p == 1 for p in pos) / len(pos), 3),
                "recall_at_3": round(sum(p <= 3 for p in pos) / len(pos), 3),
                "mrr_at_5": round(sum(1 / p for p in pos if p <= 5) / len(pos), 3),
            }
            for kind, pos in by_kind.items()
        }
    return {"passages": len(PASSAGES), "questions": len(QUESTIONS), "methods": table}


def print_table(result: dict[str, Any]) -> None:
    ing = result.get("ingestion")
    if ing:
        print("\nIngestion (PDF -> parse -> chunk -> MiniLM int8 -> EdgeStore on disk)")
        print(f"  {ing['pages']} pages, {ing['chunks']} chunks in {ing['total_s']} s")
        print(f"  {ing['pages_per_s']} pages/s, {ing['chunks_per_s']} chunks/s")
        print(f"  parse only: {ing['parse_pages_per_s']} pages/s")
        p50, p95 = ing["query_embed_ms_p50"], ing["query_embed_ms_p95"]
        print(f"  query embedding p50/p95: {p50}/{p95} ms")
    print("\nScoped search latency (top 5, query embedding excluded)")
    print(
        f"  {'engine / corpus / scope':62} {'chunks':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'cpu ms':>7} {'recall':>6}"
    )
    for row in result["search_local"] + result["search_edge"] + result["search_edge_single_kb"]:
        label = (
            f"{row['engine'][:24]} / {row.get('corpus', 'uniform')} / "
            f"{row.get('filter', '1 org of 10 (10%)')}"
        )
        print(
            f"  {label:62} {row['chunks']:>7} {row['p50_ms']:>7} {row['p95_ms']:>7} "
            f"{row.get('cpu_ms_p50', '-'):>7} {row.get('recall_at_5', 1.0):>6}"
        )


async def bench_process_store(size: int, queries: int, added: int) -> list[dict[str, Any]]:
    """EdgeStore in-process against ProcessEdgeStore (the shard in a child process).

    Per mode: search latency in one knowledge base (10% of `size` points, 384-d uniform
    random, int8 scan) and the event loop's longest stall, seen by a task ticking every
    millisecond, while `added` more points are upserted (1000 per call) and optimised.
    """
    dim = 384
    rng = np.random.default_rng(7)

    def batch(n: int, offset: int) -> list[ChunkRecord]:
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


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--skip-ingestion", action="store_true")
    ap.add_argument("--local", action="store_true", help="also measure qdrant-client local mode")
    ap.add_argument("--corpus", nargs="+", default=["uniform", "clustered"])
    ap.add_argument(
        "--single-kb", action="store_true", help="only EdgeStore with one kb holding every point"
    )
    ap.add_argument("--hnsw-m", type=int, default=0, help="with --single-kb: 16 builds HNSW")
    ap.add_argument("--skip-edge", action="store_true")
    ap.add_argument("--hybrid-only", action="store_true")
    ap.add_argument("--recall-check", action="store_true")
    ap.add_argument(
        "--process-store",
        action="store_true",
        help="only EdgeStore in-process vs in a child process: search latency, loop stall",
    )
    ap.add_argument("--added", type=int, default=20_000, help="with --process-store")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "rag.json"))
    args = ap.parse_args()
    out = Path(args.out)
    # Sections not re-run this time are kept from the previous file.
    previous: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}  # noqa: ASYNC240
    result: dict[str, Any] = {
        **previous,  # sections this script does not write (findings) stay
        "machine": {
            **previous.get("machine", {}),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # Other work on the machine inflates latencies; record it with the numbers.
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "note": (
            "search corpus: synthetic 384-d unit vectors (uniform random, and clustered "
            "around 500 centres); EdgeStore: one organisation, 10 knowledge bases, scopes "
            "of 1 kb (10% of the points) and all 10 kbs (100%); local mode: 10 "
            "organisations, scope one (10%); query embedding excluded; cpu_ms is the "
            "process's CPU time per search"
        ),
        "ingestion": previous.get("ingestion"),
        "search_local": previous.get("search_local", []),
        "search_edge": previous.get("search_edge", []),
        "hnsw_recall_check": previous.get("hnsw_recall_check"),
        "search_edge_single_kb": previous.get("search_edge_single_kb", []),
        "process_store": previous.get("process_store", []),
    }
    if args.process_store:
        size = args.sizes[0]
        result["process_store"] = await bench_process_store(size, args.queries, args.added)
        out.write_text(json.dumps(result, indent=2) + "\n")  # noqa: ASYNC240
        print(f"\nwrote {args.out}")
        return
    hybrid = bench_hybrid()
    print(json.dumps(hybrid, indent=1), flush=True)
    out.with_name("rag_hybrid.json").write_text(json.dumps(hybrid, indent=2) + "\n")
    if args.hybrid_only:
        return
    if args.single_kb:
        # Rows of other engines (graph or none) stay; this engine's are replaced.
        new = [
            row
            for size in args.sizes
            for corpus in args.corpus
            for row in await bench_edge_store(
                size, args.queries, corpus, hnsw_m=args.hnsw_m, single_kb=True
            )
        ]
        engines = {row["engine"] for row in new}
        kept = [r for r in result["search_edge_single_kb"] if r["engine"] not in engines]
        result["search_edge_single_kb"] = kept + new
        out.write_text(json.dumps(result, indent=2) + "\n")  # noqa: ASYNC240
        print(f"\nwrote {args.out}")
        return
    if not args.skip_ingestion:
        result["ingestion"] = await bench_ingestion(args.pages)
    if args.recall_check:
        result["hnsw_recall_check"] = await bench_hnsw_recall()
    if args.local:
        result["search_local"] = []
    if not args.skip_edge:
        result["search_edge"] = []
    for size in args.sizes:
        # Local mode scans in Python: fewer queries at 100k keep the run bounded.
        n = args.queries if size <= 20_000 else max(10, args.queries // 3)
        if args.local:
            result["search_local"].append(await bench_qdrant_local(size, n))
            print(result["search_local"][-1], flush=True)
        if not args.skip_edge:
            for corpus in args.corpus:
                result["search_edge"].extend(await bench_edge_store(size, args.queries, corpus))
    print_table(result)
    out.write_text(json.dumps(result, indent=2) + "\n")  # noqa: ASYNC240
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    asyncio.run(main())
