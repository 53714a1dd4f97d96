"""Latency figures from the recent turns the voice runtime keeps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from control_plane.voice.runtime import TurnRecord

# (name on the dashboard, start mark, end mark)
SPANS: tuple[tuple[str, str, str], ...] = (
    ("voice_to_voice", "user_speech_end", "first_audio_out"),
    ("endpointing", "user_speech_end", "vad_end_confirmed"),
    ("stt_final", "vad_end_confirmed", "stt_final"),
    ("llm_first_token", "llm_request", "llm_first_token"),
    ("tts_first_audio", "llm_first_token", "tts_first_audio"),
    ("first_audio_out", "tts_first_audio", "first_audio_out"),
)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def span_ms(marks: dict[str, float], start: str, end: str) -> float | None:
    if start in marks and end in marks:
        return (marks[end] - marks[start]) * 1000.0
    return None


def summary(turns: Iterable[TurnRecord]) -> dict[str, object]:
    records = list(turns)
    spans: dict[str, dict[str, float | int]] = {}
    for name, start, end in SPANS:
        values = [v for r in records if (v := span_ms(r.metrics.marks, start, end)) is not None]
        spans[name] = {
            "count": len(values),
            "p50_ms": round(percentile(values, 0.5), 1) if values else 0.0,
            "p95_ms": round(percentile(values, 0.95), 1) if values else 0.0,
        }
    interrupted = sum(1 for r in records if "interrupted" in r.metrics.marks)
    return {"turns": len(records), "interrupted": interrupted, "spans": spans}


def timeline(record: TurnRecord) -> dict[str, object]:
    marks = record.metrics.marks
    origin = min(marks.values()) if marks else 0.0
    return {
        "session_id": record.session_id,
        "transport": record.transport,
        "agent_id": record.agent_id,
        "turn_id": record.metrics.turn_id,
        "voice_to_voice_ms": record.metrics.voice_to_voice_ms,
        "marks_ms": {
            k: round((v - origin) * 1000.0, 1)
            for k, v in sorted(marks.items(), key=lambda kv: kv[1])
        },
        "usage": record.metrics.usage,
    }
