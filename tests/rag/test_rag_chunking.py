from __future__ import annotations

import itertools

from rag.chunking import ChunkingConfig, approx_tokens, chunk_blocks
from rag.parsing.blocks import Block


def words(text: str) -> int:
    return len(text.split())


def paragraph(topic: str, sentences: int) -> Block:
    return Block(
        "paragraph",
        " ".join(f"Sentence {i} about {topic} is here." for i in range(sentences)),
        page=1,
    )


def test_chunks_respect_the_token_budget_and_overlap() -> None:
    config = ChunkingConfig(max_tokens=40, overlap_tokens=12)
    chunks = chunk_blocks([paragraph("soup", 30)], words, config)
    assert len(chunks) > 3
    assert all(words(c.text) <= 40 for c in chunks)
    for previous, current in itertools.pairwise(chunks):
        last_sentence = previous.text.split(". ")[-1]
        assert last_sentence.rstrip(".") in current.text  # overlap carries the tail
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_headings_close_chunks_and_form_the_path() -> None:
    blocks = [
        Block("heading", "Menu", level=1),
        Block("paragraph", "Overview of the menu."),
        Block("heading", "Drinks", level=2),
        Block("paragraph", "Tea and coffee."),
        Block("heading", "Hours", level=1),
        Block("paragraph", "Open at nine."),
    ]
    chunks = chunk_blocks(blocks, words, ChunkingConfig(max_tokens=100, overlap_tokens=10))
    assert [(c.heading_path, c.text) for c in chunks] == [
        (("Menu",), "Overview of the menu."),
        (("Menu", "Drinks"), "Tea and coffee."),
        (("Hours",), "Open at nine."),
    ]
    assert chunks[1].embedding_text() == "Menu > Drinks\nTea and coffee."


def test_whole_paragraphs_are_packed_together_when_they_fit() -> None:
    blocks = [Block("paragraph", "First short one."), Block("paragraph", "Second short one.")]
    chunks = chunk_blocks(blocks, words, ChunkingConfig(max_tokens=50, overlap_tokens=0))
    assert [c.text for c in chunks] == ["First short one.\n\nSecond short one."]


def test_a_paragraph_that_does_not_fit_starts_a_new_chunk() -> None:
    blocks = [paragraph("tea", 5), paragraph("cake", 5)]  # 30 words each
    chunks = chunk_blocks(blocks, words, ChunkingConfig(max_tokens=40, overlap_tokens=0))
    assert [c.text.count("tea") for c in chunks] == [5, 0]
    assert chunks[1].text.startswith("Sentence 0 about cake")


def test_rows_are_one_chunk_each_with_their_row_number() -> None:
    blocks = [
        Block("row", "dish: soup; price: 4.50", row=1, headers=("dish", "price")),
        Block("row", "dish: tea; price: 2.00", row=2, headers=("dish", "price")),
    ]
    chunks = chunk_blocks(blocks, words)
    assert [(c.row, c.text) for c in chunks] == [
        (1, "dish: soup; price: 4.50"),
        (2, "dish: tea; price: 2.00"),
    ]


def test_overlong_sentence_and_row_are_split_at_words() -> None:
    long_text = " ".join(f"w{i}" for i in range(500))
    config = ChunkingConfig(max_tokens=50, overlap_tokens=0)
    for block in (Block("paragraph", long_text), Block("row", long_text, row=7)):
        chunks = chunk_blocks([block], words, config)
        assert len(chunks) >= 10
        assert all(words(c.text) <= 50 for c in chunks)
        assert " ".join(c.text for c in chunks) == long_text
    assert {c.row for c in chunk_blocks([Block("row", long_text, row=7)], words, config)} == {7}


def test_json_fields_are_grouped_by_top_level_key() -> None:
    fields = [
        Block("field", "menu.items[0].name: tea", row=1),
        Block("field", "menu.items[0].price: 2.00", row=2),
        Block("field", "hours.monday: 9-17", row=3),
    ]
    chunks = chunk_blocks(fields, words)
    assert [c.text for c in chunks] == [
        "menu.items[0].name: tea\nmenu.items[0].price: 2.00",
        "hours.monday: 9-17",
    ]


def test_empty_input_gives_no_chunks_and_approx_tokens_is_positive() -> None:
    assert chunk_blocks([], words) == []
    assert approx_tokens("") == 1
    assert approx_tokens("a" * 40) == 10
