"""Dense vs BM25 vs fused retrieval quality on the hand-written evaluation set."""

from __future__ import annotations

from typing import Any

import numpy as np

from rag.embeddings.onnx_minilm import MiniLMEmbedder


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
