"""Provider credentials: write-only secrets (the API returns metadata and a hint)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from control_plane.agents.config import ProviderName
from control_plane.api.context import RequestContext, require
from control_plane.api.schemas import ApiModel, Deleted, Id, example
from control_plane.credentials import service
from tenancy.permissions import Permission as P

router = APIRouter(prefix="/v1/credentials", tags=["provider credentials"])
Label = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")]


class CredentialIn(ApiModel):
    provider: ProviderName
    label: Label = service.DEFAULT_LABEL
    secret: Annotated[str, Field(min_length=1, max_length=8192)]

    model_config = example(provider="openai", label="default", secret="sk-test-000000000000")


class CredentialOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    provider: str
    label: str
    hint: str
    created_at: datetime


@router.get("", name="credentials.list")
async def list_credentials(
    ctx: Annotated[RequestContext, require(P.CREDENTIALS_READ)],
) -> list[CredentialOut]:
    return [CredentialOut.model_validate(c) for c in await service.list_credentials(ctx.session)]


@router.post("", status_code=201, name="credentials.create")
async def add_credential(
    body: CredentialIn, ctx: Annotated[RequestContext, require(P.CREDENTIALS_MANAGE)]
) -> CredentialOut:
    row = await service.add_credential(
        ctx.session,
        ctx.services.secret_box,
        provider=body.provider,
        label=body.label,
        secret=body.secret,
    )
    ctx.audit_details = {"provider": row.provider, "label": row.label}
    return CredentialOut.model_validate(row)


@router.delete("/{credential_id}", name="credentials.delete")
async def delete_credential(
    credential_id: Id, ctx: Annotated[RequestContext, require(P.CREDENTIALS_MANAGE)]
) -> Deleted:
    await service.delete_credential(ctx.session, credential_id)
    return Deleted(id=credential_id)
