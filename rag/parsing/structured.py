"""JSON: flatten to `path: value` leaves (`menu.items[2].price: 4.50`).

Numbers keep their source spelling (`4.50` stays `4.50`) because users search
for what they typed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rag.errors import ParseError, TooLarge
from rag.limits import IngestLimits
from rag.parsing.blocks import Block, DocumentKind, ParsedDocument
from rag.parsing.text import decode_text

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class _Number(str):
    """A JSON number kept as its literal text."""


def parse_json(filename: str, data: bytes, limits: IngestLimits) -> ParsedDocument:
    text = decode_text(data)
    try:
        value = json.loads(text, parse_float=_Number, parse_int=_Number)
    except RecursionError as exc:
        # The C decoder guards its own recursion, so absurd nesting lands here, not in a crash.
        raise ParseError(filename, "nesting too deep") from exc
    except ValueError as exc:
        raise ParseError(filename, f"invalid JSON ({exc})") from exc
    leaves: list[Block] = []
    _flatten(value, "", 0, leaves, filename=filename, limits=limits)
    return ParsedDocument(DocumentKind.JSON, tuple(leaves), units=1)


def _flatten(
    value: Any, path: str, depth: int, out: list[Block], *, filename: str, limits: IngestLimits
) -> None:
    if depth > limits.max_json_depth:
        raise ParseError(filename, f"nesting deeper than {limits.max_json_depth} levels")
    if isinstance(value, dict):
        if not value:
            return
        for key, item in value.items():
            step = key if _PLAIN_KEY.match(key) else json.dumps(key, ensure_ascii=False)
            _flatten(
                item,
                f"{path}.{step}" if path else step,
                depth + 1,
                out,
                filename=filename,
                limits=limits,
            )
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(item, f"{path}[{index}]", depth + 1, out, filename=filename, limits=limits)
    else:
        if len(out) >= limits.max_rows:
            raise TooLarge(f"{filename!r} leaf count", len(out) + 1, limits.max_rows)
        out.append(Block("field", f"{path or '$'}: {_render(value)}", row=len(out) + 1))


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)
