"""API keys of the caller's organisation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from control_plane.api.context import RequestContext, require
from control_plane.api.schemas import ApiModel, Id, Name, example
from tenancy import apikeys
from tenancy.permissions import Permission as P

router = APIRouter(prefix="/v1", tags=["API keys"])


class KeyIn(ApiModel):
    name: Name
    scopes: list[Annotated[str, Field(max_length=50)]] = Field(min_length=1, max_length=64)
    expires_at: datetime | None = None

    model_config = example(name="widget", scopes=["agents.read", "agents.use"])


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreatedOut(KeyOut):
    # The only time the secret is shown: it is stored as a digest.
    secret: str


@router.get("/api-keys", name="api_keys.list")
async def list_keys(ctx: Annotated[RequestContext, require(P.API_KEYS_READ)]) -> list[KeyOut]:
    return [KeyOut.model_validate(k) for k in await apikeys.list_keys(ctx.session)]


@router.post("/api-keys", status_code=201, name="api_keys.create")
async def create_key(
    body: KeyIn, ctx: Annotated[RequestContext, require(P.API_KEYS_MANAGE)]
) -> KeyCreatedOut:
    created = await apikeys.create_key(
        ctx.session, ctx.principal, name=body.name, scopes=body.scopes, expires_at=body.expires_at
    )
    ctx.audit_details = {"key_id": created.key.id, "scopes": created.key.scopes}
    return KeyCreatedOut.model_validate(
        {**KeyOut.model_validate(created.key).model_dump(), "secret": created.secret}
    )


@router.get("/api-keys/{key_id}", name="api_keys.get")
async def get_key(key_id: Id, ctx: Annotated[RequestContext, require(P.API_KEYS_READ)]) -> KeyOut:
    return KeyOut.model_validate(await apikeys.get_key(ctx.session, key_id))


@router.delete("/api-keys/{key_id}", name="api_keys.revoke")
async def revoke_key(
    key_id: Id, ctx: Annotated[RequestContext, require(P.API_KEYS_MANAGE)]
) -> KeyOut:
    return KeyOut.model_validate(await apikeys.revoke_key(ctx.session, key_id))
