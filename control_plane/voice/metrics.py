"""Prometheus metrics of voice sessions (scraped at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SESSIONS_ACTIVE = Gauge("cap_voice_sessions_active", "Live voice sessions", ["transport"])
SESSIONS_TOTAL = Counter("cap_voice_sessions_total", "Voice sessions opened", ["transport"])
BAD_MESSAGES = Counter(
    "cap_voice_bad_messages_total", "Rejected client messages", ["transport", "code"]
)
TURNS = Counter("cap_voice_turns_total", "Completed or interrupted turns", ["outcome"])
VOICE_TO_VOICE = Histogram(
    "cap_voice_to_voice_seconds",
    "First agent audio out minus end of user speech",
    buckets=(0.3, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0),
)
STAGE_LATENCY = Histogram(
    "cap_voice_stage_seconds",
    "Latency of each pipeline stage within a turn",
    ["stage"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0),
)
