"""Storing and reading provider credentials. Plaintext exists only in memory,
on the way in (sealed at once) and on the way to a provider adapter."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.credentials.crypto import SecretBox
from control_plane.credentials.models import ProviderCredential
from tenancy.errors import Conflict, NotFound

HINT_CHARS = 4
DEFAULT_LABEL = "default"


async def add_credential(
    session: AsyncSession, box: SecretBox, *, provider: str, label: str, secret: str
) -> ProviderCredential:
    exists = await session.scalar(
        select(ProviderCredential.id).where(
            ProviderCredential.provider == provider, ProviderCredential.label == label
        )
    )
    if exists is not None:
        raise Conflict("a credential with this provider and label exists; delete it first")
    # Short secrets get no hint: four characters of a six-character secret is too much.
    hint = secret[-HINT_CHARS:] if len(secret) >= 4 * HINT_CHARS else ""
    row = ProviderCredential(provider=provider, label=label, ciphertext=box.seal(secret), hint=hint)
    session.add(row)
    await session.flush()
    return row


async def list_credentials(session: AsyncSession) -> Sequence[ProviderCredential]:
    return (
        await session.scalars(
            select(ProviderCredential).order_by(
                ProviderCredential.provider, ProviderCredential.label
            )
        )
    ).all()


async def delete_credential(session: AsyncSession, credential_id: str) -> None:
    row = await session.scalar(
        select(ProviderCredential).where(ProviderCredential.id == credential_id)
    )
    if row is None:
        raise NotFound("credential not found")
    await session.delete(row)
    await session.flush()


async def secret_for(
    session: AsyncSession, box: SecretBox, *, provider: str, credential_id: str | None
) -> str | None:
    """The plaintext for an agent's provider entry, or None when none is stored."""
    query = select(ProviderCredential)
    if credential_id is not None:
        query = query.where(ProviderCredential.id == credential_id)
    else:
        query = query.where(
            ProviderCredential.provider == provider, ProviderCredential.label == DEFAULT_LABEL
        )
    row = await session.scalar(query)
    return box.open(row.ciphertext) if row is not None else None
