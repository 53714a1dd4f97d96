"""Phone numbers CRUD: which agent answers a number, when, and what happens outside hours."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from control_plane.api.context import RequestContext, require
from control_plane.api.schemas import ApiModel, Deleted, Id, example
from control_plane.numbers import service
from control_plane.numbers.models import PhoneNumber
from telephony.numbers import DEFAULT_AFTER_HOURS_MESSAGE
from tenancy.permissions import Permission as P

router = APIRouter(prefix="/v1/numbers", tags=["phone numbers"])

# Loose here, exact in the service (telephony's own E.164 rule): "+1 555 010 0000" is fine.
PhoneText = Annotated[str, StringConstraints(min_length=3, max_length=32)]
Window = Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Digit = Annotated[str, StringConstraints(pattern=r"^[0-9*#]$")]
Rule = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class HoursIn(ApiModel):
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    # Days not named are closed; a night shift is two windows on two days.
    days: dict[Day, Annotated[list[Window], Field(max_length=8)]]


class AfterHoursIn(ApiModel):
    action: Literal["message", "forward"] = "message"
    message: Annotated[str, StringConstraints(min_length=1, max_length=1000)] = (
        DEFAULT_AFTER_HOURS_MESSAGE
    )
    forward_to: PhoneText | None = None


class NumberIn(ApiModel):
    number: PhoneText
    agent_id: Id
    label: Label = ""
    hours: HoursIn | None = None
    after_hours: AfterHoursIn = AfterHoursIn()
    transfer_to: PhoneText | None = None
    # digit -> "transfer", "transfer:+1555...", "hangup" or "text:what the agent is told"
    dtmf: Annotated[dict[Digit, Rule], Field(default_factory=dict, max_length=12)]
    dtmf_to_agent: bool = True

    model_config = example(
        number="+15550100001",
        agent_id="agent-id",
        hours={"timezone": "Europe/Paris", "days": {"mon": ["09:00-17:00"]}},
        after_hours={"action": "message", "message": "We are closed."},
    )


class NumberPatchIn(ApiModel):
    agent_id: Id | None = None
    label: Label | None = None
    hours: HoursIn | None = None  # null: always open
    after_hours: AfterHoursIn | None = None
    transfer_to: PhoneText | None = None
    dtmf: Annotated[dict[Digit, Rule], Field(max_length=12)] | None = None
    dtmf_to_agent: bool | None = None

    model_config = example(label="Front desk line")


class HoursOut(BaseModel):
    timezone: str
    days: dict[str, list[str]]


class AfterHoursOut(BaseModel):
    action: str
    message: str
    forward_to: str | None


class NumberOut(BaseModel):
    id: str
    number: str
    label: str
    agent_id: str
    hours: HoursOut | None
    after_hours: AfterHoursOut
    transfer_to: str | None
    dtmf: dict[str, str]
    dtmf_to_agent: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: PhoneNumber) -> NumberOut:
        hours = None
        if row.timezone and row.hours is not None:
            hours = HoursOut(timezone=row.timezone, days=row.hours)
        return cls(
            id=row.id,
            number=row.number,
            label=row.label,
            agent_id=row.agent_id,
            hours=hours,
            after_hours=AfterHoursOut(
                action=row.after_hours_action,
                message=row.after_hours_message,
                forward_to=row.after_hours_forward,
            ),
            transfer_to=row.transfer_to,
            dtmf=dict(row.dtmf),
            dtmf_to_agent=row.dtmf_to_agent,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _hours(body: HoursIn | None) -> service.Hours | None:
    return service.Hours(body.timezone, {str(d): w for d, w in body.days.items()}) if body else None


def _after_hours(body: AfterHoursIn) -> dict[str, object]:
    return {
        "after_hours_action": body.action,
        "after_hours_message": body.message,
        "after_hours_forward": body.forward_to,
    }


@router.get("", name="numbers.list")
async def list_numbers(ctx: Annotated[RequestContext, require(P.NUMBERS_READ)]) -> list[NumberOut]:
    return [NumberOut.of(row) for row in await service.list_numbers(ctx.session)]


@router.post("", status_code=201, name="numbers.create")
async def create_number(
    body: NumberIn, ctx: Annotated[RequestContext, require(P.NUMBERS_WRITE)]
) -> NumberOut:
    fields = service.NumberFields(
        agent_id=body.agent_id,
        label=body.label,
        hours=_hours(body.hours),
        transfer_to=body.transfer_to,
        dtmf=body.dtmf,
        dtmf_to_agent=body.dtmf_to_agent,
        **_after_hours(body.after_hours),  # type: ignore[arg-type]
    )
    row = await service.create_number(ctx.session, ctx.services.db, body.number, fields)
    ctx.audit_details = {"number_id": row.id, "number": row.number, "agent_id": row.agent_id}
    return NumberOut.of(row)


@router.get("/{number_id}", name="numbers.get")
async def get_number(
    number_id: Id, ctx: Annotated[RequestContext, require(P.NUMBERS_READ)]
) -> NumberOut:
    return NumberOut.of(await service.get_number(ctx.session, number_id))


@router.patch("/{number_id}", name="numbers.update")
async def patch_number(
    number_id: Id, body: NumberPatchIn, ctx: Annotated[RequestContext, require(P.NUMBERS_WRITE)]
) -> NumberOut:
    given = body.model_fields_set
    changes: dict[str, object] = {
        name: getattr(body, name)
        for name in ("agent_id", "label", "transfer_to", "dtmf", "dtmf_to_agent")
        if name in given and (getattr(body, name) is not None or name == "transfer_to")
    }
    if "hours" in given:
        changes["hours"] = _hours(body.hours)
    if body.after_hours is not None:
        changes.update(_after_hours(body.after_hours))
    row = await service.update_number(ctx.session, number_id, changes)
    ctx.audit_details = {"changed": sorted(given)}
    return NumberOut.of(row)


@router.delete("/{number_id}", name="numbers.delete")
async def delete_number(
    number_id: Id, ctx: Annotated[RequestContext, require(P.NUMBERS_WRITE)]
) -> Deleted:
    await service.delete_number(ctx.session, number_id)
    return Deleted(id=number_id)
