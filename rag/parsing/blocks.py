"""What a parser returns: an ordered list of typed text blocks with their location."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

BlockKind = Literal["heading", "paragraph", "row", "field"]


class DocumentKind(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    TEXT = "text"
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class Block:
    """One unit of structure.

    `heading` blocks carry `level` (1 = top); `row` blocks (CSV) carry `row` (1-based,
    header excluded) and `headers`; `field` blocks (JSON) are one flattened leaf path.
    """

    kind: BlockKind
    text: str
    page: int | None = None
    row: int | None = None
    level: int = 0
    headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    kind: DocumentKind
    blocks: tuple[Block, ...]
    #: Pages for PDF, rows for CSV, 1 otherwise: the unit of ingestion throughput.
    units: int = 1
    warnings: tuple[str, ...] = field(default=())
