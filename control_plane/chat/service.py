"""Conversations and messages: storage, and one chat turn split into short
transactions (no transaction stays open while the model thinks)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.agents import service as agents
from control_plane.agents.resolve import ResolvedAgent, load_agent
from control_plane.chat.engine import ReplyDone, ReplyEvent, reply
from control_plane.chat.models import Conversation, Message
from control_plane.services import Services
from pipelines.providers.base import ChatMessage
from tenancy import audit
from tenancy.db.base import utcnow
from tenancy.errors import NotFound
from tenancy.principal import Principal

MAX_MESSAGE_CHARS = 32_000


async def start_conversation(
    session: AsyncSession, principal: Principal, agent_ref: str, *, channel: str, draft: bool
) -> Conversation:
    agent = await agents.get_agent(session, agent_ref)
    version = None if draft else agents.require_published(agent)
    conversation = Conversation(
        agent_id=agent.id,
        agent_version=version,
        channel=channel,
        created_by_user_id=principal.user_id,
        created_by_api_key_id=principal.api_key_id,
    )
    session.add(conversation)
    await session.flush()
    return conversation


async def get_conversation(session: AsyncSession, conversation_id: str) -> Conversation:
    found = await session.scalar(select(Conversation).where(Conversation.id == conversation_id))
    if found is None:
        raise NotFound("conversation not found")
    return found


async def list_conversations(
    session: AsyncSession, *, agent_id: str | None, limit: int
) -> Sequence[Conversation]:
    query = select(Conversation).order_by(Conversation.created_at.desc(), Conversation.id)
    if agent_id is not None:
        query = query.where(Conversation.agent_id == agent_id)
    return (await session.scalars(query.limit(limit))).all()


async def messages_of(session: AsyncSession, conversation_id: str) -> Sequence[Message]:
    return (
        await session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)
        )
    ).all()


async def append(
    session: AsyncSession, conversation: Conversation, role: str, content: str, **usage: object
) -> Message:
    last = await session.scalar(
        select(func.max(Message.seq)).where(Message.conversation_id == conversation.id)
    )
    message = Message(
        conversation_id=conversation.id,
        seq=int(last or 0) + 1,
        role=role,
        content=content,
        **usage,
    )
    session.add(message)
    conversation.updated_at = utcnow()
    await session.flush()
    return message


async def agent_for(
    session: AsyncSession, services: Services, conversation: Conversation, principal: Principal
) -> ResolvedAgent:
    """The draft for draft conversations; else the version pinned at the start
    (a later publish does not change a conversation under way)."""
    return await load_agent(
        session,
        services.secret_box,
        conversation.agent_id,
        draft=conversation.agent_version is None,
        version=conversation.agent_version,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
    )


@dataclass(frozen=True, slots=True)
class TurnStart:
    user_message: Message
    agent: ResolvedAgent
    history: list[ChatMessage]


async def begin_turn(
    services: Services, principal: Principal, conversation_id: str, content: str, ip: str | None
) -> TurnStart:
    assert principal.org_id is not None
    async with services.db.tenant(principal.org_id) as session:
        conversation = await get_conversation(session, conversation_id)
        agent = await agent_for(session, services, conversation, principal)
        user_message = await append(session, conversation, "user", content)
        history = [
            ChatMessage(m.role, m.content)  # type: ignore[arg-type]
            for m in await messages_of(session, conversation.id)
            if m.role in ("user", "assistant")
        ]
        audit.record(
            session,
            audit.AuditEvent("conversations.message", f"conversation_id={conversation.id}"),
            org_id=principal.org_id,
            principal=principal,
            ip=ip,
        )
    return TurnStart(user_message, agent, history)


async def finish_turn(
    services: Services, principal: Principal, conversation_id: str, done: ReplyDone
) -> Message:
    assert principal.org_id is not None
    async with services.db.tenant(principal.org_id) as session:
        conversation = await get_conversation(session, conversation_id)
        return await append(
            session,
            conversation,
            "assistant",
            done.text,
            provider=done.provider or None,
            prompt_tokens=done.prompt_tokens,
            completion_tokens=done.completion_tokens,
        )


def agent_reply(
    services: Services, agent: ResolvedAgent, history: list[ChatMessage]
) -> AsyncIterator[ReplyEvent]:
    """The agent's reply, with retrieval over its knowledge bases when the
    knowledge area has installed a retriever factory."""
    retriever = None
    if services.retriever_factory is not None and agent.knowledge_base_ids:
        retriever = services.retriever_factory(agent.org_id, agent.knowledge_base_ids)
    return reply(agent, history, services.llm_factory, retriever=retriever)
