"""``cap kb add`` and ``cap kb search`` in-process, on a fresh data directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from control_plane.cli import main
from control_plane.db.migrate import migrate
from control_plane.services import database_config
from control_plane.settings import Settings
from tenancy.db.engine import Database
from tenancy.models import Organization


async def _org(settings: Settings) -> str:
    config = database_config(settings)
    await migrate(config)
    db = Database(config)
    try:
        async with db.platform() as session:
            org = Organization(name="Acme", slug="acme")
            session.add(org)
            await session.flush()
            return org.id
    finally:
        await db.dispose()


@pytest.mark.slow  # the real MiniLM embedder, as `cap` uses it
def test_kb_add_then_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAP_DATA_DIR", str(tmp_path))
    asyncio.run(_org(Settings()))
    doc = tmp_path / "hours.txt"
    doc.write_text("Opening hours\n\nThe bakery opens at seven and closes at noon.\n")

    assert main(["kb", "add", "--kb", "Bakery", "--create", str(doc)]) == 0
    out = capsys.readouterr().out
    assert "100%" in out and "indexed" in out and "chunks" in out

    assert main(["kb", "search", "when does the bakery open", "--kb", "Bakery"]) == 0
    out = capsys.readouterr().out
    assert "[1]" in out and "hours.txt" in out and "opens at seven" in out
    # An unknown knowledge base is an error, not a crash.
    assert main(["kb", "add", "--kb", "Nope", str(doc)]) == 1
