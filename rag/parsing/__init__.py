"""Document parsing: bytes in, typed blocks with page/row locations out."""

from rag.parsing.blocks import Block, BlockKind, DocumentKind, ParsedDocument
from rag.parsing.detect import detect_kind
from rag.parsing.dispatch import parse_sync
from rag.parsing.runner import DocumentParser

__all__ = [
    "Block",
    "BlockKind",
    "DocumentKind",
    "DocumentParser",
    "ParsedDocument",
    "detect_kind",
    "parse_sync",
]
