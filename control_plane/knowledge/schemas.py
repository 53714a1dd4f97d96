"""Request and response bodies of the knowledge API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from control_plane.api.schemas import ApiModel, Id, Name, example
from rag.catalog import DocumentRecord
from rag.hits import Hit
from rag.jobs import IngestJob

MAX_TOP_K = 50
MAX_TAGS = 50
MAX_SEARCH_KBS = 20
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(max_length=5000)]


class KnowledgeBaseIn(ApiModel):
    name: Name
    description: Description = ""
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)

    model_config = example(name="Support FAQ", description="Returns and shipping", tags=["faq"])


class KnowledgeBasePatchIn(ApiModel):
    name: Name | None = None
    description: Description | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)

    model_config = example(description="Returns, shipping and warranty")


class KnowledgeBaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    description: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class SearchParams(BaseModel):
    """Query string of a search: ``?q=...&top_k=5&category=faq`` (``kb_id`` repeated
    to pick knowledge bases in the organisation-wide search)."""

    model_config = ConfigDict(extra="forbid")
    # Optional here so that a missing query is checked after the knowledge base
    # (another organisation's id is a 404 whatever the query string says).
    q: Annotated[str, StringConstraints(max_length=4000)] = ""
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K)
    category: Tag | None = None
    kb_id: list[Id] = Field(default_factory=list, max_length=MAX_SEARCH_KBS)


class HitOut(BaseModel):
    chunk_id: str
    text: str
    score: float
    source: str
    kb_id: str
    document_id: str
    document_name: str
    page: int | None
    row: int | None
    heading_path: list[str]
    category: str | None

    @classmethod
    def of(cls, hit: Hit) -> HitOut:
        return cls(
            chunk_id=hit.chunk_id,
            text=hit.text,
            score=hit.score,
            source=hit.source,
            kb_id=hit.kb_id,
            document_id=hit.document_id,
            document_name=hit.document_name,
            page=hit.page,
            row=hit.row,
            heading_path=list(hit.heading_path),
            category=hit.category,
        )


class JobOut(BaseModel):
    job_id: str
    kb_id: str
    document_id: str
    filename: str
    status: str
    progress: float
    error: str | None
    chunks: int
    units: int
    duplicate_of: str | None

    @classmethod
    def of(cls, job: IngestJob) -> JobOut:
        return cls(
            job_id=job.job_id,
            kb_id=job.kb_id,
            document_id=job.document_id,
            filename=job.filename,
            status=job.status.value,
            progress=job.progress,
            error=job.error,
            chunks=job.chunks,
            units=job.units,
            duplicate_of=job.duplicate_of,
        )


class DocumentOut(BaseModel):
    document_id: str
    kb_id: str
    filename: str
    kind: str
    size_bytes: int
    category: str | None
    state: str
    job_id: str
    chunks: int
    units: int

    @classmethod
    def of(cls, doc: DocumentRecord) -> DocumentOut:
        return cls(
            document_id=doc.document_id,
            kb_id=doc.kb_id,
            filename=doc.filename,
            kind=doc.kind,
            size_bytes=doc.size_bytes,
            category=doc.category,
            state=doc.state.value,
            job_id=doc.job_id,
            chunks=doc.chunks,
            units=doc.units,
        )
