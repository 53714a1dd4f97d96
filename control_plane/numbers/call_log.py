"""The call log in the database: each call belongs to the organisation whose
number it reached or left from, so its minutes are billed to that organisation.

``PlatformCallLog`` is telephony's ``CallLog``. An update names its organisation
when the webhook knew it; a status callback does not, so its call is found by
SID, or (a callback that beat the webhook) by our number on the call. Calls no
organisation owns (the numbers file, the default agent) stay in the in-memory
fallback log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.numbers.models import PARTY_LENGTH, PhoneCall, PhoneNumber
from control_plane.services import Services
from telephony.calls import CallLog, CallRecord, CallUpdate, InMemoryCallLog, apply
from telephony.errors import InvalidNumber
from telephony.numbers import normalize_number
from tenancy.db.base import utcnow
from tenancy.errors import NotFound

INSERT_ATTEMPTS = 2  # a concurrent first update for the same call wins; we fold into it


def record_of(row: PhoneCall) -> CallRecord:
    return CallRecord(
        call_sid=row.call_sid,
        status=row.status,  # type: ignore[arg-type]
        direction=row.direction,  # type: ignore[arg-type]
        from_number=row.from_number,
        to_number=row.to_number,
        agent_id=row.agent_id,
        started_at=row.started_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        duration_secs=row.duration_secs,
        org_id=row.org_id,
    )


def _store(row: PhoneCall, record: CallRecord) -> None:
    row.status = record.status
    row.direction = record.direction
    row.from_number = (record.from_number or "")[:PARTY_LENGTH] or None
    row.to_number = (record.to_number or "")[:PARTY_LENGTH] or None
    row.agent_id = record.agent_id
    row.started_at = record.started_at
    row.answered_at = record.answered_at
    row.ended_at = record.ended_at
    row.duration_secs = record.duration_secs
    row.updated_at = utcnow()


def _our_number(update: CallUpdate) -> str | None:
    raw = update.from_number if update.direction == "outbound" else update.to_number
    try:
        return normalize_number(raw or "")
    except InvalidNumber:
        return None


class PlatformCallLog:
    def __init__(self, services: Services, fallback: CallLog | None = None) -> None:
        self.services = services
        self.fallback = fallback or InMemoryCallLog()
        # Per call SID: the lock and how many updates hold or await it.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def _owner(self, update: CallUpdate) -> str | None:
        if update.org_id is not None:
            return update.org_id
        async with self.services.db.platform() as session:
            org_id = await session.scalar(
                select(PhoneCall.org_id).where(PhoneCall.call_sid == update.call_sid)
            )
            number = _our_number(update)
            if org_id is None and number is not None:
                org_id = await session.scalar(
                    select(PhoneNumber.org_id).where(PhoneNumber.number == number)
                )
        return org_id

    async def record(self, update: CallUpdate) -> CallRecord:
        org_id = await self._owner(update)
        if org_id is None:
            return await self.fallback.record(update)
        # Read, fold, write: one call's updates take turns in this process (SQLite
        # reads outside the write transaction); across nodes PostgreSQL's row lock
        # and the unique SID do the same.
        async with self._turn(update.call_sid):
            for attempt in range(INSERT_ATTEMPTS):
                try:
                    async with self.services.db.tenant(org_id) as session:
                        return await _fold(session, update)
                except IntegrityError:
                    if attempt + 1 == INSERT_ATTEMPTS:
                        raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def _turn(self, call_sid: str) -> AsyncIterator[None]:
        lock, waiting = self._locks.get(call_sid, (asyncio.Lock(), 0))
        self._locks[call_sid] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiting = self._locks[call_sid]
            if waiting == 1:
                del self._locks[call_sid]
            else:
                self._locks[call_sid] = (lock, waiting - 1)

    async def get(self, call_sid: str) -> CallRecord | None:
        async with self.services.db.platform() as session:
            row = await session.scalar(select(PhoneCall).where(PhoneCall.call_sid == call_sid))
        return record_of(row) if row is not None else await self.fallback.get(call_sid)

    async def recent(self, limit: int = 100) -> list[CallRecord]:
        """The fallback log's calls (an organisation's calls: ``list_calls``)."""
        return await self.fallback.recent(limit)


async def _fold(session: AsyncSession, update: CallUpdate) -> CallRecord:
    query = select(PhoneCall).where(PhoneCall.call_sid == update.call_sid)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # callbacks for one call may arrive together
    row = await session.scalar(query)
    record = apply(record_of(row) if row is not None else None, update)
    if row is None:
        row = PhoneCall(call_sid=update.call_sid)
        session.add(row)
    _store(row, record)
    await session.flush()
    return record_of(row)


# ---------------------------------------------------------------- an organisation's view


async def get_call(session: AsyncSession, call_sid: str) -> PhoneCall:
    row = await session.scalar(select(PhoneCall).where(PhoneCall.call_sid == call_sid))
    if row is None:
        raise NotFound("call not found")
    return row


async def list_calls(
    session: AsyncSession, *, limit: int, since: datetime | None = None
) -> Sequence[PhoneCall]:
    query = select(PhoneCall).order_by(PhoneCall.started_at.desc(), PhoneCall.id.desc())
    if since is not None:
        query = query.where(PhoneCall.started_at >= since)
    return (await session.scalars(query.limit(limit))).all()


@dataclass(frozen=True, slots=True)
class CallUsage:
    calls: int
    answered: int
    billed_seconds: int


async def usage(session: AsyncSession, *, since: datetime, until: datetime) -> CallUsage:
    """Calls started in [since, until): how many, how many were answered, and the
    seconds Twilio billed (its CallDuration from the final callback)."""
    calls, answered, seconds = (
        await session.execute(
            select(
                func.count(PhoneCall.id),
                func.count(PhoneCall.answered_at),
                func.coalesce(func.sum(PhoneCall.duration_secs), 0),
            ).where(PhoneCall.started_at >= since, PhoneCall.started_at < until)
        )
    ).one()
    return CallUsage(int(calls or 0), int(answered or 0), int(seconds or 0))
