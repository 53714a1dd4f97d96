"""CSV: every row becomes a block that carries the header names with its values."""

from __future__ import annotations

import csv
import io

from rag.errors import ParseError, TooLarge
from rag.limits import IngestLimits
from rag.parsing.blocks import Block, DocumentKind, ParsedDocument
from rag.parsing.text import decode_text

_SNIFF_BYTES = 16 * 1024


def parse_csv(filename: str, data: bytes, limits: IngestLimits) -> ParsedDocument:
    text = decode_text(data)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:_SNIFF_BYTES], delimiters=",;\t|"
        )
    except csv.Error:
        dialect = csv.excel
    # The csv module caps fields at 128 KiB by default and raises csv.Error past it.
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader, None)
        if header is None:
            return ParsedDocument(DocumentKind.CSV, (), units=0)
        headers = tuple(h.strip() or f"column {i + 1}" for i, h in enumerate(header))
        blocks: list[Block] = []
        for number, row in enumerate(reader, start=1):
            if number > limits.max_rows:
                raise TooLarge(f"{filename!r} row count", number, limits.max_rows)
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            pairs = [
                f"{headers[i] if i < len(headers) else f'column {i + 1}'}: {value}"
                for i, value in enumerate(cells)
                if value
            ]
            blocks.append(Block("row", "; ".join(pairs), row=number, headers=headers))
    except csv.Error as exc:
        raise ParseError(filename, f"malformed CSV ({exc})") from exc
    return ParsedDocument(DocumentKind.CSV, tuple(blocks), units=max(len(blocks), 1))
