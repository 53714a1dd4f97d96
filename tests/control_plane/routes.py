"""The app's HTTP routes, enumerated from ``app.routes`` with the access rule each
declares, and request bodies built from each body model's example."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from control_plane.api.context import Access, access_of

PARAM = re.compile(r"{(\w+)}")
# Areas that authenticate on their own terms (Twilio signatures, voice session
# credentials, widget keys) rather than through ``control_plane.api.context``.
# They are reported by ``outside_tenancy`` so the list stays visible.
OWN_AUTH_MODULES = (
    "control_plane.voice",
    "control_plane.webrtc",
    "control_plane.widget",
    "telephony",
    "fastapi",
    "control_plane.app",
)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    name: str
    access: Access
    body_model: type[Any] | None

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    def url(self, values: dict[str, str]) -> str:
        return PARAM.sub(lambda m: values[m.group(1)], self.path)

    def example(self) -> dict[str, Any] | None:
        if self.body_model is None:
            return None
        extra = self.body_model.model_config.get("json_schema_extra") or {}
        examples = extra.get("examples") if isinstance(extra, dict) else None
        return dict(examples[0]) if examples else {}

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _access(route: APIRoute) -> list[Access]:
    found = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call is not None and (access := access_of(dep.call)) is not None:
            found.append(access)
        stack.extend(dep.dependencies)
    return found


def _module(route: Any) -> str:
    return str(getattr(getattr(route, "endpoint", None), "__module__", ""))


def outside_tenancy(app: FastAPI) -> list[str]:
    """Routes of the areas that authenticate on their own."""
    return sorted(
        f"{sorted(c.methods or ['WS'])} {c.path}"
        for c in iter_route_contexts(app.routes)
        if _module(c.original_route).startswith(OWN_AUTH_MODULES)
    )


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every HTTP route outside ``OWN_AUTH_MODULES``. Fails on a route that
    declares no access rule or more than one."""
    out = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path or ""
        if _module(route).startswith(OWN_AUTH_MODULES):
            continue
        if not isinstance(route, APIRoute):
            assert hasattr(route.endpoint, "cap_access"), f"{path}: no access rule"  # type: ignore[attr-defined]
            continue
        rules = _access(route)
        assert len(rules) == 1, f"{path}: declares {len(rules)} access rules"
        body = route.body_field.field_info.annotation if route.body_field else None
        for method in sorted(context.methods or ()):
            out.append(Endpoint(method, path, route.name, rules[0], body))
    return out
