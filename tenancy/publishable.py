"""Publishable (widget) keys: API keys of the ``pk_`` kind, bound to one agent.

A publishable key sits in a web page's HTML, so it grants one thing only:
opening voice and text sessions with its agent (``agents.use``), from the web
origins it lists (none listed: any origin). It never authenticates an API call
(``tenancy.auth`` refuses the ``pk_`` kind). It is created, listed and revoked
through the API-key routes like any key of the organisation.

No column of its own: the agent and the origins are kept among the key's
scopes as ``agent:<id>`` and ``origin:<origin>`` entries beside ``agents.use``
(``split_scopes`` reads them back), so a publishable key needs no migration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy import bearer
from tenancy.apikeys import CreatedKey
from tenancy.db.base import utcnow
from tenancy.db.engine import Database
from tenancy.errors import AuthenticationError, InvalidInput, OrgSuspended, PermissionDenied
from tenancy.models import ApiKey, Organization
from tenancy.permissions import Permission
from tenancy.principal import Principal

KeyKind = Literal["secret", "publishable"]
PUBLISHABLE_PREFIX = "pk_"
AGENT_TAG = "agent:"
ORIGIN_TAG = "origin:"
MAX_KEY_CHARS = 256
MAX_ORIGINS = 20
MAX_ORIGIN_CHARS = 200
LAST_USED_RESOLUTION = timedelta(seconds=60)
# scheme://host[:port], lower case, nothing after it (what browsers send as Origin).
_ORIGIN = re.compile(r"^https?://(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:[0-9]{1,5})?$")


@dataclass(frozen=True, slots=True)
class KeyScopes:
    """A key's stored scopes read back: permissions, and a publishable key's binding."""

    permissions: tuple[str, ...]
    agent_id: str | None
    origins: tuple[str, ...]


def split_scopes(scopes: Iterable[str]) -> KeyScopes:
    permissions, origins = [], []
    agent_id = None
    for scope in scopes:
        if scope.startswith(AGENT_TAG):
            agent_id = scope[len(AGENT_TAG) :]
        elif scope.startswith(ORIGIN_TAG):
            origins.append(scope[len(ORIGIN_TAG) :])
        else:
            permissions.append(scope)
    return KeyScopes(tuple(permissions), agent_id, tuple(origins))


def kind_of_key(key: ApiKey) -> KeyKind:
    return "publishable" if key.prefix.startswith(PUBLISHABLE_PREFIX) else "secret"


def normalise_origin(value: str) -> str:
    """``https://Shop.Example:443/`` style input to the form browsers send; raises
    ``InvalidInput`` on anything that is not a bare http(s) origin."""
    origin = value.strip().lower().rstrip("/")
    if len(origin) > MAX_ORIGIN_CHARS or not _ORIGIN.match(origin):
        raise InvalidInput(f"not a web origin (scheme://host[:port]): {value[:80]!r}")
    return origin


async def create_publishable_key(
    session: AsyncSession,
    actor: Principal,
    *,
    name: str,
    agent_id: str,
    origins: Sequence[str] = (),
    expires_at: datetime | None = None,
) -> CreatedKey:
    """``agent_id`` must already be checked to exist in the session's organisation."""
    # Like any key, never more than its creator: opening sessions needs agents.use.
    if not actor.can(Permission.AGENTS_USE):
        raise PermissionDenied("a publishable key needs agents.use, which you do not have")
    if len(origins) > MAX_ORIGINS:
        raise InvalidInput(f"at most {MAX_ORIGINS} allowed origins")
    allowed = sorted({normalise_origin(o) for o in origins})
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("expiry is in the past")
    secret = bearer.issue("publishable")
    key = ApiKey(
        name=name,
        prefix=secret.prefix,
        key_hash=secret.digest,
        scopes=[
            Permission.AGENTS_USE.value,
            AGENT_TAG + agent_id,
            *(ORIGIN_TAG + o for o in allowed),
        ],
        created_by=actor.user_id,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return CreatedKey(key=key, secret=secret.value)


@dataclass(frozen=True, slots=True)
class PublishableGrant:
    key_id: str
    org_id: str
    agent_id: str


def origin_allowed(allowed: Sequence[str], origin: str | None) -> bool:
    if not allowed:
        return True
    return origin is not None and origin.strip().lower().rstrip("/") in allowed


async def admit_publishable(
    db: Database, token: str, origin: str | None
) -> PublishableGrant | None:
    """The grant of a stored publishable key presented from ``origin``.

    None: no stored key has this value (the caller may know other keys).
    Raises ``AuthenticationError`` (revoked or expired), ``OrgSuspended``, or
    ``PermissionDenied`` (origin not listed, or the key binds no agent)."""
    if not token or len(token) > MAX_KEY_CHARS or bearer.kind_of(token) != "publishable":
        return None
    now = utcnow()
    async with db.platform() as session:
        row = (
            await session.execute(
                select(ApiKey, Organization)
                .join(Organization, Organization.id == ApiKey.org_id)
                .where(ApiKey.key_hash == bearer.digest(token))
            )
        ).first()
        if row is None:
            return None
        key, org = row
        if kind_of_key(key) != "publishable":
            return None
        if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
            raise AuthenticationError("widget key revoked or expired")
        if org.status != "active":
            raise OrgSuspended("organisation suspended")
        scopes = split_scopes(key.scopes)
        if scopes.agent_id is None or Permission.AGENTS_USE.value not in scopes.permissions:
            raise PermissionDenied("this key opens no sessions")
        if not origin_allowed(scopes.origins, origin):
            raise PermissionDenied("this key is not allowed on this web site (origin)")
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            key.last_used_at = now
        return PublishableGrant(key_id=key.id, org_id=org.id, agent_id=scopes.agent_id)
