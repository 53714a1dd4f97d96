"""`search_knowledge` as an LLM tool, and hits formatted as cited prompt context."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rag.errors import RagError
from rag.hits import Hit
from rag.service import KnowledgeService

TOOL_NAME = "search_knowledge"
MAX_TOOL_TOP_K = 8


def search_tool_spec(description: str | None = None) -> dict[str, Any]:
    """OpenAI-style function spec; Anthropic's `input_schema` is the same `parameters`."""
    return {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": description
            or "Search the organisation's knowledge base for facts to answer the user. "
            "Returns passages with a source to cite.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to look up."},
                    "top_k": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_TOOL_TOP_K,
                        "description": "How many passages to return.",
                    },
                    "category": {"type": "string", "description": "Optional category filter."},
                },
                "required": ["query"],
                "additionalProperties": False,
            },
        },
    }


async def run_search_tool(
    service: KnowledgeService,
    org_id: str,
    kb_ids: Sequence[str],
    arguments: Mapping[str, Any] | str,
) -> str:
    """Execute a tool call from the model; the org and kb ids come from the agent, never
    from the model's arguments. Always returns a JSON string (errors included)."""
    try:
        args = json.loads(arguments) if isinstance(arguments, str) else dict(arguments)
        if not isinstance(args, dict):
            raise ValueError("arguments must be an object")
        query = args.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ValueError("'query' must be a non-empty string")
        top_k = args.get("top_k", 4)
        top_k = max(1, min(int(top_k), MAX_TOOL_TOP_K)) if isinstance(top_k, int) else 4
        category = args.get("category")
        category = category if isinstance(category, str) and category else None
        hits = await service.search(org_id, kb_ids, query, top_k, category)
    except (ValueError, TypeError) as exc:
        return json.dumps({"error": f"invalid arguments: {exc}"})
    except RagError as exc:
        return json.dumps({"error": str(exc)})
    return json.dumps(
        {
            "results": [
                {"id": i, "source": hit.source, "text": hit.text, "score": round(hit.score, 3)}
                for i, hit in enumerate(hits, start=1)
            ]
        },
        ensure_ascii=False,
    )


def format_context(hits: Sequence[Hit], max_chars: int = 4000) -> str:
    """Hits as a numbered block for the system prompt; the model cites `[n]`."""
    if not hits:
        return ""
    lines = ["Knowledge (cite as [n] when you use it):"]
    used = len(lines[0])
    for i, hit in enumerate(hits, start=1):
        entry = f"[{i}] ({hit.source}) {hit.text}"
        if used + len(entry) > max_chars:
            break
        lines.append(entry)
        used += len(entry)
    return "\n".join(lines)
