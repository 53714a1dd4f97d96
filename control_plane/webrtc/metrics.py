"""Prometheus metrics of WebRTC calls (the voice metrics cover their sessions)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

OFFERS = Counter("cap_webrtc_offers_total", "WebRTC offers by outcome", ["outcome"])
CLOSED = Counter("cap_webrtc_calls_closed_total", "WebRTC calls ended, by reason", ["reason"])
CONNECT_SECONDS = Histogram(
    "cap_webrtc_connect_seconds",
    "Answer sent to ICE and DTLS connected",
    buckets=(0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0),
)
WIDGET_REJECTED = Counter(
    "cap_widget_rejected_total", "Widget keys refused a session or config, by code", ["code"]
)
