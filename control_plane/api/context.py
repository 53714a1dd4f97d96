"""Function-level authorisation: the one family of dependencies every route uses.

- ``require(permission)``: an organisation member or API key holding
  ``permission``; yields a ``RequestContext`` whose session is scoped to the
  caller's organisation and commits (with an audit entry for mutations) after
  the handler returns, before the response leaves.
- ``signed_in()``: a logged-in person, no organisation (their own account).
- ``platform_admin()``: a platform administrator; the session is platform-wide.
- ``public()``: no credential (sign-up, login); still rate limited per address.

Each dependency carries a ``cap_access`` attribute, so tests can list every
route with the access rule it declares.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from control_plane.services import Services
from tenancy import audit
from tenancy.auth import Credential, authenticate, authenticate_in
from tenancy.authcache import CredentialCache
from tenancy.db.scoping import Scope, rescope
from tenancy.errors import AuthenticationError, PermissionDenied, RateLimited
from tenancy.permissions import Permission
from tenancy.principal import Principal

log = logging.getLogger(__name__)

ORG_HEADER = "x-cap-org"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
AccessKind = Literal["permission", "signed_in", "platform_admin", "public"]


@dataclass(frozen=True, slots=True)
class Access:
    kind: AccessKind
    permission: Permission | None = None


@dataclass
class RequestContext:
    principal: Principal
    session: AsyncSession
    services: Services
    ip: str | None
    # Handlers add what the audit entry should say beyond the route and its ids.
    audit_details: dict[str, Any] = field(default_factory=dict)

    @property
    def org_id(self) -> str:
        assert self.principal.org_id is not None
        return self.principal.org_id


@dataclass
class UserContext:
    principal: Principal
    services: Services
    ip: str | None


def services_of(conn: HTTPConnection) -> Services:
    services: Services = conn.app.state.services
    return services


def client_ip(conn: HTTPConnection) -> str | None:
    return conn.client.host if conn.client else None


def bearer_token(conn: HTTPConnection) -> str:
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("send 'Authorization: Bearer <token or API key>'")
    return token.strip()


def _credential(
    conn: HTTPConnection, token: str, *, need_org: bool, org_ref: str | None = None
) -> Credential:
    org = org_ref or conn.headers.get(ORG_HEADER) or None
    return Credential(token=token, org_ref=org, need_org=need_org)


async def _spend_budget(services: Services, principal: Principal) -> None:
    who = f"key:{principal.api_key_id}" if principal.api_key_id else f"user:{principal.user_id}"
    decision = await services.limiter.hit(who, services.limits.per_key)
    if not decision.allowed:
        raise RateLimited("rate limit exceeded for this credential", decision.retry_after)


def credential_cache(conn: HTTPConnection) -> CredentialCache:
    """The app's memory of verified credentials (``tenancy.authcache``)."""
    cache: CredentialCache | None = getattr(conn.app.state, "credential_cache", None)
    if cache is None:
        cache = CredentialCache(services_of(conn).settings.auth_cache_seconds)
        conn.app.state.credential_cache = cache
    return cache


def _forget_on_change(conn: HTTPConnection, method: str) -> None:
    # Any change may revoke, suspend or re-role someone: verified credentials
    # are looked up afresh after it.
    if method not in SAFE_METHODS:
        credential_cache(conn).invalidate()


async def principal_for(
    conn: HTTPConnection, token: str, *, need_org: bool, org_ref: str | None = None
) -> Principal:
    services = services_of(conn)
    credential = _credential(conn, token, need_org=need_org, org_ref=org_ref)
    cache = credential_cache(conn)
    principal = cache.get(credential)
    if principal is None:
        generation = cache.generation
        principal = await authenticate(services.db, credential)
        cache.put(credential, principal, generation)
    await _spend_budget(services, principal)
    return principal


def audit_target(request: Request) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(request.path_params.items()))


def audit_action(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "name", None) or f"{request.method} {request.url.path}"


def require(permission: Permission) -> Any:
    async def dependency(request: Request) -> AsyncIterator[RequestContext]:
        services = services_of(request)
        credential = _credential(request, bearer_token(request), need_org=True)
        cache = credential_cache(request)
        principal = cache.get(credential)
        if principal is not None:
            # Verified moments ago: straight into the caller's tenant.
            await _spend_budget(services, principal)
            _admit(principal, permission)
            assert principal.org_id is not None
            opened = services.db.tenant(principal.org_id)
        else:
            opened = services.db.platform()
        try:
            # One transaction per request: an unknown credential is looked up
            # platform-wide, then the same transaction moves into the tenant.
            async with opened as session:
                if principal is None:
                    generation = cache.generation
                    principal = await authenticate_in(session, credential)
                    cache.put(credential, principal, generation)
                    await _spend_budget(services, principal)
                    _admit(principal, permission)
                    assert principal.org_id is not None
                    await rescope(session, Scope("tenant", principal.org_id))
                ctx = RequestContext(principal, session, services, client_ip(request))
                yield ctx
                if request.method not in SAFE_METHODS:
                    audit.record(
                        session,
                        audit.AuditEvent(
                            audit_action(request), audit_target(request), details=ctx.audit_details
                        ),
                        org_id=principal.org_id,
                        principal=principal,
                        ip=ctx.ip,
                    )
        finally:
            _forget_on_change(request, request.method)

    return _marked(dependency, Access("permission", permission))


