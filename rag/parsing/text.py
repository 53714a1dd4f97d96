"""Plain text and Markdown: encoding detection, `#` headings, blank-line paragraphs."""

from __future__ import annotations

import codecs
import re

from rag.parsing.blocks import Block, DocumentKind, ParsedDocument

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM optional), UTF-16 with a BOM, else Latin-1, which never fails.

    Latin-1 is the last resort because every byte string decodes under it; a
    wrongly guessed legacy encoding still keeps ASCII words searchable.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def text_blocks(text: str, page: int | None = None) -> list[Block]:
    """Split text into heading and paragraph blocks (Markdown-style `#` headings)."""
    blocks: list[Block] = []
    for raw in _PARAGRAPH_BREAK.split(normalise_newlines(text)):
        lines: list[str] = []
        for line in raw.split("\n"):
            match = _HEADING.match(line.strip())
            if match:
                if lines:
                    blocks.append(Block("paragraph", _join(lines), page=page))
                    lines = []
                level = len(match.group(1))
                blocks.append(Block("heading", match.group(2), page=page, level=level))
            elif line.strip():
                lines.append(line.strip())
        if lines:
            blocks.append(Block("paragraph", _join(lines), page=page))
    return blocks


def _join(lines: list[str]) -> str:
    return " ".join(lines)


def parse_text(data: bytes) -> ParsedDocument:
    return ParsedDocument(DocumentKind.TEXT, tuple(text_blocks(decode_text(data))))
