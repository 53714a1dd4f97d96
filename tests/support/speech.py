"""Real speech for tests: espeak-ng utterances as PCM16 mono, plus small audio helpers.

espeak-ng is a hard requirement of the test suite (CI installs it), so a missing
binary is an error with an install hint, never a silent skip. Results are cached
on disk, keyed by every argument, because many tests speak the same phrases.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import soxr

ESPEAK = "espeak-ng"
# Bump when the way audio is produced changes, so stale cache entries are ignored.
_CACHE_VERSION = "1"
# espeak-ng answers in well under a second for a sentence; a hung binary must not hang CI.
ESPEAK_TIMEOUT_S = 30.0
MAX_TEXT_CHARS = 2_000


class SpeechToolMissing(RuntimeError):
    """espeak-ng is not installed."""


def _cache_dir() -> Path:
    root = Path(os.environ.get("CAP_TEST_SPEECH_CACHE", Path(tempfile.gettempdir()) / "cap-speech"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def _espeak_wav(text: str, voice: str, wpm: int) -> bytes:
    binary = shutil.which(ESPEAK)
    if binary is None:
        raise SpeechToolMissing(
            "espeak-ng is required by the test suite: apt-get install espeak-ng"
        )
    # Text goes in on stdin so that text starting with '-' is never read as an option.
    done = subprocess.run(
        [binary, "--stdout", "--stdin", "-v", voice, "-s", str(wpm)],
        input=text.encode("utf-8"),
        capture_output=True,
        timeout=ESPEAK_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"espeak-ng failed ({done.returncode}): {message}")
    return done.stdout


def _wav_to_pcm16(wav_bytes: bytes, sample_rate: int) -> bytes:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise RuntimeError("espeak-ng returned audio that is not 16-bit mono")
        source_rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    if source_rate == sample_rate:
        return samples.astype("<i2").tobytes()
    resampled = soxr.resample(samples.astype(np.float32) / 32768.0, source_rate, sample_rate)
    return bytes((np.clip(resampled, -1.0, 32767 / 32768) * 32768.0).astype("<i2").tobytes())


def speak(text: str, sample_rate: int = 16_000, *, voice: str = "en-us", wpm: int = 160) -> bytes:
    """``text`` spoken by espeak-ng, as PCM16 little-endian mono bytes at ``sample_rate``."""
    if not text.strip():
        raise ValueError("speak() needs some text")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"speak() takes at most {MAX_TEXT_CHARS} characters")
    if sample_rate <= 0 or wpm <= 0:
        raise ValueError("sample_rate and wpm must be positive")
    key = hashlib.sha256(
        "\x00".join((_CACHE_VERSION, text, str(sample_rate), voice, str(wpm))).encode()
    ).hexdigest()
    path = _cache_dir() / f"{key}.pcm"
    if path.exists():
        return path.read_bytes()
    pcm = _wav_to_pcm16(_espeak_wav(text, voice, wpm), sample_rate)
    # Write then rename: parallel test workers never read a half-written entry.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "wb") as out:
        out.write(pcm)
    os.replace(tmp, path)
    return pcm


def silence(seconds: float, sample_rate: int = 16_000) -> bytes:
    """``seconds`` of digital silence as PCM16 mono bytes."""
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    return bytes(2 * round(seconds * sample_rate))


def frames(pcm: bytes, sample_rate: int = 16_000, frame_ms: int = 20) -> list[bytes]:
    """Cut PCM16 into equal frames; a short last frame is padded with silence.

    Padding keeps every frame the exact size the pipeline expects, at the cost of
    at most one frame of added silence.
    """
    if len(pcm) % 2:
        raise ValueError("PCM16 must hold a whole number of samples")
    size = 2 * sample_rate * frame_ms // 1000
    if size <= 0:
        raise ValueError("frame size must be positive")
    out = [pcm[start : start + size] for start in range(0, len(pcm), size)]
    if out and len(out[-1]) < size:
        out[-1] = out[-1] + bytes(size - len(out[-1]))
    return out


def rms_dbfs(pcm: bytes) -> float:
    """RMS level of PCM16 audio in dB relative to full scale; ``-inf`` for pure silence."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return -math.inf
    rms = math.sqrt(float(np.mean(samples * samples)))
    if rms == 0.0:
        return -math.inf
    return 20.0 * math.log10(rms / 32768.0)
