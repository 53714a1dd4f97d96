"""The exception tree of the tenancy package.

Each error names the HTTP status the API layer maps it to, so the mapping lives
in one place (``control_plane.api.errors``) instead of at every call site.
"""

from __future__ import annotations


class TenancyError(Exception):
    """Base of every tenancy error."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnscopedAccessError(TenancyError):
    """Code touched a tenant table without a tenant context (a programming error)."""

    status = 500
    code = "unscoped_access"


class CrossTenantWriteError(TenancyError):
    """A session scoped to one organisation tried to write another's row."""

    status = 500
    code = "cross_tenant_write"


class AuthenticationError(TenancyError):
    status = 401
    code = "unauthenticated"


class PermissionDenied(TenancyError):
    status = 403
    code = "forbidden"


class NotFound(TenancyError):
    status = 404
    code = "not_found"


class Conflict(TenancyError):
    status = 409
    code = "conflict"


class InvalidInput(TenancyError):
    status = 422
    code = "invalid"


class OrgSuspended(TenancyError):
    status = 403
    code = "org_suspended"


class RateLimited(TenancyError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
