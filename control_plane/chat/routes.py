"""Text chat over HTTP: conversations, request/response turns, and SSE streaming."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from control_plane.api.context import Authorized, RequestContext, authorized, require
from control_plane.api.schemas import ApiModel, Id, Limit, example
from control_plane.chat import service
from control_plane.chat.engine import ReplyDelta, ReplyDone
from control_plane.chat.models import Message
from tenancy.errors import PermissionDenied
from tenancy.permissions import Permission as P

router = APIRouter(prefix="/v1", tags=["chat"])
Content = Annotated[str, Field(min_length=1, max_length=service.MAX_MESSAGE_CHARS)]


class ConversationIn(ApiModel):
    # Talk to the draft instead of the published version (needs agents.write).
    use_draft: bool = False

    model_config = example(use_draft=False)


class MessageIn(ApiModel):
    content: Content

    model_config = example(content="What are your opening hours?")


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    seq: int
    role: str
    content: str
    provider: str | None
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    agent_id: str
    agent_version: int | None
    channel: str
    created_at: datetime
    updated_at: datetime


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]


class TurnOut(BaseModel):
    user_message: MessageOut
    reply: MessageOut
    truncated: bool
    error: str | None


@router.post("/agents/{agent_id}/conversations", status_code=201, name="conversations.create")
async def create_conversation(
    agent_id: Id, body: ConversationIn, ctx: Annotated[RequestContext, require(P.AGENTS_USE)]
) -> ConversationOut:
    if body.use_draft and not ctx.principal.can(P.AGENTS_WRITE):
        raise PermissionDenied("talking to a draft needs agents.write")
    conversation = await service.start_conversation(
        ctx.session, ctx.principal, agent_id, channel="rest", draft=body.use_draft
    )
    return ConversationOut.model_validate(conversation)


@router.get("/conversations", name="conversations.list")
async def list_conversations(
    ctx: Annotated[RequestContext, require(P.CONVERSATIONS_READ)],
    agent_id: Annotated[Id | None, Query()] = None,
    limit: Annotated[Limit, Query()] = 50,
) -> list[ConversationOut]:
    rows = await service.list_conversations(ctx.session, agent_id=agent_id, limit=limit)
    return [ConversationOut.model_validate(c) for c in rows]


@router.get("/conversations/{conversation_id}", name="conversations.get")
async def get_conversation(
    conversation_id: Id, ctx: Annotated[RequestContext, require(P.CONVERSATIONS_READ)]
) -> ConversationDetailOut:
    conversation = await service.get_conversation(ctx.session, conversation_id)
    messages = await service.messages_of(ctx.session, conversation.id)
    return ConversationDetailOut(
        **ConversationOut.model_validate(conversation).model_dump(),
        messages=[MessageOut.model_validate(m) for m in messages],
    )


@router.post("/conversations/{conversation_id}/messages", name="conversations.send")
async def send_message(
    conversation_id: Id, body: MessageIn, ctx: Annotated[Authorized, authorized(P.AGENTS_USE)]
) -> TurnOut:
    start = await service.begin_turn(
        ctx.services, ctx.principal, conversation_id, body.content, ctx.ip
    )
    done: ReplyDone | None = None
    async for event in service.agent_reply(ctx.services, start.agent, start.history):
        if isinstance(event, ReplyDone):
            done = event
    assert done is not None
    stored = await service.finish_turn(ctx.services, ctx.principal, conversation_id, done)
    return TurnOut(
        user_message=MessageOut.model_validate(start.user_message),
        reply=MessageOut.model_validate(stored),
        truncated=done.truncated,
        error=done.error,
    )


def sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


@router.post("/conversations/{conversation_id}/messages/stream", name="conversations.stream")
async def stream_message(
    conversation_id: Id, body: MessageIn, ctx: Annotated[Authorized, authorized(P.AGENTS_USE)]
) -> StreamingResponse:
    """Server-sent events: ``delta`` per text piece, then ``done`` with the stored
    reply (``truncated``/``error`` say if it was cut short)."""
    # Started before the response so a missing conversation is a plain 404.
    start = await service.begin_turn(
        ctx.services, ctx.principal, conversation_id, body.content, ctx.ip
    )

    async def events() -> AsyncIterator[bytes]:
        async for event in service.agent_reply(ctx.services, start.agent, start.history):
            if isinstance(event, ReplyDelta):
                yield sse("delta", {"text": event.text})
            else:
                stored: Message = await service.finish_turn(
                    ctx.services, ctx.principal, conversation_id, event
                )
                out = MessageOut.model_validate(stored).model_dump(mode="json")
                yield sse(
                    "done", {"message": out, "truncated": event.truncated, "error": event.error}
                )

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
