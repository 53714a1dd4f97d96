"""Which agent answers which phone number, and how (hours, keypad rules, transfers).

``NumberDirectory`` is the interface the webhooks use. The control plane backs
it with its database (numbers are organisation resources there, and a route
says whether the line may take calls now: ``availability``);
``InMemoryNumberDirectory`` is loaded from a TOML or JSON file and serves as
the fallback for numbers the control plane does not hold, and in tests.
``FirstMatchDirectory`` chains them.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from telephony.errors import InvalidNumber, InvalidRoute
from telephony.hours import BusinessHours

_E164 = re.compile(r"^\+[1-9][0-9]{2,14}$")
_PUNCTUATION = re.compile(r"[\s().-]")
DIGITS = frozenset("0123456789*#")

DtmfActionKind = Literal["transfer", "hangup", "text"]
# Whether a number's line may take calls: its organisation may be suspended, or
# its agent gone or never published. File routes are always in service.
Availability = Literal["in_service", "org_suspended", "agent_not_found", "not_published"]


def normalize_number(raw: str) -> str:
    """E.164 with spacing and punctuation removed; raises ``InvalidNumber``."""
    number = _PUNCTUATION.sub("", raw or "")
    if not _E164.match(number):
        raise InvalidNumber(f"{raw!r} is not an E.164 phone number (+ and 3 to 15 digits)")
    return number


@dataclass(frozen=True, slots=True)
class DtmfRule:
    kind: DtmfActionKind
    # transfer: the number (None = the route's transfer number); text: what the agent is told.
    value: str | None = None


DEFAULT_AFTER_HOURS_MESSAGE = "We are closed right now. Please call again during opening hours."


@dataclass(frozen=True, slots=True)
class AfterHours:
    message: str = DEFAULT_AFTER_HOURS_MESSAGE
    forward_to: str | None = None  # when set, the call is forwarded instead of the message


@dataclass(frozen=True, slots=True)
class NumberRoute:
    number: str
    agent_id: str
    hours: BusinessHours | None = None  # None: always open
    after_hours: AfterHours = field(default_factory=AfterHours)
    transfer_to: str | None = None  # where "a human" is
    dtmf: Mapping[str, DtmfRule] = field(default_factory=dict)
    # Digits without a rule reach the agent as a short text turn ("[keypad] 5").
    dtmf_to_agent: bool = True
    # The owning organisation (control-plane numbers); None for file routes.
    org_id: str | None = None
    availability: Availability = "in_service"

    def __post_init__(self) -> None:
        bad = set(self.dtmf) - DIGITS
        if bad:
            raise InvalidRoute(f"{self.number}: DTMF rules for non-digits {sorted(bad)}")
        for digit, rule in self.dtmf.items():
            if rule.kind == "transfer" and not (rule.value or self.transfer_to):
                raise InvalidRoute(f"{self.number}: '{digit}' transfers but no number is set")
            if rule.kind == "text" and not rule.value:
                raise InvalidRoute(f"{self.number}: '{digit}' needs the text to tell the agent")


class NumberDirectory(Protocol):
    async def lookup(self, number: str) -> NumberRoute | None:
        """The route of one of our numbers (any spelling), None when it is not ours."""
        ...


class FirstMatchDirectory:
    """Asks each directory in turn; the first that knows the number answers."""

    def __init__(self, *directories: NumberDirectory) -> None:
        self.directories = directories

    async def lookup(self, number: str) -> NumberRoute | None:
        for directory in self.directories:
            route = await directory.lookup(number)
            if route is not None:
                return route
        return None


class InMemoryNumberDirectory:
    def __init__(self, routes: Mapping[str, NumberRoute] | None = None) -> None:
        self._routes = {normalize_number(n): r for n, r in (routes or {}).items()}

    def add(self, route: NumberRoute) -> None:
        self._routes[normalize_number(route.number)] = route

    async def lookup(self, number: str) -> NumberRoute | None:
        try:
            return self._routes.get(normalize_number(number))
        except InvalidNumber:
            return None  # a SIP URI or client name: not a number we route

    @classmethod
    def load(cls, path: Path) -> InMemoryNumberDirectory:
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InvalidRoute(f"{path}: {exc}") from exc
        numbers = data.get("numbers", {})
        if not isinstance(numbers, dict):
            raise InvalidRoute(f"{path}: 'numbers' must be a table keyed by phone number")
        return cls({n: parse_route(n, entry) for n, entry in numbers.items()})


_ROUTE_KEYS = {
    "agent", "timezone", "hours", "after_hours_message", "after_hours_forward",
    "transfer_to", "dtmf", "dtmf_to_agent",
}  # fmt: skip


def parse_route(number: str, entry: Any) -> NumberRoute:
    """One directory entry (see docs/telephony.md for the format)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("agent"), str):
        raise InvalidRoute(f"{number}: an entry is a table with an 'agent'")
    unknown = set(entry) - _ROUTE_KEYS
    if unknown:
        raise InvalidRoute(f"{number}: unknown keys {', '.join(sorted(unknown))}")
    hours = None
    if "hours" in entry:
        hours = BusinessHours.parse(entry.get("timezone", "UTC"), entry["hours"])
    forward = entry.get("after_hours_forward")
    after = AfterHours(
        message=entry.get("after_hours_message", DEFAULT_AFTER_HOURS_MESSAGE),
        forward_to=normalize_number(forward) if forward else None,
    )
    transfer = entry.get("transfer_to")
    rules: dict[str, DtmfRule] = {}
    for digit, spec in dict(entry.get("dtmf", {})).items():
        rules[digit] = parse_rule(number, digit, spec)
    return NumberRoute(
        number=normalize_number(number),
        agent_id=entry["agent"],
        hours=hours,
        after_hours=after,
        transfer_to=normalize_number(transfer) if transfer else None,
        dtmf=rules,
        dtmf_to_agent=bool(entry.get("dtmf_to_agent", True)),
    )


def parse_rule(number: str, digit: str, spec: Any) -> DtmfRule:
    """``"transfer"``, ``"transfer:+1555..."``, ``"hangup"`` or ``"text:..."``."""
    if not isinstance(spec, str):
        raise InvalidRoute(f"{number}: rule for {digit!r} must be a string")
    kind, _, value = spec.partition(":")
    if kind == "transfer":
        return DtmfRule("transfer", normalize_number(value) if value else None)
    if kind == "hangup" and not value:
        return DtmfRule("hangup")
    if kind == "text" and value.strip():
        return DtmfRule("text", value.strip())
    raise InvalidRoute(f"{number}: rule {spec!r} for {digit!r} is not transfer, hangup or text:…")


def rule_text(rule: DtmfRule) -> str:
    """The inverse of ``parse_rule``: how a rule is written in a file or an API body."""
    return f"{rule.kind}:{rule.value}" if rule.value else rule.kind
