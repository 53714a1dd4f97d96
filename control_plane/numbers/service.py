"""Phone-number storage rules: one owner per number, the agent of the same
organisation, business hours and keypad rules validated before they are stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.agents import service as agents
from control_plane.numbers.models import PhoneNumber
from telephony.errors import InvalidNumber, InvalidRoute
from telephony.hours import BusinessHours
from telephony.numbers import (
    DEFAULT_AFTER_HOURS_MESSAGE,
    AfterHours,
    Availability,
    NumberRoute,
    normalize_number,
    parse_rule,
)
from tenancy.db.base import utcnow
from tenancy.db.engine import Database
from tenancy.errors import Conflict, InvalidInput, NotFound

TAKEN = "this phone number is already registered"


@dataclass(frozen=True, slots=True)
class Hours:
    timezone: str
    days: Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class NumberFields:
    """Everything a number holds besides its own digits (already shaped by the API)."""

    agent_id: str
    label: str = ""
    hours: Hours | None = None
    after_hours_action: str = "message"
    after_hours_message: str = DEFAULT_AFTER_HOURS_MESSAGE
    after_hours_forward: str | None = None
    transfer_to: str | None = None
    dtmf: Mapping[str, str] | None = None
    dtmf_to_agent: bool = True


def _number(raw: str, what: str = "number") -> str:
    try:
        return normalize_number(raw)
    except InvalidNumber as exc:
        raise InvalidInput(f"{what}: {exc}") from None


def _optional_number(raw: str | None, what: str) -> str | None:
    return _number(raw, what) if raw else None


def _apply(row: PhoneNumber, fields: NumberFields) -> None:
    row.label = fields.label
    row.agent_id = fields.agent_id
    row.timezone = fields.hours.timezone if fields.hours else None
    row.hours = {d: list(s) for d, s in fields.hours.days.items()} if fields.hours else None
    row.after_hours_action = fields.after_hours_action
    row.after_hours_message = fields.after_hours_message
    row.after_hours_forward = _optional_number(fields.after_hours_forward, "after_hours.forward_to")
    row.transfer_to = _optional_number(fields.transfer_to, "transfer_to")
    row.dtmf = dict(fields.dtmf or {})
    row.dtmf_to_agent = fields.dtmf_to_agent
    if row.after_hours_action == "forward" and not row.after_hours_forward:
        raise InvalidInput("after_hours: the forward action needs forward_to")
    # The same checks the webhook's route will run: refuse now, not at call time.
    try:
        to_route(row)
    except (InvalidRoute, InvalidNumber) as exc:
        raise InvalidInput(str(exc)) from None


async def list_numbers(session: AsyncSession) -> Sequence[PhoneNumber]:
    return (await session.scalars(select(PhoneNumber).order_by(PhoneNumber.number))).all()


async def get_number(session: AsyncSession, number_id: str) -> PhoneNumber:
    row = await session.scalar(select(PhoneNumber).where(PhoneNumber.id == number_id))
    if row is None:
        raise NotFound("phone number not found")
    return row


async def number_taken(db: Database, number: str) -> bool:
    """Whether any organisation holds ``number`` (a deliberate platform-wide read:
    row-level security hides other organisations' numbers from the caller's)."""
    async with db.platform() as session:
        found = await session.scalar(select(PhoneNumber.id).where(PhoneNumber.number == number))
    return found is not None


async def create_number(
    session: AsyncSession, db: Database, number: str, fields: NumberFields
) -> PhoneNumber:
    agent = await agents.get_agent(session, fields.agent_id)  # this organisation's, or 404
    row = PhoneNumber(number=_number(number))
    _apply(row, dataclasses.replace(fields, agent_id=agent.id))
    # Two requests racing past this check meet the unique constraint (also a 409).
    if await number_taken(db, row.number):
        raise Conflict(TAKEN)
    session.add(row)
    await session.flush()
    return row


async def update_number(
    session: AsyncSession, number_id: str, changes: Mapping[str, Any]
) -> PhoneNumber:
    row = await get_number(session, number_id)
    fields = dataclasses.replace(fields_of(row), **changes)
    if "agent_id" in changes:
        agent = await agents.get_agent(session, fields.agent_id)
        fields = dataclasses.replace(fields, agent_id=agent.id)
    _apply(row, fields)
    row.updated_at = utcnow()
    await session.flush()
    return row


async def delete_number(session: AsyncSession, number_id: str) -> None:
    row = await get_number(session, number_id)
    await session.delete(row)
    await session.flush()


def fields_of(row: PhoneNumber) -> NumberFields:
    return NumberFields(
        agent_id=row.agent_id,
        label=row.label,
        hours=Hours(row.timezone, row.hours) if row.timezone and row.hours is not None else None,
        after_hours_action=row.after_hours_action,
        after_hours_message=row.after_hours_message,
        after_hours_forward=row.after_hours_forward,
        transfer_to=row.transfer_to,
        dtmf=dict(row.dtmf),
        dtmf_to_agent=row.dtmf_to_agent,
    )


def to_route(row: PhoneNumber, availability: Availability = "in_service") -> NumberRoute:
    """The telephony view of a stored number (raises ``InvalidRoute`` on bad data)."""
    hours = None
    if row.timezone and row.hours is not None:
        hours = BusinessHours.parse(row.timezone, row.hours)
    forward = row.after_hours_forward if row.after_hours_action == "forward" else None
    return NumberRoute(
        number=row.number,
        agent_id=row.agent_id,
        hours=hours,
        after_hours=AfterHours(message=row.after_hours_message, forward_to=forward),
        transfer_to=row.transfer_to,
        dtmf={d: parse_rule(row.number, d, spec) for d, spec in row.dtmf.items()},
        dtmf_to_agent=row.dtmf_to_agent,
        org_id=row.org_id,
        availability=availability,
    )
