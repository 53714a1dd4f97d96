"""Prometheus metrics of Twilio calls (scraped at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

BAD_MESSAGES = Counter("cap_twilio_bad_messages_total", "Rejected Media Streams messages", ["code"])
STREAMS_ACTIVE = Gauge("cap_twilio_streams_active", "Live Twilio media streams")
STREAMS_CLOSED = Counter(
    "cap_twilio_streams_closed_total", "Twilio media streams ended", ["reason"]
)
WEBHOOKS = Counter(
    "cap_twilio_webhooks_total", "Twilio HTTP webhooks by outcome", ["endpoint", "outcome"]
)
DTMF = Counter("cap_twilio_dtmf_total", "Keypad digits by the action they caused", ["action"])
REST_CALLS = Counter(
    "cap_twilio_rest_requests_total", "Twilio REST operations", ["operation", "outcome"]
)
MARKS = Counter("cap_twilio_marks_total", "Playback marks by what their echo meant", ["outcome"])
