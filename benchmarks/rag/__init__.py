"""Knowledge (RAG) benchmarks, one module per idea; run them with `python -m benchmarks.rag_bench`.

- ingestion: a generated PDF through the real ingestion path (parser process,
  chunker, MiniLM int8, the embedded store), pages and chunks per second.
- edge: EdgeStore search latency, CPU per search and recall@5 by scope shape, on
  synthetic 384-d corpora (uniform random and clustered); HNSW recall (opt-in).
- filters: one multi-kb search, the engine filter shapes compared (CPU per search).
- process: EdgeStore in-process vs ProcessEdgeStore (child process): search
  latency, event-loop stalls, and searches waiting behind an optimise.
- local: qdrant-client local mode, for reference (slow past a few thousand chunks).
- hybrid: dense vs BM25 vs both fused, on tests/rag/retrieval_eval_set.py.
"""

import os

# One BLAS thread: the recall checks' matrix products would otherwise leave OpenBLAS
# threads spinning, and their CPU would land in the next search's CPU time. Set here,
# before any submodule imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
