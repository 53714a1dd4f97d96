"""Knowledge bases, their documents, ingestion jobs and semantic search.

Every route resolves the knowledge base inside the caller's organisation first,
so another organisation's ids answer 404 before rag/ is asked anything; rag/
filters every read and write by the organisation id as a second wall.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from control_plane.api.context import RequestContext, require
from control_plane.api.schemas import Deleted, Id
from control_plane.knowledge import records
from control_plane.knowledge.runtime import service_of
from control_plane.knowledge.schemas import (
    DocumentOut,
    HitOut,
    JobOut,
    KnowledgeBaseIn,
    KnowledgeBaseOut,
    KnowledgeBasePatchIn,
    SearchParams,
)
from control_plane.knowledge.upload import read_upload
from rag.errors import NotFound
from tenancy.permissions import Permission as P

router = APIRouter(prefix="/v1/knowledge-bases", tags=["knowledge"])
Read = Annotated[RequestContext, require(P.KNOWLEDGE_READ)]
Write = Annotated[RequestContext, require(P.KNOWLEDGE_WRITE)]
SearchQuery = Annotated[SearchParams, Query()]


@router.get("", name="knowledge.list")
async def list_kbs(ctx: Read) -> list[KnowledgeBaseOut]:
    return [KnowledgeBaseOut.model_validate(kb) for kb in await records.list_kbs(ctx.session)]


@router.post("", status_code=201, name="knowledge.create")
async def create_kb(body: KnowledgeBaseIn, ctx: Write) -> KnowledgeBaseOut:
    kb = await records.create_kb(
        ctx.session, name=body.name, description=body.description, tags=body.tags
    )
    ctx.audit_details = {"kb_id": kb.id}
    return KnowledgeBaseOut.model_validate(kb)


@router.get("/search", name="knowledge.search_all")
async def search_all(params: SearchQuery, request: Request, ctx: Read) -> list[HitOut]:
    """Across the given knowledge bases (``kb_id`` repeated; default: all of them)."""
    if not params.kb_id:
        kb_ids = [kb.id for kb in await records.list_kbs(ctx.session)]
    else:
        kb_ids = await records.existing_ids(ctx.session, params.kb_id)
        if len(kb_ids) != len(set(params.kb_id)):
            raise NotFound("knowledge base", ",".join(sorted(set(params.kb_id) - set(kb_ids))))
    if not kb_ids:
        return []
    service = await service_of(request)
    hits = await service.search(ctx.org_id, kb_ids, params.q, params.top_k, params.category)
    return [HitOut.of(h) for h in hits]


@router.get("/{kb_id}", name="knowledge.get")
async def get_kb(kb_id: Id, ctx: Read) -> KnowledgeBaseOut:
    return KnowledgeBaseOut.model_validate(await records.get_kb(ctx.session, kb_id))


@router.patch("/{kb_id}", name="knowledge.update")
async def update_kb(kb_id: Id, body: KnowledgeBasePatchIn, ctx: Write) -> KnowledgeBaseOut:
    kb = await records.update_kb(
        ctx.session, kb_id, name=body.name, description=body.description, tags=body.tags
    )
    return KnowledgeBaseOut.model_validate(kb)


@router.delete("/{kb_id}", name="knowledge.delete")
async def delete_kb(kb_id: Id, request: Request, ctx: Write) -> Deleted:
    kb = await records.delete_kb(ctx.session, kb_id)
    # Vectors go first: a failure here leaves the record, so the delete can be retried.
    documents = await (await service_of(request)).delete_knowledge_base(ctx.org_id, kb.id)
    ctx.audit_details = {"documents": documents}
    return Deleted(id=kb.id)


@router.post("/{kb_id}/documents", status_code=202, name="knowledge.upload")
async def upload_document(kb_id: Id, request: Request, ctx: Write) -> JobOut:
    """Multipart ``file`` (PDF, DOCX, TXT, MD, CSV, JSON) and optional ``category``;
    answers at once with the ingestion job to poll."""
    kb = await records.get_kb(ctx.session, kb_id)
    service = await service_of(request)
    upload = await read_upload(request, service.limits.max_file_bytes)
    job = await service.ingest(ctx.org_id, kb.id, upload.filename, upload.data, upload.category)
    ctx.audit_details = {
        "document_id": job.document_id,
        "filename": upload.filename,
        "bytes": len(upload.data),
        "job_id": job.job_id,
    }
    return JobOut.of(job)


@router.get("/{kb_id}/documents", name="knowledge.documents")
async def list_documents(kb_id: Id, request: Request, ctx: Read) -> list[DocumentOut]:
    kb = await records.get_kb(ctx.session, kb_id)
    documents = await (await service_of(request)).list_documents(ctx.org_id, kb.id)
    return [DocumentOut.of(d) for d in documents]


@router.delete("/{kb_id}/documents/{document_id}", name="knowledge.delete_document")
async def delete_document(kb_id: Id, document_id: Id, request: Request, ctx: Write) -> Deleted:
    kb = await records.get_kb(ctx.session, kb_id)
    service = await service_of(request)
    record = await service.catalog.get(ctx.org_id, document_id)
    if record is None or record.kb_id != kb.id:
        raise NotFound("document", document_id)
    await service.delete_document(ctx.org_id, document_id)
    return Deleted(id=document_id)


@router.get("/{kb_id}/jobs/{job_id}", name="knowledge.job")
async def job_status(kb_id: Id, job_id: Id, request: Request, ctx: Read) -> JobOut:
    kb = await records.get_kb(ctx.session, kb_id)
    job = (await service_of(request)).job_status(ctx.org_id, job_id)
    if job.kb_id != kb.id:
        raise NotFound("job", job_id)
    return JobOut.of(job)


@router.get("/{kb_id}/search", name="knowledge.search")
async def search(kb_id: Id, params: SearchQuery, request: Request, ctx: Read) -> list[HitOut]:
    kb = await records.get_kb(ctx.session, kb_id)
    service = await service_of(request)
    hits = await service.search(ctx.org_id, [kb.id], params.q, params.top_k, params.category)
    return [HitOut.of(h) for h in hits]
