"""Phone calls of an organisation: the call log and usage, and live-call control
(place an outbound call, transfer, hang up) through Twilio's REST API.

Control runs outside a database transaction (``authorized``): a Twilio request
may take seconds, so each step opens a short transaction of its own, and the
audit entry is written after the operation.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.agents import service as agents
from control_plane.api.context import (
    Authorized,
    RequestContext,
    audit_action,
    audit_outside,
    audit_target,
    authorized,
    require,
)
from control_plane.api.schemas import ApiModel, Id, Limit, example
from control_plane.numbers import call_log
from control_plane.numbers.models import PhoneNumber
from telephony.errors import CallControlError, InvalidNumber, NotConfigured
from telephony.numbers import normalize_number
from telephony.routes import telephony_of
from telephony.service import TwilioTelephony
from tenancy import audit
from tenancy.errors import Conflict, InvalidInput, NotFound
from tenancy.permissions import Permission as P

T = TypeVar("T")
router = APIRouter(prefix="/v1/calls", tags=["phone calls"])
CallSid = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{2,64}$")]
PhoneText = Annotated[str, Field(min_length=3, max_length=32)]
MAX_USAGE_DAYS = 366


class CallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    call_sid: str
    status: str
    direction: str | None
    from_number: str | None
    to_number: str | None
    agent_id: str | None
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    duration_secs: int | None


class UsageOut(BaseModel):
    since: datetime
    until: datetime
    calls: int
    answered: int
    billed_seconds: int


class PlaceCallIn(ApiModel):
    to: PhoneText
    agent_id: Id
    # One of the organisation's numbers; default: a number the agent answers, else any.
    from_: PhoneText | None = Field(default=None, alias="from")

    model_config = ConfigDict(populate_by_name=True, **example(to="+15550109999", agent_id="id"))


class TransferIn(ApiModel):
    to: PhoneText

    model_config = example(to="+15550108888")


class CallControlOut(BaseModel):
    call_sid: str
    status: str


def _telephony(request: Request) -> TwilioTelephony:
    return telephony_of(request.app)


async def _twilio(work: Awaitable[T]) -> T:
    try:
        return await work
    except InvalidNumber as exc:
        raise InvalidInput(str(exc)) from None
    except NotConfigured as exc:
        raise HTTPException(503, str(exc)) from None
    except CallControlError as exc:
        # Twilio's final refusals (the call is over, a bad number) are conflicts here.
        raise HTTPException(502 if exc.retryable else 409, str(exc)) from None


async def _audit(request: Request, who: Authorized, **details: Any) -> None:
    await audit_outside(
        who.services,
        who.principal,
        audit.AuditEvent(audit_action(request), audit_target(request), details=details),
        org_id=who.org_id,
        ip=who.ip,
    )


async def _own_call(who: Authorized, call_sid: str) -> None:
    """404 unless the call is this organisation's (another's is simply not found)."""
    async with who.services.db.tenant(who.org_id) as session:
        await call_log.get_call(session, call_sid)


@router.get("", name="calls.list")
async def list_calls(
    ctx: Annotated[RequestContext, require(P.CALLS_READ)],
    limit: Annotated[Limit, Query()] = 100,
    since: Annotated[datetime | None, Query()] = None,
) -> list[CallOut]:
    rows = await call_log.list_calls(ctx.session, limit=limit, since=_aware(since))
    return [CallOut.model_validate(row) for row in rows]


@router.get("/usage", name="calls.usage")
async def call_usage(
    ctx: Annotated[RequestContext, require(P.CALLS_READ)],
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> UsageOut:
    """Calls started in [since, until) (default: the last 30 days) and their billed seconds."""
    end = _aware(until) or datetime.now(UTC)
    start = _aware(since) or end - timedelta(days=30)
    if not start < end or end - start > timedelta(days=MAX_USAGE_DAYS):
        raise InvalidInput(f"since must be before until, at most {MAX_USAGE_DAYS} days apart")
    used = await call_log.usage(ctx.session, since=start, until=end)
    return UsageOut(
        since=start,
        until=end,
        calls=used.calls,
        answered=used.answered,
        billed_seconds=used.billed_seconds,
    )


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


@router.get("/{call_sid}", name="calls.get")
async def get_call(
    call_sid: CallSid, ctx: Annotated[RequestContext, require(P.CALLS_READ)]
) -> CallOut:
    return CallOut.model_validate(await call_log.get_call(ctx.session, call_sid))


@router.post("", status_code=201, name="calls.create")
async def place_call(
    body: PlaceCallIn, request: Request, who: Annotated[Authorized, authorized(P.CALLS_WRITE)]
) -> CallControlOut:
    async with who.services.db.tenant(who.org_id) as session:
        agent = await agents.get_agent(session, body.agent_id)  # 404 for another's
        agents.require_published(agent)
        caller = await _caller_number(session, agent.id, body.from_)
    telephony = _telephony(request)
    call_sid = await _twilio(telephony.place_call(body.to, agent.id, caller, org_id=who.org_id))
    await _audit(request, who, call_sid=call_sid, agent_id=agent.id, number=caller)
    return CallControlOut(call_sid=call_sid, status="queued")


async def _caller_number(session: AsyncSession, agent_id: str, wanted: str | None) -> str:
    if wanted is not None:
        try:
            number = normalize_number(wanted)
        except InvalidNumber as exc:
            raise InvalidInput(f"from: {exc}") from None
        if await session.scalar(select(PhoneNumber.id).where(PhoneNumber.number == number)):
            return number
        raise NotFound("phone number not found")
    numbers = (
        await session.scalars(
            select(PhoneNumber).order_by(PhoneNumber.created_at, PhoneNumber.number)
        )
    ).all()
    if not numbers:
        raise Conflict("the organisation has no phone number to call from; add one first")
    own = [n for n in numbers if n.agent_id == agent_id]
    return (own or numbers)[0].number


@router.post("/{call_sid}/transfer", name="calls.transfer")
async def transfer_call(
    call_sid: CallSid,
    body: TransferIn,
    request: Request,
    who: Annotated[Authorized, authorized(P.CALLS_WRITE)],
) -> CallControlOut:
    await _own_call(who, call_sid)
    await _twilio(_telephony(request).transfer_now(call_sid, body.to))
    await _audit(request, who, to=body.to)
    return CallControlOut(call_sid=call_sid, status="transferring")


@router.post("/{call_sid}/hangup", name="calls.hangup")
async def hang_up_call(
    call_sid: CallSid, request: Request, who: Annotated[Authorized, authorized(P.CALLS_WRITE)]
) -> CallControlOut:
    await _own_call(who, call_sid)
    await _twilio(_telephony(request).hang_up_now(call_sid))
    await _audit(request, who)
    return CallControlOut(call_sid=call_sid, status="completed")
