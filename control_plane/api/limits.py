"""ASGI middleware for the edge limits: request body size (413) and requests
per client address (429 + Retry-After). Pure ASGI, so WebSockets and streamed
responses pass through untouched."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def _reply(send: Send, status: int, code: str, message: str, headers: list[Any]) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """Refuses bodies over ``max_bytes``: by Content-Length up front, and by
    counting when the length is not declared (chunked uploads). Routes that take
    files (document uploads) may have a larger cap of their own (``larger``)."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, larger: tuple[tuple[str, int], ...] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._larger = tuple((re.compile(pattern), limit) for pattern, limit in larger)

    def limit_for(self, path: str) -> int:
        for pattern, limit in self._larger:
            if pattern.fullmatch(path):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reply(send, 400, "bad_request", "invalid Content-Length", [])
                    return
                if declared > limit:
                    await _reply(send, 413, "too_large", _too_large(limit), [])
                    return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # An HTTPException passes the framework's body parsing untouched.
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, counting_receive, send)


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes"


class IpRateLimit:
    """Per-address budget; the limiter and limit are read from the app's services
    on each call, so tests and operators can swap them at run time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") == "/healthz":
            await self.app(scope, receive, send)
            return
        services = scope["app"].state.services
        client = scope.get("client")
        decision = await services.limiter.hit(
            f"ip:{client[0] if client else '-'}", services.limits.per_ip
        )
        if decision.allowed:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013, "reason": "rate limited"})
            return
        await _reply(
            send,
            429,
            "rate_limited",
            "too many requests from this address",
            [(b"retry-after", decision.retry_after_header.encode())],
        )
