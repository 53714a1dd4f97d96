"""Who may read the ops surfaces, and whose calls they see.

- ``/metrics`` (the process's Prometheus text, every organisation mixed):
  platform administrators, or the ``CAP_OPS_TOKEN`` bearer a Prometheus
  scraper is configured with.
- ``/v1/ops/latency`` and ``/v1/ops/turns``: platform administrators see every
  organisation's calls (or one, naming it in ``X-CAP-Org`` as a member);
  members and API keys holding ``ops.read`` see their organisation's only.
- ``/dashboard/latency`` holds no data: it asks for a token and sends it to
  the endpoints above.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from control_plane.api.context import (
    ORG_HEADER,
    Access,
    bearer_token,
    marked,
    principal_for,
    services_of,
)
from tenancy.auth import Credential, authenticate
from tenancy.errors import PermissionDenied
from tenancy.permissions import Permission


@dataclass(frozen=True, slots=True)
class OpsView:
    # None: every organisation's calls (a platform administrator).
    org_id: str | None

    def sees(self, org_id: str | None) -> bool:
        return self.org_id is None or org_id == self.org_id


def ops_reader() -> Any:
    async def dependency(request: Request) -> OpsView:
        token = bearer_token(request)
        org_ref = request.headers.get(ORG_HEADER) or None
        principal = await principal_for(request, token, need_org=False)
        if principal.kind == "user" and principal.is_platform_admin and org_ref is None:
            return OpsView(None)
        if principal.org_id is None:
            # A person: their figures are those of the organisation they act in.
            credential = Credential(token=token, org_ref=org_ref, need_org=True)
            principal = await authenticate(services_of(request).db, credential)
        if not principal.can(Permission.OPS_READ):
            raise PermissionDenied(f"missing permission {Permission.OPS_READ.value}")
        return OpsView(principal.org_id)

    return marked(dependency, Access("permission", Permission.OPS_READ))


def metrics_reader() -> Any:
    async def dependency(request: Request) -> None:
        token = bearer_token(request)
        ops_token = services_of(request).settings.ops_token
        if ops_token and hmac.compare_digest(token.encode(), ops_token.encode()):
            return
        principal = await principal_for(request, token, need_org=False)
        if principal.kind != "user" or not principal.is_platform_admin:
            raise PermissionDenied("platform administrators (or the ops token) only")

    return marked(dependency, Access("platform_admin"))


def page() -> Any:
    """A page with no data in it: anyone may load it (it asks for a token)."""

    async def dependency() -> None:
        return None

    return marked(dependency, Access("public"))
