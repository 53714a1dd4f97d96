"""``cap kb``: add documents to a knowledge base and search, on this machine.

Talks to the knowledge service and the database directly with the local
settings (no running server needed); ingestion shows each job's progress.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import or_, select

from control_plane.knowledge import records
from control_plane.knowledge.runtime import ServiceOpener, default_opener
from control_plane.services import database_config
from control_plane.settings import Settings
from rag.errors import RagError
from rag.jobs import IngestJob, JobStatus
from rag.service import KnowledgeService
from tenancy.db.engine import Database
from tenancy.errors import NotFound, TenancyError
from tenancy.models import Organization

POLL_SECONDS = 0.1
BAR_WIDTH = 30


def add_parser(sub: Any) -> None:
    kb = sub.add_parser("kb", help="knowledge bases: add documents, search")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    add = kb_sub.add_parser("add", help="ingest files into a knowledge base")
    add.add_argument("--kb", required=True, help="knowledge base id or name")
    add.add_argument("--org", default=None, help="organisation id or slug (default: the only one)")
    add.add_argument("--category", default=None)
    add.add_argument("--create", action="store_true", help="create the knowledge base if missing")
    add.add_argument("files", nargs="+", type=Path)
    search = kb_sub.add_parser("search", help="semantic search")
    search.add_argument("query")
    search.add_argument("--kb", default=None, help="knowledge base id or name (default: all)")
    search.add_argument("--org", default=None)
    search.add_argument("--top-k", type=int, default=5)
    search.add_argument("--category", default=None)


def kb_command(
    args: argparse.Namespace,
    settings: Settings | None = None,
    *,
    opener: ServiceOpener | None = None,
    out: TextIO = sys.stdout,
) -> int:
    settings = settings or Settings()
    try:
        return asyncio.run(_run(args, settings, opener or default_opener(settings), out))
    except (TenancyError, RagError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


async def _run(
    args: argparse.Namespace, settings: Settings, opener: ServiceOpener, out: TextIO
) -> int:
    db = Database(database_config(settings))
    service = opener()
    try:
        org_id = await _org(db, args.org)
        if args.kb_command == "add":
            return await _add(db, service, org_id, args, out)
        return await _search(db, service, org_id, args, out)
    finally:
        await service.aclose()
        await db.dispose()


async def _org(db: Database, ref: str | None) -> str:
    async with db.platform() as session:
        query = select(Organization.id)
        if ref is not None:
            query = query.where(or_(Organization.id == ref, Organization.slug == ref))
        found = list((await session.scalars(query.limit(2))).all())
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(f"organisation {ref!r} not found" if ref else "no organisation yet")
    raise NotFound("several organisations: name one with --org")


async def _kb_id(db: Database, org_id: str, ref: str, create: bool) -> str:
    async with db.tenant(org_id) as session:
        try:
            return (await records.get_kb(session, ref)).id
        except NotFound:
            if not create:
                raise
            kb = await records.create_kb(session, name=ref, description="", tags=[])
            return kb.id


async def _add(
    db: Database, service: KnowledgeService, org_id: str, args: argparse.Namespace, out: TextIO
) -> int:
    kb_id = await _kb_id(db, org_id, args.kb, args.create)
    failed = 0
    for path in args.files:
        data = await asyncio.to_thread(path.read_bytes)
        job = await service.ingest(org_id, kb_id, path.name, data, args.category)
        job = await _follow(service, job, out)
        if job.status is JobStatus.FAILED:
            failed += 1
    return 1 if failed else 0


async def _follow(service: KnowledgeService, job: IngestJob, out: TextIO) -> IngestJob:
    """Redraws one progress line until the job ends, then prints its outcome."""
    while True:
        job = service.job_status(job.org_id, job.job_id)
        filled = int(job.progress * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        out.write(f"\r{job.filename[:40]:<40} [{bar}] {job.progress:4.0%} {job.status.value:<9}")
        out.flush()
        if job.done:
            break
        await asyncio.sleep(POLL_SECONDS)
    if job.status is JobStatus.FAILED:
        out.write(f"\n  failed: {job.error}\n")
    elif job.duplicate_of:
        out.write(f"\n  already indexed as {job.duplicate_of}\n")
    else:
        out.write(f"\n  {job.chunks} chunks, document {job.document_id}\n")
    return job


async def _search(
    db: Database, service: KnowledgeService, org_id: str, args: argparse.Namespace, out: TextIO
) -> int:
    if args.kb is not None:
        kb_ids = [await _kb_id(db, org_id, args.kb, False)]
    else:
        async with db.tenant(org_id) as session:
            kb_ids = [kb.id for kb in await records.list_kbs(session)]
    if not kb_ids:
        out.write("no knowledge bases\n")
        return 1
    top_k = max(1, min(args.top_k, 50))
    hits = await service.search(org_id, kb_ids, args.query, top_k, args.category)
    for n, hit in enumerate(hits, start=1):
        out.write(f"[{n}] {hit.score:.3f} {hit.source}\n    {hit.text[:300]}\n")
    if not hits:
        out.write("no results\n")
    return 0
