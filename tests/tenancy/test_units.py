"""Pure pieces of tenancy: bearer secrets, permissions, passwords, the crypto box."""

from __future__ import annotations

import pytest

from control_plane.credentials.crypto import SecretBox
from tenancy import bearer
from tenancy.errors import InvalidInput
from tenancy.passwords import HashingCost, Passwords
from tenancy.permissions import (
    DEV_USER_DENIED,
    ROLE_PERMISSIONS,
    AccountType,
    BuiltinRole,
    Permission,
    effective_permissions,
    parse_permissions,
)

CHEAP = HashingCost(time_cost=1, memory_kib=1024, parallelism=1)


def test_bearer_secrets_are_random_marked_and_prefixed() -> None:
    a, b = bearer.issue("api_key"), bearer.issue("api_key")
    assert a.value != b.value and a.value.startswith("cap_") and len(a.value) > 40
    assert a.value.startswith(a.prefix) and len(a.prefix) == len("cap_") + 8
    assert a.digest == bearer.digest(a.value) and a.value not in a.digest
    assert bearer.kind_of(a.value) == "api_key"
    assert bearer.kind_of(bearer.issue("session").value) == "session"
    assert bearer.kind_of(bearer.issue("mail").value) == "mail"
    assert bearer.kind_of("nope_x") is None and bearer.kind_of("") is None
    # Digests accept anything a header can carry, even unpaired surrogates.
    assert len(bearer.digest("\ud800")) == 64


def test_permissions() -> None:
    assert parse_permissions(["agents.read", "agents.read"]) == {Permission.AGENTS_READ}
    with pytest.raises(ValueError, match="unknown permission"):
        parse_permissions(["agents.read", "root"])
    admin = ROLE_PERMISSIONS[BuiltinRole.ADMIN]
    dev = effective_permissions(admin, AccountType.DEV_USER)
    assert not dev & DEV_USER_DENIED and Permission.TEAMS_MANAGE not in dev
    assert effective_permissions(admin, AccountType.AGENCY) == admin


async def test_passwords() -> None:
    passwords = Passwords(CHEAP)
    stored = await passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert await passwords.verify(stored, "correct horse battery")
    assert not await passwords.verify(stored, "correct horse batterY")
    assert not await passwords.verify(None, "anything at all")  # decoy, never matches
    assert not await passwords.verify("not a hash", "x")
    with pytest.raises(InvalidInput):
        await passwords.hash("short")


def test_secret_box() -> None:
    box = SecretBox("one key")
    sealed = box.seal("sk-secret")
    assert "sk-secret" not in sealed and box.open(sealed) == "sk-secret"
    assert box.seal("sk-secret") != sealed  # fresh IV each time
    with pytest.raises(ValueError, match="secret_key"):
        SecretBox("another key").open(sealed)
