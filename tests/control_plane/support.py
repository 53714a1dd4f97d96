"""Test helpers: people, organisations and memberships made directly through the
services (fast), and an HTTP client that carries a credential."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from control_plane.services import Services
from tenancy import accounts
from tenancy.models import CustomRole, EmailOutbox, Membership
from tenancy.permissions import AccountType

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str
    token: str
    org_id: str | None

    def headers(self, org: str | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.token}"}
        if org or self.org_id:
            h["X-CAP-Org"] = org or self.org_id or ""
        return h


def unique_email(tag: str = "user") -> str:
    return f"{tag}.{secrets.token_hex(6)}@example.com"


class Api:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def person(
        self,
        *,
        org: bool = True,
        account_type: AccountType = AccountType.BUSINESS,
        admin: bool = False,
        tag: str = "user",
    ) -> Person:
        email = unique_email(tag)
        s = self.services
        done = await accounts.register(
            s.db,
            s.passwords,
            s.accounts,
            email=email,
            password=PASSWORD,
            name=tag,
            account_type=account_type,
            org_name=f"Org {tag} {secrets.token_hex(3)}" if org else None,
            verified=True,
            platform_admin=admin,
        )
        login = await accounts.open_session(s.db, done.user_id, timedelta(hours=1))
        return Person(done.user_id, email, login.token, done.org_id)

    async def member(
        self,
        org_id: str,
        role: str,
        *,
        account_type: AccountType = AccountType.BUSINESS,
        permissions: list[str] | None = None,
    ) -> Person:
        """A new person in ``org_id`` with a built-in role, or a custom role of ``permissions``."""
        person = await self.person(org=False, account_type=account_type, tag=role)
        async with self.services.db.tenant(org_id) as session:
            custom_id = None
            if permissions is not None:
                custom = CustomRole(name=f"custom-{secrets.token_hex(3)}", permissions=permissions)
                session.add(custom)
                await session.flush()
                custom_id = custom.id
            session.add(
                Membership(
                    user_id=person.user_id,
                    role="custom" if custom_id else role,
                    custom_role_id=custom_id,
                )
            )
        return Person(person.user_id, person.email, person.token, org_id)

    async def api_key(self, owner: Person, scopes: list[str]) -> str:
        r = await self.client.post(
            "/v1/api-keys", json={"name": "k", "scopes": scopes}, headers=owner.headers()
        )
        assert r.status_code == 201, r.text
        secret: str = r.json()["secret"]
        return secret

    async def mailed_token(self, email: str) -> str:
        async with self.services.db.global_() as session:
            mails = (
                await session.scalars(
                    select(EmailOutbox)
                    .where(EmailOutbox.to_addr == email)
                    .order_by(EmailOutbox.created_at.desc())
                )
            ).all()
        assert mails, f"no mail to {email}"
        found = re.search(r"token=(capm_[A-Za-z0-9_-]+)", mails[0].body)
        assert found, mails[0].body
        return found.group(1)

    async def call(
        self, method: str, path: str, person: Person | None = None, **kw: Any
    ) -> httpx.Response:
        headers = kw.pop("headers", {})
        if person is not None:
            headers = {**person.headers(), **headers}
        return await self.client.request(method, path, headers=headers, **kw)
