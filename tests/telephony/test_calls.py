"""The call log folds webhook and status-callback updates into one record per call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telephony.calls import CallUpdate, InMemoryCallLog

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_a_call_is_recorded_from_ringing_to_completed_with_its_duration() -> None:
    log = InMemoryCallLog()
    await log.record(CallUpdate("CA1", "ringing", at(0), "inbound", "+1555", "+1666", "support"))
    await log.record(CallUpdate("CA1", "in-progress", at(3)))
    record = await log.record(CallUpdate("CA1", "completed", at(45), duration_secs=42))
    assert record.status == "completed" and record.ended
    assert (record.started_at, record.answered_at, record.ended_at) == (at(0), at(3), at(45))
    assert record.duration_secs == 42 and record.agent_id == "support"
    assert record.direction == "inbound" and record.from_number == "+1555"


async def test_a_late_non_final_callback_never_reopens_an_ended_call() -> None:
    log = InMemoryCallLog()
    await log.record(CallUpdate("CA1", "completed", at(10), duration_secs=9))
    record = await log.record(CallUpdate("CA1", "ringing", at(1)))
    assert record.status == "completed" and record.started_at == at(1)


async def test_the_log_keeps_a_bounded_recent_window() -> None:
    log = InMemoryCallLog(max_calls=3)
    for i in range(5):
        await log.record(CallUpdate(f"CA{i}", "ringing", at(i)))
    assert [r.call_sid for r in await log.recent()] == ["CA4", "CA3", "CA2"]
    assert await log.get("CA0") is None
