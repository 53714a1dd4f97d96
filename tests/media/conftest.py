"""Shared fixtures for media tests."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def speech_pcm() -> bytes:
    """About 2 s of espeak-ng speech ("Book a table for two, please."), PCM16 16 kHz mono."""
    with wave.open(str(DATA / "speech_16k.wav"), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        return w.readframes(w.getnframes())
