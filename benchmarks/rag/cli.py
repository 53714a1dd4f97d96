"""`python -m benchmarks.rag_bench`: arguments, which sections run, the results JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

from benchmarks.rag.edge import bench_edge_store, bench_hnsw_recall
from benchmarks.rag.filters import bench_filters
from benchmarks.rag.hybrid import bench_hybrid
from benchmarks.rag.ingestion import bench_ingestion
from benchmarks.rag.local import bench_qdrant_local
from benchmarks.rag.process import bench_optimise_wait, bench_process_store
from benchmarks.rag.report import print_table

RESULTS = Path(__file__).resolve().parents[1] / "results"


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
    ap.add_argument(
        "--filters",
        action="store_true",
        help="only the multi-kb filter shapes (10 kbs of sizes[0]/10), CPU per search",
    )
    ap.add_argument("--out", default=str(RESULTS / "rag.json"))
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
        "multi_kb_filters": previous.get("multi_kb_filters", []),
        "search_during_optimise": previous.get("search_during_optimise", []),
    }
    if args.filters:
        result["multi_kb_filters"] = [
            await bench_filters(args.sizes[0], args.queries, corpus) for corpus in args.corpus
        ]
        out.write_text(json.dumps(result, indent=2) + "\n")  # noqa: ASYNC240
        print(f"\nwrote {args.out}")
        return
    if args.process_store:
        size = args.sizes[0]
        result["process_store"] = await bench_process_store(size, args.queries, args.added)
        result["search_during_optimise"] = [
            await bench_optimise_wait(
                size,
                args.added * 2,
                optimize_every=every,
                max_segment_points=segment,
                batch_points=points,
                writers=writers,
            )
            for every, segment, points, writers in (
                (20_000, 20_000, 1000, 1),
                (20_000, 20_000, 32, 2),  # the service's shape: 32 chunks a call, 2 workers
                (5_000, 20_000, 1000, 1),
                (5_000, 5_000, 1000, 1),
            )
        ]
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
