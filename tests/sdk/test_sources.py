from __future__ import annotations

import importlib.util
import wave
from pathlib import Path

import numpy as np
import pytest
from cap_sdk import MicrophoneSource, PcmSource, SourceError, WavSource


def write_wav(
    path: Path, samples: np.ndarray, rate: int, channels: int = 1, width: int = 2
) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


async def frames_of(source: object, rate: int) -> list[bytes]:
    return [f async for f in source.frames(rate)]  # type: ignore[attr-defined]


async def test_wav_is_resampled_into_20ms_frames(tmp_path: Path) -> None:
    tone = (8000 * np.sin(2 * np.pi * 300 * np.arange(22050) / 22050)).astype("<i2")
    source = WavSource(write_wav(tmp_path / "a.wav", tone, 22050), trailing_silence=0.5)
    assert source.duration == pytest.approx(1.5, abs=0.01)
    for rate in (16000, 48000):
        frames = await frames_of(source, rate)
        assert all(len(f) == 2 * rate // 50 for f in frames)
        assert len(frames) == pytest.approx(75, abs=1)
        assert np.abs(np.frombuffer(frames[10], dtype="<i2")).max() > 6000
        assert not np.frombuffer(frames[-1], dtype="<i2").any()


async def test_stereo_wav_is_downmixed(tmp_path: Path) -> None:
    stereo = np.empty(2 * 1600, dtype="<i2")
    stereo[0::2], stereo[1::2] = 1000, 3000
    source = WavSource(write_wav(tmp_path / "s.wav", stereo, 16000, channels=2), trailing_silence=0)
    (first, *_rest) = await frames_of(source, 16000)
    assert set(np.frombuffer(first, dtype="<i2").tolist()) == {2000}


def test_unusable_files_raise_source_error(tmp_path: Path) -> None:
    eight_bit = write_wav(tmp_path / "8.wav", np.zeros(100, dtype=np.uint8), 8000, width=1)
    with pytest.raises(SourceError, match="16-bit"):
        WavSource(eight_bit)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav at all")
    with pytest.raises(SourceError, match="not a PCM WAV"):
        WavSource(junk)
    with pytest.raises(SourceError):
        PcmSource(b"\x00", 16000)


@pytest.mark.skipif(
    importlib.util.find_spec("sounddevice") is not None, reason="sounddevice is installed"
)
async def test_microphone_without_sounddevice_says_what_to_install() -> None:
    with pytest.raises(SourceError, match="pip install sounddevice"):
        await frames_of(MicrophoneSource(), 16000)
