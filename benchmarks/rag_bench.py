"""RAG benchmark: ingestion throughput and scoped search latency on the embedded store.

    python -m benchmarks.rag_bench [--sizes 10000 100000] [--queries 50] [--out PATH]
    python -m benchmarks.rag_bench --filters        # multi-kb filter shapes, CPU per search
    python -m benchmarks.rag_bench --process-store  # child process: stalls, optimise waits

Ingestion runs the real path: a generated 40-page PDF through the parser process,
the chunker, the MiniLM int8 embedder and the embedded store (EdgeStore) on disk.
Search latency is measured on the store alone (query embedding excluded, reported
separately), with CPU time per search and recall@5 against exact brute force: the
bulk corpus is synthetic unit vectors (uniformly random, the worst case for any
index, and clustered), since embedding 100k real chunks with MiniLM on 2 cores
takes over an hour. Every search is scoped to an organisation and knowledge bases,
as in production. qdrant-client local mode is measured with `--local` (slow: its
100k load takes minutes). Prints a table, writes JSON. The pieces live in
benchmarks/rag/, one module per idea.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.rag.cli import main

if __name__ == "__main__":
    asyncio.run(main())
