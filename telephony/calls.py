"""The call log: when each call started, was answered and ended, for usage and billing.

``CallLog`` is the interface: the control plane backs it with its database,
one log per organisation (``org_id``); ``InMemoryCallLog`` keeps a bounded
recent window in memory (tests, and calls no organisation owns).
Updates come from the voice webhook (the call reached us) and from Twilio's
status callbacks (ringing, answered, completed with its billed duration).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

CallDirection = Literal["inbound", "outbound"]
# Twilio's CallStatus values.
CallStatus = Literal[
    "queued", "initiated", "ringing", "in-progress", "completed",
    "busy", "failed", "no-answer", "canceled",
]  # fmt: skip
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
STARTED_STATUSES: frozenset[str] = frozenset({"queued", "initiated", "ringing"})

DEFAULT_MAX_CALLS = 10_000


@dataclass(frozen=True, slots=True)
class CallUpdate:
    call_sid: str
    status: CallStatus
    at: datetime
    direction: CallDirection | None = None
    from_number: str | None = None
    to_number: str | None = None
    agent_id: str | None = None
    duration_secs: int | None = None  # Twilio's CallDuration, on the final callback
    org_id: str | None = None  # who owns (and pays for) the call, when known


@dataclass(frozen=True, slots=True)
class CallRecord:
    call_sid: str
    status: CallStatus
    direction: CallDirection | None = None
    from_number: str | None = None
    to_number: str | None = None
    agent_id: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_secs: int | None = None
    org_id: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STATUSES


class CallLog(Protocol):
    async def record(self, update: CallUpdate) -> CallRecord: ...

    async def get(self, call_sid: str) -> CallRecord | None: ...

    async def recent(self, limit: int = 100) -> list[CallRecord]: ...


def apply(record: CallRecord | None, update: CallUpdate) -> CallRecord:
    """Fold one update into a record. Callbacks can arrive out of order; a final
    status is never overwritten by a late non-final one."""
    if record is None:
        record = CallRecord(call_sid=update.call_sid, status=update.status)
    status = record.status
    if not (record.ended and update.status not in FINAL_STATUSES):
        status = update.status
    started = record.started_at or update.at
    answered = record.answered_at
    if update.status == "in-progress" and answered is None:
        answered = update.at
    ended = record.ended_at
    if update.status in FINAL_STATUSES and ended is None:
        ended = update.at
    return dataclasses.replace(
        record,
        status=status,
        direction=record.direction or update.direction,
        from_number=record.from_number or update.from_number,
        to_number=record.to_number or update.to_number,
        agent_id=record.agent_id or update.agent_id,
        org_id=record.org_id or update.org_id,
        started_at=min(started, update.at),
        answered_at=answered,
        ended_at=ended,
        duration_secs=update.duration_secs
        if update.duration_secs is not None
        else record.duration_secs,
    )


class InMemoryCallLog:
    def __init__(self, max_calls: int = DEFAULT_MAX_CALLS) -> None:
        self.max_calls = max_calls
        self._records: OrderedDict[str, CallRecord] = OrderedDict()

    async def record(self, update: CallUpdate) -> CallRecord:
        record = apply(self._records.get(update.call_sid), update)
        self._records[update.call_sid] = record
        self._records.move_to_end(update.call_sid)
        while len(self._records) > self.max_calls:
            self._records.popitem(last=False)
        return record

    async def get(self, call_sid: str) -> CallRecord | None:
        return self._records.get(call_sid)

    async def recent(self, limit: int = 100) -> list[CallRecord]:
        return list(self._records.values())[-limit:][::-1]
