"""Structure-respecting chunking with a token budget and overlap.

Rules, in order of precedence:
- A heading closes the running chunk; chunks never straddle sections, and each
  chunk carries its heading path (`("Menu", "Drinks")`).
- Table rows (CSV, DOCX tables) are one chunk each: a row is the unit people ask
  about, and its text already carries the column headers.
- A new PDF page starts a new chunk (overlap still carries across), so each
  chunk cites one page.
- Paragraphs are packed whole while they fit; a paragraph that does not fit starts
  a new chunk once the running one is at least half full, otherwise it is split at
  sentences (and an over-long sentence at words).
- Consecutive chunks of running text share `overlap_tokens` worth of trailing
  sentences so an answer split across a boundary is still found.
- JSON leaves are packed in runs that share their top-level key.

Tokens are counted with the function given, normally the embedding model's own
tokenizer (`Embedder.count_tokens`), so the budget matches what the model sees;
`approx_tokens` (4 characters per token) is the fallback for remote models.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from rag.parsing.blocks import Block

TokenCounter = Callable[[str], int]

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_TOP_KEY = re.compile(r"^([^.\[:]+)")


def approx_tokens(text: str) -> int:
    """About 4 characters per token for English WordPiece/BPE; errs on the high side."""
    return max(1, math.ceil(len(text) / 4))


@dataclass(frozen=True, slots=True)
class ChunkingConfig:
    #: all-MiniLM-L6-v2 truncates at 256 tokens; leave room for the heading path.
    max_tokens: int = 200
    overlap_tokens: int = 32


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    row: int | None = None

    def embedding_text(self) -> str:
        """What is embedded: the section path gives a bare paragraph its topic."""
        if not self.heading_path:
            return self.text
        return " > ".join(self.heading_path) + "\n" + self.text


@dataclass(slots=True)
class _Unit:
    text: str
    tokens: int
    paragraph_start: bool
    page: int | None
    #: Copied from the previous chunk as overlap; does not decide the chunk's page.
    carried: bool = False


@dataclass(slots=True)
class _Builder:
    config: ChunkingConfig
    count: TokenCounter
    chunks: list[Chunk] = field(default_factory=list)
    headings: list[tuple[int, str]] = field(default_factory=list)
    running: list[_Unit] = field(default_factory=list)
    running_tokens: int = 0
    #: True while `running` holds only overlap copied from the previous chunk.
    only_overlap: bool = False

    # -- emitting -------------------------------------------------------
    def path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.headings)

    def emit(self, text: str, page: int | None = None, row: int | None = None) -> None:
        self.chunks.append(Chunk(len(self.chunks), text, self.path(), page, row))

    def flush(self, keep_overlap: bool) -> None:
        if self.running and not self.only_overlap:
            parts: list[str] = []
            for unit in self.running:
                if parts:
                    parts.append("\n\n" if unit.paragraph_start else " ")
                parts.append(unit.text)
            page = next((u.page for u in self.running if not u.carried), self.running[0].page)
            self.emit("".join(parts), page=page)
        tail: list[_Unit] = []
        if keep_overlap and self.config.overlap_tokens > 0:
            # Never more than half the chunk: a short chunk is not worth repeating whole.
            budget = min(self.config.overlap_tokens, self.running_tokens // 2)
            for unit in reversed(self.running):
                if unit.tokens > budget:
                    break
                tail.insert(0, replace(unit, carried=True))
                budget -= unit.tokens
        self.running = tail
        self.running_tokens = sum(u.tokens for u in tail)
        self.only_overlap = bool(tail)

    def add(self, unit: _Unit) -> None:
        if self.running_tokens + unit.tokens > self.config.max_tokens and self.running:
            self.flush(keep_overlap=True)
            # Overlap must never push a fresh unit over budget.
            while self.running and self.running_tokens + unit.tokens > self.config.max_tokens:
                self.running_tokens -= self.running.pop(0).tokens
        self.running.append(unit)
        self.running_tokens += unit.tokens
        self.only_overlap = False

    # -- block kinds ----------------------------------------------------
    def heading(self, block: Block) -> None:
        self.flush(keep_overlap=False)
        level = max(block.level, 1)
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        self.headings.append((level, block.text))

    def paragraph(self, block: Block) -> None:
        units = [
            _Unit(piece, self.count(piece), i == 0, block.page)
            for i, piece in enumerate(self.split(block.text))
        ]
        total = sum(u.tokens for u in units)
        fits = self.running_tokens + total <= self.config.max_tokens
        half_full = self.running_tokens >= self.config.max_tokens / 2
        new_page = bool(self.running) and self.running[-1].page != block.page
        # A new page starts a new chunk so that every chunk cites one page.
        if not self.only_overlap and (new_page or (not fits and half_full)):
            self.flush(keep_overlap=True)
        for unit in units:
            self.add(unit)

    def split(self, text: str) -> list[str]:
        """Sentences, with any sentence over budget cut into word windows."""
        pieces: list[str] = []
        for sentence in _SENTENCE_END.split(text):
            if not sentence:
                continue
            tokens = self.count(sentence)
            if tokens <= self.config.max_tokens:
                pieces.append(sentence)
            else:
                pieces.extend(self.windows(sentence, tokens))
        return pieces

    def windows(self, text: str, tokens: int) -> list[str]:
        words = text.split()
        per = max(1, int(len(words) * self.config.max_tokens / tokens * 0.9))
        return [" ".join(words[i : i + per]) for i in range(0, len(words), per)]

    def row(self, block: Block) -> None:
        self.flush(keep_overlap=False)
        tokens = self.count(block.text)
        pieces = [block.text] if tokens <= self.config.max_tokens else []
        if not pieces:
            # An over-long row is cut, and every piece keeps its row number.
            pieces = self.windows(block.text, tokens)
        for piece in pieces:
            self.emit(piece, page=block.page, row=block.row)


def chunk_blocks(
    blocks: Iterable[Block],
    count_tokens: TokenCounter = approx_tokens,
    config: ChunkingConfig | None = None,
) -> list[Chunk]:
    builder = _Builder(config or ChunkingConfig(), count_tokens)
    fields: list[Block] = []
    for block in blocks:
        if block.kind != "field" and fields:
            _pack_fields(builder, fields)
            fields = []
        match block.kind:
            case "heading":
                builder.heading(block)
            case "paragraph":
                builder.paragraph(block)
            case "row":
                builder.row(block)
            case "field":
                fields.append(block)
    if fields:
        _pack_fields(builder, fields)
    builder.flush(keep_overlap=False)
    return builder.chunks


def _pack_fields(builder: _Builder, fields: Sequence[Block]) -> None:
    builder.flush(keep_overlap=False)
    run: list[str] = []
    run_tokens = 0
    run_key: str | None = None
    for block in fields:
        match = _TOP_KEY.match(block.text)
        key = match.group(1) if match else ""
        tokens = builder.count(block.text)
        if run and (key != run_key or run_tokens + tokens > builder.config.max_tokens):
            builder.emit("\n".join(run))
            run, run_tokens = [], 0
        if tokens > builder.config.max_tokens:
            for piece in builder.windows(block.text, tokens):
                builder.emit(piece)
            continue
        run.append(block.text)
        run_tokens += tokens
        run_key = key
    if run:
        builder.emit("\n".join(run))
