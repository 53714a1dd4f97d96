"""Server-sent events, decoded line by line, and their JSON payloads checked.

The LLM adapters read the SDK's raw streaming response and decode events here
instead of letting the SDK build a pydantic model per chunk, which cost most
of the adapter's CPU per token (see benchmarks/providers_bench.py). Payloads
are untrusted: anything that is not a JSON object is reported as ``None`` so
the caller can count it and go on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# One event's data beyond this is not a chat chunk; refuse to buffer it.
MAX_EVENT_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class SSEvent:
    event: str
    data: str


class SSEDecoder:
    """Feed text lines (without newlines); complete events come back."""

    __slots__ = ("_data", "_event", "_size")

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._size = 0

    def feed(self, line: str) -> SSEvent | None:
        if not line:
            if not self._data and not self._event:
                return None
            event = SSEvent(self._event or "message", "\n".join(self._data))
            self._event, self._data, self._size = "", [], 0
            return event
        if line.startswith(":"):
            return None  # comment / keep-alive
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._size += len(value)
            if self._size > MAX_EVENT_BYTES:
                raise ValueError("server-sent event too large")
            self._data.append(value)
        elif field == "event":
            self._event = value
        return None


def json_object(data: str | bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""
