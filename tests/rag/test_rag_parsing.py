from __future__ import annotations

import tracemalloc

import pytest

from rag.errors import ArchiveBomb, ParseError, ParseTimeout, TooLarge, UnsupportedType
from rag.limits import IngestLimits
from rag.parsing import DocumentKind, DocumentParser, detect_kind, parse_sync
from rag.parsing.text import decode_text
from rag.parsing.zipguard import check_zip
from tests.rag.ragdocs import (
    make_csv,
    make_docx,
    make_json,
    make_many_entries_zip,
    make_pdf,
    make_zip_bomb,
)

LIMITS = IngestLimits()


def test_text_encodings_are_detected() -> None:
    assert decode_text("café".encode()) == "café"
    assert decode_text(b"\xef\xbb\xbfcaf\xc3\xa9") == "café"
    assert decode_text("café".encode("utf-16")) == "café"
    assert decode_text("café".encode("utf-16-be").join([b"\xfe\xff", b""])) == "café"
    assert decode_text("café".encode("latin-1")) == "café"


def test_markdown_headings_and_paragraphs() -> None:
    doc = parse_sync(
        DocumentKind.TEXT, "a.md", b"# Menu\n\nSoups are hot.\nVery hot.\n\n## Drinks\nTea.", LIMITS
    )
    kinds = [(b.kind, b.text, b.level) for b in doc.blocks]
    assert kinds == [
        ("heading", "Menu", 1),
        ("paragraph", "Soups are hot. Very hot.", 0),
        ("heading", "Drinks", 2),
        ("paragraph", "Tea.", 0),
    ]


def test_csv_rows_carry_their_headers() -> None:
    data = make_csv([["dish", "price"], ["soup", "4.50"], ["", ""], ["tea", "2.00"]], ";")
    doc = parse_sync(DocumentKind.CSV, "menu.csv", data, LIMITS)
    assert [(b.kind, b.row, b.text) for b in doc.blocks] == [
        ("row", 1, "dish: soup; price: 4.50"),
        ("row", 3, "dish: tea; price: 2.00"),
    ]
    assert doc.blocks[0].headers == ("dish", "price")


def test_csv_row_limit() -> None:
    data = make_csv([["a"], *[[str(i)] for i in range(20)]])
    with pytest.raises(TooLarge):
        parse_sync(DocumentKind.CSV, "big.csv", data, IngestLimits(max_rows=10))


def test_json_is_flattened_to_paths_keeping_number_spelling() -> None:
    data = (
        b'{"menu": {"items": [{"name": "tea"}, {"name": "cake"}, {"name": "soup", "price": 4.50}]}}'
    )
    doc = parse_sync(DocumentKind.JSON, "menu.json", data, LIMITS)
    texts = [b.text for b in doc.blocks]
    assert "menu.items[2].price: 4.50" in texts
    assert "menu.items[0].name: tea" in texts


def test_json_odd_keys_are_quoted_and_deep_nesting_refused() -> None:
    doc = parse_sync(DocumentKind.JSON, "a.json", make_json({"a b": {"c": True}}), LIMITS)
    assert doc.blocks[0].text == '"a b".c: true'
    deep = b"[" * 100 + b"]" * 100
    with pytest.raises(ParseError, match="nesting"):
        parse_sync(DocumentKind.JSON, "deep.json", deep, IngestLimits(max_json_depth=50))
    with pytest.raises(ParseError, match="invalid JSON"):
        parse_sync(DocumentKind.JSON, "bad.json", b'{"a": ', LIMITS)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.pdf", b"%PDF-1.4 ...", DocumentKind.PDF),
        ("A.DOCX", b"PK\x03\x04rest", DocumentKind.DOCX),
        ("notes.md", b"# hi", DocumentKind.TEXT),
        ("x.csv", b"a,b", DocumentKind.CSV),
        ("x.json", b"{}", DocumentKind.JSON),
    ],
)
def test_detect_kind(name: str, data: bytes, expected: DocumentKind) -> None:
    assert detect_kind(name, data) is expected


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("virus.exe", b"MZ"),
        ("noext", b"hello"),
        ("fake.pdf", b"hello, not a pdf"),
        ("fake.docx", b"%PDF-1.4"),
        ("bin.txt", b"ab\x00\x01\x02"),
    ],
)
def test_unsupported_or_mislabelled_types_are_refused(name: str, data: bytes) -> None:
    with pytest.raises(UnsupportedType, match="unsupported document type"):
        detect_kind(name, data)


