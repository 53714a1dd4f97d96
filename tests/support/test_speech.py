"""The shared speech helpers produce what they promise."""

from __future__ import annotations

import math

import pytest

from tests.support.speech import frames, rms_dbfs, silence, speak


def test_speak_returns_pcm16_at_the_asked_rate_and_caches() -> None:
    at_16k = speak("Testing one two three")
    at_8k = speak("Testing one two three", 8_000)
    assert len(at_16k) % 2 == 0
    assert len(at_8k) / 8_000 == pytest.approx(len(at_16k) / 16_000, rel=0.01)
    assert 0.8 < len(at_16k) / 32_000 < 4.0
    assert -35.0 < rms_dbfs(at_16k) < -10.0
    assert speak("Testing one two three") == at_16k


def test_speaking_rate_changes_duration() -> None:
    assert len(speak("A slower sentence than usual", wpm=100)) > 1.3 * len(
        speak("A slower sentence than usual", wpm=200)
    )


def test_speak_refuses_blank_text() -> None:
    with pytest.raises(ValueError):
        speak("   ")


def test_text_starting_with_a_dash_is_spoken_not_parsed() -> None:
    assert len(speak("-v is not an option here")) > 16_000


def test_silence_frames_and_levels() -> None:
    quiet = silence(0.5)
    assert len(quiet) == 16_000 and rms_dbfs(quiet) == -math.inf
    assert rms_dbfs(b"") == -math.inf
    cut = frames(quiet + bytes(10), 16_000, 20)
    assert len(cut) == 26 and {len(f) for f in cut} == {640}
    full_scale = b"\xff\x7f\x01\x80" * 100  # +32767, -32767
    assert rms_dbfs(full_scale) == pytest.approx(0.0, abs=0.01)
