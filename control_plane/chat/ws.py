"""Text chat over a WebSocket: one connection, many turns.

Client messages (JSON): ``{"type": "auth", "token": "..."}`` first when the
``Authorization`` header cannot be set (browsers), then
``{"type": "message", "content": "..."}`` per turn. Server messages:
``ready``, ``delta`` (text piece), ``done`` (stored reply), ``error``.
A bad message gets an ``error`` and the connection stays up.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from control_plane.api.context import Access, principal_for, services_of
from control_plane.api.schemas import check_text
from control_plane.chat import service
from control_plane.chat.engine import ReplyDelta
from control_plane.chat.routes import MessageOut
from tenancy.errors import TenancyError
from tenancy.permissions import Permission
from tenancy.principal import Principal

router = APIRouter(prefix="/v1", tags=["chat"])
MAX_WS_MESSAGE_BYTES = 64 * 1024
AUTH_TIMEOUT_SECS = 10.0
# Policy-violation close code: bad credentials or no permission.
CLOSE_POLICY = 1008


async def _send(ws: WebSocket, kind: str, **data: Any) -> None:
    await ws.send_text(json.dumps({"type": kind, **data}, default=str))


def _parse(raw: str) -> dict[str, Any]:
    if len(raw.encode()) > MAX_WS_MESSAGE_BYTES:
        raise ValueError(f"message larger than {MAX_WS_MESSAGE_BYTES} bytes")
    data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ValueError("expected a JSON object with a 'type'")
    return data


async def _authenticate(ws: WebSocket, token: str = "") -> tuple[Principal, str]:
    header = ws.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header.partition(" ")[2].strip()
    if not token:
        raw = await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_SECS)
        first = _parse(raw)
        if first.get("type") != "auth" or not isinstance(first.get("token"), str):
            raise ValueError("first message must be {'type': 'auth', 'token': ...}")
        token = first["token"]
    org = ws.query_params.get("org")
    principal = await principal_for(ws, token, need_org=True, org_ref=org)
    if not principal.can(Permission.AGENTS_USE):
        raise PermissionError("missing permission agents.use")
    return principal, token


@router.websocket("/conversations/{conversation_id}/ws", name="conversations.ws")
async def chat_socket(ws: WebSocket, conversation_id: str) -> None:
    await ws.accept()
    services = services_of(ws)
    try:
        principal, token = await _authenticate(ws)
        async with services.db.tenant(principal.org_id or "") as session:
            await service.get_conversation(session, conversation_id)
    except (TenancyError, PermissionError, ValueError, TimeoutError) as exc:
        message = exc.message if isinstance(exc, TenancyError) else str(exc)
        await _send(ws, "error", code="rejected", message=message)
        await ws.close(CLOSE_POLICY)
        return
    except WebSocketDisconnect:
        return
    await _send(ws, "ready", conversation_id=conversation_id)
    try:
        while True:
            raw = await ws.receive_text()
            try:
                data = _parse(raw)
                content = data.get("content")
                if data["type"] != "message" or not isinstance(content, str) or not content:
                    raise ValueError("expected {'type': 'message', 'content': '...'}")
                if len(content) > service.MAX_MESSAGE_CHARS:
                    raise ValueError("message too long")
                check_text(content, "content")
            except (ValueError, ValidationError) as exc:
                await _send(ws, "error", code="invalid_message", message=str(exc)[:300])
                continue
            try:
                # Every turn re-checks the credential: a revoked key or a
                # suspended organisation ends the conversation here.
                principal, _ = await _authenticate(ws, token)
            except (TenancyError, PermissionError) as exc:
                message = exc.message if isinstance(exc, TenancyError) else str(exc)
                await _send(ws, "error", code="rejected", message=message)
                await ws.close(CLOSE_POLICY)
                return
            await _turn(ws, principal, conversation_id, content)
    except WebSocketDisconnect:
        return


async def _turn(ws: WebSocket, principal: Principal, conversation_id: str, content: str) -> None:
    services = services_of(ws)
    try:
        start = await service.begin_turn(services, principal, conversation_id, content, None)
    except TenancyError as exc:
        await _send(ws, "error", code=exc.code, message=exc.message)
        return
    async for event in service.agent_reply(services, start.agent, start.history):
        if isinstance(event, ReplyDelta):
            await _send(ws, "delta", text=event.text)
            continue
        stored = await service.finish_turn(services, principal, conversation_id, event)
        await _send(
            ws,
            "done",
            message=MessageOut.model_validate(stored).model_dump(mode="json"),
            truncated=event.truncated,
            error=event.error,
        )


chat_socket.cap_access = Access("permission", Permission.AGENTS_USE)  # type: ignore[attr-defined]