def _admit(principal: Principal, permission: Permission) -> None:
    if not principal.can(permission):
        raise PermissionDenied(f"missing permission {permission.value}")


@dataclass
class Authorized:
    """An authorised caller without an open transaction (long-running handlers:
    chat turns open short transactions of their own)."""

    principal: Principal
    services: Services
    ip: str | None

    @property
    def org_id(self) -> str:
        assert self.principal.org_id is not None
        return self.principal.org_id


def authorized(permission: Permission) -> Any:
    async def dependency(request: Request) -> AsyncIterator[Authorized]:
        principal = await principal_for(request, bearer_token(request), need_org=True)
        _admit(principal, permission)
        try:
            yield Authorized(principal, services_of(request), client_ip(request))
        finally:
            _forget_on_change(request, request.method)

    return _marked(dependency, Access("permission", permission))


def signed_in() -> Any:
    async def dependency(request: Request) -> AsyncIterator[UserContext]:
        principal = await principal_for(request, bearer_token(request), need_org=False)
        if principal.kind != "user":
            raise PermissionDenied("this endpoint needs a person's login, not an API key")
        try:
            yield UserContext(principal, services_of(request), client_ip(request))
        finally:
            _forget_on_change(request, request.method)

    return _marked(dependency, Access("signed_in"))


AfterCommit = Callable[[], Awaitable[None]]


@dataclass
class AdminContext:
    principal: Principal
    session: AsyncSession
    services: Services
    ip: str | None
    audit_org_id: str | None = None
    audit_details: dict[str, Any] = field(default_factory=dict)
    # Run once the request's transaction has committed; never if it fails.
    after_commit: list[AfterCommit] = field(default_factory=list)


async def _run_after_commit(hooks: list[AfterCommit]) -> None:
    # The change is already stored: a failing hook is logged and the rest still run.
    for hook in hooks:
        try:
            await hook()
        except Exception:
            log.exception("after-commit hook failed")


def platform_admin() -> Any:
    async def dependency(request: Request) -> AsyncIterator[AdminContext]:
        services = services_of(request)
        principal = await principal_for(request, bearer_token(request), need_org=False)
        if principal.kind != "user" or not principal.is_platform_admin:
            raise PermissionDenied("platform administrators only")
        try:
            async with services.db.platform() as session:
                ctx = AdminContext(principal, session, services, client_ip(request))
                yield ctx
                if request.method not in SAFE_METHODS:
                    audit.record(
                        session,
                        audit.AuditEvent(
                            audit_action(request), audit_target(request), details=ctx.audit_details
                        ),
                        org_id=ctx.audit_org_id or request.path_params.get("org_id"),
                        principal=principal,
                        ip=ctx.ip,
                    )
            await _run_after_commit(ctx.after_commit)
        finally:
            _forget_on_change(request, request.method)

    return _marked(dependency, Access("platform_admin"))


def public() -> Any:
    async def dependency(request: Request) -> AsyncIterator[Services]:
        services = services_of(request)
        # Sign-up, login and resets are where guessing happens: a tighter budget.
        decision = await services.limiter.hit(
            f"auth:{client_ip(request)}", services.limits.auth_per_ip
        )
        if not decision.allowed:
            raise RateLimited("too many attempts; wait", decision.retry_after)
        try:
            yield services
        finally:
            # A password reset ends the person's logins.
            _forget_on_change(request, request.method)

    return _marked(dependency, Access("public"))


async def audit_outside(
    services: Services,
    principal: Principal | None,
    event: audit.AuditEvent,
    *,
    org_id: str | None,
    ip: str | None,
) -> None:
    """Audit for routes whose work ran in their own transactions (identity flows)."""
    async with services.db.platform() as session:
        audit.record(session, event, org_id=org_id, principal=principal, ip=ip)


def _marked(dependency: Callable[..., Any], access: Access) -> Any:
    dependency.cap_access = access  # type: ignore[attr-defined]
    return Depends(dependency, scope="function")


def marked(dependency: Callable[..., Any], access: Access) -> Any:
    """For areas with an access rule of their own (ops): the same marking, so the
    generated role and isolation matrices cover their routes too."""
    return _marked(dependency, access)


def access_of(call: Callable[..., Any]) -> Access | None:
    return getattr(call, "cap_access", None)
