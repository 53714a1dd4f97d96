"""Number directory entries and business hours: parsing, validation, opening times."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from telephony.errors import InvalidNumber, InvalidRoute
from telephony.hours import BusinessHours
from telephony.numbers import (
    DtmfRule,
    InMemoryNumberDirectory,
    NumberRoute,
    normalize_number,
    parse_route,
)

PARIS = BusinessHours.parse(
    "Europe/Paris", {"mon": ["09:00-12:30", "13:30-17:00"], "sat": ["10:00-24:00"]}
)


@pytest.mark.parametrize(
    ("at", "open_"),
    [
        (datetime(2026, 1, 5, 8, 0, tzinfo=UTC), True),  # Monday 09:00 in Paris (UTC+1)
        (datetime(2026, 1, 5, 7, 59, tzinfo=UTC), False),
        (datetime(2026, 1, 5, 11, 29, tzinfo=UTC), True),  # 12:29
        (datetime(2026, 1, 5, 11, 30, tzinfo=UTC), False),  # 12:30: lunch
        (datetime(2026, 1, 5, 15, 59, tzinfo=UTC), True),
        (datetime(2026, 1, 5, 16, 0, tzinfo=UTC), False),  # 17:00: closed
        (datetime(2026, 1, 6, 10, 0, tzinfo=UTC), False),  # Tuesday: not listed
        (datetime(2026, 1, 10, 22, 59, tzinfo=UTC), True),  # Saturday 23:59
        (datetime(2026, 1, 10, 23, 0, tzinfo=UTC), False),  # Sunday 00:00
        (datetime(2026, 7, 6, 7, 0, tzinfo=UTC), True),  # summer time: 09:00 is 07:00 UTC
    ],
)
def test_business_hours_are_read_in_the_numbers_time_zone(at: datetime, open_: bool) -> None:
    assert PARIS.is_open(at) is open_


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ({"monday": ["09:00-17:00"]}, "unknown day"),
        ({"mon": "09:00-17:00"}, "list of windows"),
        ({"mon": ["9:00-17:00"]}, "HH:MM-HH:MM"),
        ({"mon": ["17:00-09:00"]}, "closes before it opens"),
        ({"mon": ["09:00-24:01"]}, "impossible"),
        ({"mon": ["09:61-10:00"]}, "impossible"),
    ],
)
def test_bad_hours_are_refused_with_a_reason(days: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRoute, match=message):
        BusinessHours.parse("UTC", days)  # type: ignore[arg-type]


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(InvalidRoute, match="time zone"):
        BusinessHours.parse("Mars/Olympus", {})


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        PARIS.is_open(datetime(2026, 1, 5, 9, 0))


@pytest.mark.parametrize(
    ("raw", "number"),
    [("+1 (555) 000-1111", "+15550001111"), ("+33.1.23.45.67.89", "+33123456789")],
)
def test_numbers_are_normalized_to_e164(raw: str, number: str) -> None:
    assert normalize_number(raw) == number


@pytest.mark.parametrize("raw", ["", "5550001111", "+0123", "+12", "+1234567890123456", "sip:x@y"])
def test_non_e164_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidNumber):
        normalize_number(raw)


async def test_a_directory_file_is_loaded_with_hours_rules_and_forwarding(
    tmp_path: Path,
) -> None:
    path = tmp_path / "numbers.toml"
    path.write_text(
        """
[numbers."+1 555 000 1111"]
agent = "support"
timezone = "America/New_York"
hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"] }
after_hours_message = "We open at nine."
transfer_to = "+15559990000"

[numbers."+1 555 000 1111".dtmf]
"0" = "transfer"
"1" = "transfer:+15551112222"
"9" = "hangup"
"5" = "text:The caller wants billing."

[numbers."+15550002222"]
agent = "sales"
after_hours_forward = "+15553334444"
dtmf_to_agent = false
""",
        encoding="utf-8",
    )
    directory = InMemoryNumberDirectory.load(path)
    support = await directory.lookup("+15550001111")
    assert support is not None and support.agent_id == "support"
    assert support.hours is not None and support.hours.timezone == "America/New_York"
    assert support.after_hours.message == "We open at nine."
    assert support.dtmf == {
        "0": DtmfRule("transfer"),
        "1": DtmfRule("transfer", "+15551112222"),
        "9": DtmfRule("hangup"),
        "5": DtmfRule("text", "The caller wants billing."),
    }
    sales = await directory.lookup("+1 555 000 2222")
    assert sales is not None and sales.after_hours.forward_to == "+15553334444"
    assert sales.hours is None and not sales.dtmf_to_agent
    assert (await directory.lookup("+15550003333")) is None
    assert (await directory.lookup("client:alice")) is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("nope", "a table with an 'agent'"),
        ({"agent": "a", "colour": "blue"}, "unknown keys colour"),
        ({"agent": "a", "dtmf": {"0": "transfer"}}, "no number is set"),
        ({"agent": "a", "dtmf": {"0": "dance"}}, "is not transfer"),
        ({"agent": "a", "dtmf": {"0": "text:"}}, "is not transfer"),
        ({"agent": "a", "dtmf": {"0": 5}}, "must be a string"),
        ({"agent": "a", "dtmf": {"x": "hangup"}}, "non-digits"),
        ({"agent": "a", "transfer_to": "12345"}, "E.164"),
    ],
)
def test_bad_directory_entries_are_refused_with_a_reason(entry: object, message: str) -> None:
    with pytest.raises((InvalidRoute, InvalidNumber), match=message):
        parse_route("+15550001111", entry)


def test_a_route_without_a_transfer_number_cannot_transfer() -> None:
    with pytest.raises(InvalidRoute):
        NumberRoute("+15550001111", "a", dtmf={"0": DtmfRule("transfer")})
