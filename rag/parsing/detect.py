"""Decide a document's kind from its name and its first bytes."""

from __future__ import annotations

from pathlib import PurePath

from rag.errors import UnsupportedType
from rag.parsing.blocks import DocumentKind

_BY_SUFFIX: dict[str, DocumentKind] = {
    ".pdf": DocumentKind.PDF,
    ".docx": DocumentKind.DOCX,
    ".txt": DocumentKind.TEXT,
    ".md": DocumentKind.TEXT,
    ".markdown": DocumentKind.TEXT,
    ".csv": DocumentKind.CSV,
    ".json": DocumentKind.JSON,
}


def detect_kind(filename: str, data: bytes) -> DocumentKind:
    """The kind named by the suffix, confirmed by magic bytes where the format has them.

    A name and content that disagree are refused: a renamed binary must not reach a
    parser that trusts its suffix.
    """
    suffix = PurePath(filename).suffix.lower()
    kind = _BY_SUFFIX.get(suffix)
    if kind is None:
        raise UnsupportedType(filename, f"suffix {suffix or '(none)'!r}")
    head = data[:1024]
    if kind is DocumentKind.PDF and b"%PDF-" not in head:
        raise UnsupportedType(filename, "named .pdf but has no PDF header")
    if kind is DocumentKind.DOCX and not data.startswith(b"PK\x03\x04"):
        raise UnsupportedType(filename, "named .docx but is not a zip container")
    if kind in (DocumentKind.TEXT, DocumentKind.CSV, DocumentKind.JSON) and _looks_binary(head):
        raise UnsupportedType(filename, "named as text but contains binary data")
    return kind


def _looks_binary(head: bytes) -> bool:
    # UTF-16 text is full of NULs, so a BOM vouches for it.
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return b"\x00" in head