def test_zip_bomb_is_refused_from_the_directory_with_little_memory() -> None:
    bomb = make_zip_bomb()
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveBomb, match="expands"):
            check_zip("bomb.docx", bomb, LIMITS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 20 MiB of zeros declared; the check never inflates any of it.
    assert peak < 1024 * 1024


def test_zip_entry_count_and_total_size_caps() -> None:
    with pytest.raises(ArchiveBomb, match="entries"):
        check_zip("many.docx", make_many_entries_zip(30), IngestLimits(max_zip_entries=20))
    with pytest.raises(ArchiveBomb, match="uncompressed size"):
        check_zip(
            "big.docx",
            make_zip_bomb(2 * 1024 * 1024),
            IngestLimits(max_zip_uncompressed_bytes=1024 * 1024, max_zip_ratio=10_000),
        )
    with pytest.raises(ParseError, match="not a valid zip"):
        check_zip("broken.docx", b"PK\x03\x04garbage", LIMITS)


async def test_pdf_pages_are_parsed_in_the_worker_process(parser: DocumentParser) -> None:
    pdf = make_pdf([["Opening hours", "We open at nine (9) every day."], ["Refunds take 5 days."]])
    doc = await parser.parse("handbook.pdf", pdf)
    assert doc.kind is DocumentKind.PDF
    assert doc.units == 2
    by_page = {b.page: b.text for b in doc.blocks}
    assert "nine (9)" in by_page[1]
    assert "Refunds take 5 days." in by_page[2]


async def test_broken_pdf_is_a_parse_error_and_the_worker_survives(
    parser: DocumentParser,
) -> None:
    with pytest.raises(ParseError, match="broken PDF"):
        await parser.parse("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    doc = await parser.parse("ok.pdf", make_pdf([["still works"]]))
    assert "still works" in doc.blocks[0].text


async def test_pdf_page_limit() -> None:
    parser = DocumentParser(IngestLimits(max_pages=2))
    try:
        with pytest.raises(ParseError, match="3 pages"):
            await parser.parse("long.pdf", make_pdf([["a"], ["b"], ["c"]]))
    finally:
        parser.close()


async def test_slow_pdf_is_killed_at_the_deadline_and_the_next_parse_runs() -> None:
    # 400 pages cannot be parsed in 1 ms; the deadline must stop the worker.
    big = make_pdf([[f"line {i} of page {p}" for i in range(40)] for p in range(400)])
    parser = DocumentParser(IngestLimits(parse_timeout_s=0.001))
    try:
        with pytest.raises(ParseTimeout, match="longer than"):
            await parser.parse("slow.pdf", big)
        relaxed = DocumentParser(IngestLimits(parse_timeout_s=20))
        try:
            doc = await relaxed.parse("small.pdf", make_pdf([["fine"]]))
        finally:
            relaxed.close()
        assert doc.blocks[0].text == "fine"
    finally:
        parser.close()


async def test_docx_headings_paragraphs_and_table_rows(parser: DocumentParser) -> None:
    data = make_docx(
        "Staff handbook",
        [("Holidays", ["Staff get 25 days of leave."]), ("Pay", ["Paid monthly."])],
        table=[["role", "rate"], ["cook", "15"], ["waiter", "12"]],
    )
    doc = await parser.parse("handbook.docx", data)
    summary = [(b.kind, b.text) for b in doc.blocks]
    assert ("heading", "Staff handbook") in summary
    assert ("heading", "Holidays") in summary
    assert ("paragraph", "Staff get 25 days of leave.") in summary
    assert ("row", "role: waiter; rate: 12") in summary


async def test_docx_bomb_is_refused_by_the_parser_too(parser: DocumentParser) -> None:
    with pytest.raises(ArchiveBomb):
        await parser.parse("bomb.docx", make_zip_bomb())
