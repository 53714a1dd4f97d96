"""API keys of the caller's organisation.

Two kinds: secret keys (``cap_``) carry scopes and call the API; publishable
keys (``pk_``) sit in a web page, open widget sessions with one agent from the
listed origins, and call nothing else (``tenancy.publishable``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from control_plane.agents import service as agents
from control_plane.api.context import RequestContext, require
from control_plane.api.schemas import ApiModel, Id, Name, example
from tenancy import apikeys, publishable
from tenancy.errors import InvalidInput
from tenancy.models import ApiKey
from tenancy.permissions import Permission as P

router = APIRouter(prefix="/v1", tags=["API keys"])

Origin = Annotated[str, Field(min_length=1, max_length=publishable.MAX_ORIGIN_CHARS)]


class KeyIn(ApiModel):
    name: Name
    kind: Literal["secret", "publishable"] = "secret"
    # Secret keys: the permissions the key holds.
    scopes: list[Annotated[str, Field(max_length=50)]] = Field(default_factory=list, max_length=64)
    # Publishable keys: the one agent they open sessions with, and the web
    # origins allowed to use them (empty: any origin).
    agent_id: Id | None = None
    allowed_origins: list[Origin] = Field(default_factory=list, max_length=publishable.MAX_ORIGINS)
    expires_at: datetime | None = None

    model_config = example(name="widget", scopes=["agents.read", "agents.use"])


class KeyOut(BaseModel):
    id: str
    name: str
    kind: Literal["secret", "publishable"]
    prefix: str
    scopes: list[str]
    agent_id: str | None
    allowed_origins: list[str]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        scopes = publishable.split_scopes(key.scopes)
        return cls(
            id=key.id,
            name=key.name,
            kind=publishable.kind_of_key(key),
            prefix=key.prefix,
            scopes=list(scopes.permissions),
            agent_id=scopes.agent_id,
            allowed_origins=list(scopes.origins),
            created_by=key.created_by,
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class KeyCreatedOut(KeyOut):
    # The only time the secret is shown: it is stored as a digest.
    secret: str


@router.get("/api-keys", name="api_keys.list")
async def list_keys(ctx: Annotated[RequestContext, require(P.API_KEYS_READ)]) -> list[KeyOut]:
    return [KeyOut.of(k) for k in await apikeys.list_keys(ctx.session)]


@router.post("/api-keys", status_code=201, name="api_keys.create")
async def create_key(
    body: KeyIn, ctx: Annotated[RequestContext, require(P.API_KEYS_MANAGE)]
) -> KeyCreatedOut:
    # The agent is looked up first, so another organisation's agent is a 404
    # whatever else the body says.
    agent = await agents.get_agent(ctx.session, body.agent_id) if body.agent_id else None
    if body.kind == "publishable":
        if agent is None:
            raise InvalidInput("a publishable key names its agent (agent_id)")
        if body.scopes and body.scopes != [P.AGENTS_USE.value]:
            raise InvalidInput("a publishable key holds agents.use only; leave scopes empty")
        created = await publishable.create_publishable_key(
            ctx.session,
            ctx.principal,
            name=body.name,
            agent_id=agent.id,
            origins=body.allowed_origins,
            expires_at=body.expires_at,
        )
    else:
        if agent is not None or body.allowed_origins:
            raise InvalidInput("agent_id and allowed_origins are for publishable keys")
        created = await apikeys.create_key(
            ctx.session,
            ctx.principal,
            name=body.name,
            scopes=body.scopes,
            expires_at=body.expires_at,
        )
    ctx.audit_details = {"key_id": created.key.id, "scopes": created.key.scopes}
    return KeyCreatedOut(**KeyOut.of(created.key).model_dump(), secret=created.secret)


@router.get("/api-keys/{key_id}", name="api_keys.get")
async def get_key(key_id: Id, ctx: Annotated[RequestContext, require(P.API_KEYS_READ)]) -> KeyOut:
    return KeyOut.of(await apikeys.get_key(ctx.session, key_id))


@router.delete("/api-keys/{key_id}", name="api_keys.revoke")
async def revoke_key(
    key_id: Id, ctx: Annotated[RequestContext, require(P.API_KEYS_MANAGE)]
) -> KeyOut:
    return KeyOut.of(await apikeys.revoke_key(ctx.session, key_id))
