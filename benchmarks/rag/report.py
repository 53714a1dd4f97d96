"""The printed summary table of a knowledge benchmark run."""

from __future__ import annotations

from typing import Any


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
