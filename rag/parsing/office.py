"""DOCX with python-docx: headings by paragraph style, tables as rows with headers."""

from __future__ import annotations

import io
import re
from typing import Any

from rag.errors import ParseError, RagError
from rag.limits import IngestLimits
from rag.parsing.blocks import Block, DocumentKind, ParsedDocument
from rag.parsing.zipguard import check_zip

_HEADING_STYLE = re.compile(r"^Heading (\d)$")


def parse_docx(filename: str, data: bytes, limits: IngestLimits) -> ParsedDocument:
    check_zip(filename, data, limits).close()
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[Block] = []
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                block = _paragraph_block(item)
                if block is not None:
                    blocks.append(block)
            elif isinstance(item, Table):
                blocks.extend(_table_blocks(item, limits.max_rows))
    except RagError:
        raise
    except Exception as exc:
        raise ParseError(filename, f"broken DOCX ({type(exc).__name__}: {exc})") from exc
    return ParsedDocument(DocumentKind.DOCX, tuple(blocks), units=1)


def _paragraph_block(paragraph: Any) -> Block | None:
    text = paragraph.text.strip()
    if not text:
        return None
    style = paragraph.style.name if paragraph.style is not None else ""
    if style == "Title":
        return Block("heading", text, level=1)
    match = _HEADING_STYLE.match(style)
    if match:
        return Block("heading", text, level=int(match.group(1)))
    return Block("paragraph", text)


def _table_blocks(table: Any, max_rows: int) -> list[Block]:
    rows = table.rows
    if not rows:
        return []
    headers = tuple(cell.text.strip() or f"column {i + 1}" for i, cell in enumerate(rows[0].cells))
    blocks: list[Block] = []
    for number, row in enumerate(list(rows)[1 : max_rows + 1], start=1):
        cells = [cell.text.strip() for cell in row.cells]
        pairs = [
            f"{headers[i] if i < len(headers) else f'column {i + 1}'}: {value}"
            for i, value in enumerate(cells)
            if value
        ]
        if pairs:
            blocks.append(Block("row", "; ".join(pairs), row=number, headers=headers))
    return blocks
