"""One synchronous entry point from (kind, bytes) to blocks; safe to run in any process."""

from __future__ import annotations

from rag.limits import IngestLimits
from rag.parsing.blocks import DocumentKind, ParsedDocument
from rag.parsing.office import parse_docx
from rag.parsing.pdf import parse_pdf
from rag.parsing.structured import parse_json
from rag.parsing.tabular import parse_csv
from rag.parsing.text import parse_text


def parse_sync(
    kind: DocumentKind, filename: str, data: bytes, limits: IngestLimits
) -> ParsedDocument:
    match kind:
        case DocumentKind.PDF:
            return parse_pdf(filename, data, limits)
        case DocumentKind.DOCX:
            return parse_docx(filename, data, limits)
        case DocumentKind.CSV:
            return parse_csv(filename, data, limits)
        case DocumentKind.JSON:
            return parse_json(filename, data, limits)
        case DocumentKind.TEXT:
            return parse_text(data)
