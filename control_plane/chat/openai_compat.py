"""OpenAI-compatible ``POST /v1/chat/completions``: ``model`` names an agent (id
or slug), so existing OpenAI clients talk to CAP agents unchanged.

The agent's system prompt leads; the client's messages follow. Each call is
stored as a conversation on the ``openai`` channel.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from control_plane.agents.resolve import ResolvedAgent, SessionRejected, load_agent
from control_plane.api.context import Authorized, authorized
from control_plane.api.schemas import check_json
from control_plane.chat import service
from control_plane.chat.engine import ReplyDelta, ReplyDone
from pipelines.providers.base import ChatMessage
from tenancy import audit
from tenancy.errors import NotFound, TenancyError
from tenancy.permissions import Permission as P

router = APIRouter(prefix="/v1", tags=["OpenAI compatible"])
MAX_MESSAGES = 200


class CompatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    # Plain text, or OpenAI content parts (only text parts are read).
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        parts = self.content or []
        return "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


class CompletionIn(BaseModel):
    # Unknown OpenAI parameters (temperature, top_p, ...) are accepted and ignored.
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"model": "default", "messages": [{"role": "user", "content": "Hi"}]}]
        },
    )
    model: Annotated[str, Field(min_length=1, max_length=64)]
    messages: list[CompatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    user: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _clean(self) -> CompletionIn:
        check_json(self.model, "model")
        for i, m in enumerate(self.messages):
            text = m.text()
            if len(text) > service.MAX_MESSAGE_CHARS:
                raise ValueError(f"messages[{i}]: longer than {service.MAX_MESSAGE_CHARS}")
            check_json(text, f"messages[{i}].content")
        return self


def _history(body: CompletionIn) -> list[ChatMessage]:
    out = []
    for m in body.messages:
        role = "system" if m.role == "developer" else m.role
        if role == "tool":
            continue  # CAP agents run their own tools; client tool results are not replayed
        out.append(ChatMessage(role, m.text()))
    return out


async def _prepare(ctx: Authorized, body: CompletionIn) -> tuple[ResolvedAgent, str]:
    async with ctx.services.db.tenant(ctx.org_id) as session:
        try:
            agent = await load_agent(
                session,
                ctx.services.secret_box,
                body.model,
                user_id=ctx.principal.user_id,
                api_key_id=ctx.principal.api_key_id,
            )
        except SessionRejected as exc:
            raise NotFound(f"model {body.model!r}: {exc}") from None
        conversation = await service.start_conversation(
            session, ctx.principal, agent.agent_id, channel="openai", draft=False
        )
        for m in _history(body):
            await service.append(session, conversation, m.role, m.content)
        audit.record(
            session,
            audit.AuditEvent("openai.chat_completions", f"conversation_id={conversation.id}"),
            org_id=ctx.org_id,
            principal=ctx.principal,
            ip=ctx.ip,
        )
    return agent, conversation.id


def _chunk(cid: str, model: str, created: int, delta: dict[str, Any], finish: str | None) -> bytes:
    payload = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


@router.post("/chat/completions", name="openai.chat_completions", response_model=None)
async def chat_completions(
    body: CompletionIn, ctx: Annotated[Authorized, authorized(P.AGENTS_USE)]
) -> dict[str, Any] | StreamingResponse:
    agent, conversation_id = await _prepare(ctx, body)
    history = _history(body)
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    async def finish(done: ReplyDone) -> None:
        await service.finish_turn(ctx.services, ctx.principal, conversation_id, done)

    if body.stream:

        async def events() -> AsyncIterator[bytes]:
            yield _chunk(cid, body.model, created, {"role": "assistant", "content": ""}, None)
            async for event in service.agent_reply(ctx.services, agent, history):
                if isinstance(event, ReplyDelta):
                    yield _chunk(cid, body.model, created, {"content": event.text}, None)
                else:
                    await finish(event)
                    reason = "length" if event.truncated and not event.error else "stop"
                    if event.error and not event.text:
                        err = {"error": {"message": event.error, "type": "provider_error"}}
                        yield f"data: {json.dumps(err)}\n\n".encode()
                    yield _chunk(cid, body.model, created, {}, reason)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    done: ReplyDone | None = None
    async for event in service.agent_reply(ctx.services, agent, history):
        if isinstance(event, ReplyDone):
            done = event
    assert done is not None
    await finish(done)
    if done.error and not done.text:
        raise _ProviderFailed(done.error)
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": body.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": done.text},
                "finish_reason": "length" if done.truncated and not done.error else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": done.prompt_tokens,
            "completion_tokens": done.completion_tokens,
            "total_tokens": done.prompt_tokens + done.completion_tokens,
        },
    }


class _ProviderFailed(TenancyError):
    status = 502
    code = "provider_error"
