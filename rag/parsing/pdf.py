"""PDF text extraction with pypdf, page by page."""

from __future__ import annotations

import io
import warnings

from rag.errors import ParseError, RagError, TooManyPages
from rag.limits import IngestLimits
from rag.parsing.blocks import Block, DocumentKind, ParsedDocument
from rag.parsing.text import text_blocks


def parse_pdf(filename: str, data: bytes, limits: IngestLimits) -> ParsedDocument:
    """Blocking and potentially slow on hostile input: call it through `DocumentParser`."""
    from pypdf import PdfReader

    try:
        with warnings.catch_warnings():
            # pypdf warns about every sloppy producer; malformed input is judged below.
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise ParseError(filename, "the PDF is password-protected")
            count = len(reader.pages)
            if count > limits.max_pages:
                raise TooManyPages(filename, count, limits.max_pages)
            blocks: list[Block] = []
            for number, page in enumerate(reader.pages, start=1):
                blocks.extend(text_blocks(page.extract_text() or "", page=number))
    except RagError:
        raise
    except Exception as exc:
        # pypdf raises a wide variety (PdfReadError, KeyError, ValueError...) on broken files.
        raise ParseError(filename, f"broken PDF ({type(exc).__name__}: {exc})") from exc
    return ParsedDocument(DocumentKind.PDF, tuple(blocks), units=count)
