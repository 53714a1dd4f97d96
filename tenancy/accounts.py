"""Accounts: registration, email verification, login, logout, password reset."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy import bearer, outbox
from tenancy.db.base import utcnow
from tenancy.db.engine import Database
from tenancy.errors import AuthenticationError, Conflict, InvalidInput, PermissionDenied
from tenancy.models import LoginSession, User, UserToken
from tenancy.orgs import create_org_in
from tenancy.passwords import Passwords
from tenancy.permissions import AccountType

_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
_EMAIL_LOCALHOST = re.compile(r"^[^@\s\x00-\x1f]{1,64}@localhost$")


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    session_ttl: timedelta = timedelta(days=7)
    verify_ttl: timedelta = timedelta(days=2)
    reset_ttl: timedelta = timedelta(hours=1)
    require_verified_email: bool = True
    # Where links in mail point (the console); the token also works via the API.
    public_url: str = "http://127.0.0.1:8000"


@dataclass(frozen=True, slots=True)
class Registered:
    user_id: str
    org_id: str | None


@dataclass(frozen=True, slots=True)
class LoggedIn:
    token: str
    user_id: str
    expires_in: int


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not (_EMAIL.match(email) or _EMAIL_LOCALHOST.match(email)):
        raise InvalidInput("not a valid email address")
    return email


async def _issue_mail_token(session: AsyncSession, user: User, purpose: str, ttl: timedelta) -> str:
    secret = bearer.issue("mail")
    session.add(
        UserToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=secret.digest,
            expires_at=utcnow() + ttl,
        )
    )
    return secret.value


async def _take_mail_token(session: AsyncSession, token: str, purpose: str) -> UserToken:
    row = await session.scalar(
        select(UserToken).where(
            UserToken.token_hash == bearer.digest(token), UserToken.purpose == purpose
        )
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidInput("token invalid, used or expired")
    row.used_at = utcnow()
    return row


async def register(
    db: Database,
    passwords: Passwords,
    policy: AccountPolicy,
    *,
    email: str,
    password: str,
    name: str,
    account_type: AccountType,
    org_name: str | None,
    verified: bool = False,
    platform_admin: bool = False,
) -> Registered:
    email = normalize_email(email)
    password_hash = await passwords.hash(password)
    # Platform scope: a sign-up creates a person and, optionally, their organisation.
    async with db.platform() as session:
        if await session.scalar(select(User.id).where(User.email == email)):
            raise Conflict("an account with this email exists")
        user = User(
            email=email,
            name=name,
            password_hash=password_hash,
            account_type=account_type.value,
            email_verified_at=utcnow() if verified else None,
            is_platform_admin=platform_admin,
        )
        session.add(user)
        await session.flush()
        org_id = None
        if org_name:
            org_id = (await create_org_in(session, owner_id=user.id, name=org_name)).id
        if not verified:
            token = await _issue_mail_token(session, user, "verify_email", policy.verify_ttl)
            outbox.enqueue(
                session,
                to=email,
                subject="Confirm your CAP account",
                body=(
                    f"Hello {name},\n\nConfirm your email address: "
                    f"{policy.public_url}/verify-email?token={token}\n"
                    f'(or POST {{"token": "{token}"}} to /v1/auth/verify-email)\n'
                ),
            )
        return Registered(user_id=user.id, org_id=org_id)


async def verify_email(db: Database, token: str) -> str:
    async with db.global_() as session:
        row = await _take_mail_token(session, token, "verify_email")
        user = await session.get_one(User, row.user_id)
        user.email_verified_at = user.email_verified_at or utcnow()
        return user.id


async def login(
    db: Database, passwords: Passwords, policy: AccountPolicy, *, email: str, password: str
) -> LoggedIn:
    try:
        email = normalize_email(email)
    except InvalidInput:
        email = ""
    async with db.global_() as session:
        user = await session.scalar(select(User).where(User.email == email)) if email else None
    # Verify even for unknown emails (against a decoy), so timing does not tell.
    ok = await passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok:
        raise AuthenticationError("invalid email or password")
    if policy.require_verified_email and user.email_verified_at is None:
        raise PermissionDenied("email address not verified")
    return await open_session(db, user.id, policy.session_ttl)


async def open_session(
    db: Database, user_id: str, ttl: timedelta, *, impersonator_id: str | None = None
) -> LoggedIn:
    async with db.global_() as session:
        return add_login_session(session, user_id, ttl, impersonator_id=impersonator_id)


def add_login_session(
    session: AsyncSession, user_id: str, ttl: timedelta, *, impersonator_id: str | None = None
) -> LoggedIn:
    """Adds a login session to ``session``'s transaction; the token is returned once."""
    secret = bearer.issue("session")
    session.add(
        LoginSession(
            token_hash=secret.digest,
            user_id=user_id,
            impersonator_id=impersonator_id,
            expires_at=utcnow() + ttl,
        )
    )
    return LoggedIn(token=secret.value, user_id=user_id, expires_in=int(ttl.total_seconds()))


async def logout(db: Database, session_id: str) -> None:
    async with db.global_() as session:
        await session.execute(
            update(LoginSession)
            .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


async def request_password_reset(db: Database, policy: AccountPolicy, email: str) -> None:
    """Queues a reset mail if the account exists; says nothing either way."""
    try:
        email = normalize_email(email)
    except InvalidInput:
        return
    async with db.global_() as session:
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            return
        token = await _issue_mail_token(session, user, "reset_password", policy.reset_ttl)
        outbox.enqueue(
            session,
            to=email,
            subject="Reset your CAP password",
            body=(
                f"Reset your password within {int(policy.reset_ttl.total_seconds() // 60)} "
                f"minutes: {policy.public_url}/reset-password?token={token}\n"
            ),
        )


async def reset_password(db: Database, passwords: Passwords, token: str, new_password: str) -> None:
    password_hash = await passwords.hash(new_password)
    async with db.global_() as session:
        row = await _take_mail_token(session, token, "reset_password")
        user = await session.get_one(User, row.user_id)
        user.password_hash = password_hash
        # Receiving the mail proves the address as well.
        user.email_verified_at = user.email_verified_at or utcnow()
        # Whoever knew the old password is logged out everywhere.
        await session.execute(
            update(LoginSession)
            .where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
