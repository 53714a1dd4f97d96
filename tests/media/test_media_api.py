"""Guards the media API other packages are written against: names and signatures."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

import media.vad
from media.clock import PlayoutClock
from media.codecs import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from media.jitter import JitterBuffer
from media.playout import PlayoutBuffer
from media.resample import StreamResampler
from media.vad.base import DeferredVoiceActivityDetector
from media.vad.detector import SpeechDetector, SpeechEvent, VadParams
from media.vad.silero import SileroBatch, SileroVad
from media.vad.webrtc import WebRtcVad
from media.vad.worker import SileroWorker, SileroWorkerStream


def params(fn: Callable[..., object]) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != "self"]


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (PlayoutBuffer.__init__, ["sample_rate", "frame_ms", "max_queued_seconds"]),
        (PlayoutBuffer.push, ["pcm"]),
        (PlayoutBuffer.pop_frame, []),
        (PlayoutBuffer.flush, []),
        (PlayoutClock.__init__, ["frame_ms", "slots", "close_timeout"]),
        (PlayoutClock.register, ["callback", "slot"]),
        (WebRtcVad.__init__, ["aggressiveness", "sample_rate"]),
        (SileroVad.__init__, ["sample_rate", "session"]),
        (SileroBatch.__init__, ["sample_rate", "session", "max_batch"]),
        (
            SileroWorker.__init__,
            [
                "sample_rate",
                "session",
                "max_batch",
                "max_pending_secs",
                "close_timeout",
                "thread_nice",
                "infer",
            ],
        ),
        (SileroWorker.open_stream, []),
        (SileroWorkerStream.bind, ["sink"]),
        (SileroWorkerStream.push, ["frame"]),
        (SileroWorkerStream.reset, []),
        (SileroWorkerStream.close, []),
        (SpeechDetector.__init__, ["vad", "params"]),
        (SpeechDetector.process, ["frame"]),
        (StreamResampler.__init__, ["in_rate", "out_rate", "quality"]),
        (StreamResampler.process, ["pcm"]),
        (JitterBuffer.push, ["sequence", "payload"]),
        (ulaw_encode, ["pcm"]),
        (ulaw_decode, ["data"]),
        (alaw_encode, ["pcm"]),
        (alaw_decode, ["data"]),
    ],
)
def test_signatures(fn: Callable[..., object], expected: list[str]) -> None:
    assert params(fn) == expected


def test_properties_and_fields() -> None:
    for name in ("queued_samples", "played_samples", "is_empty"):
        assert isinstance(getattr(PlayoutBuffer, name), property)
    assert isinstance(SpeechDetector.speaking, property)
    assert [f for f in VadParams.__dataclass_fields__] == [
        "threshold",
        "start_secs",
        "stop_secs",
        "min_speech_secs",
    ]
    assert VadParams() == VadParams(0.5, 0.2, 0.6, 0.1)
    assert [f for f in SpeechEvent.__dataclass_fields__] == [
        "kind",
        "timestamp",
        "speech_start",
        "speech_end",
    ]
    clock = PlayoutClock()
    assert (clock.ticks, clock.late_ticks, clock.max_lateness) == (0, 0, 0.0)
    assert inspect.iscoroutinefunction(PlayoutClock.start)
    assert inspect.iscoroutinefunction(PlayoutClock.aclose)


def test_vad_package_exports() -> None:
    assert sorted(media.vad.__all__) == [
        "SpeechDetector",
        "SpeechEvent",
        "VadParams",
        "VoiceActivityDetector",
    ]
    for detector in (WebRtcVad(), SileroVad(), SileroBatch().open_stream()):
        assert isinstance(detector, media.vad.VoiceActivityDetector)


async def test_silero_worker_streams_are_deferred_detectors() -> None:
    # The shared worker the voice runtime uses for ``vad = "silero"``.
    worker = SileroWorker()
    try:
        stream = worker.open_stream()
        assert isinstance(stream, DeferredVoiceActivityDetector)
        assert not isinstance(stream, media.vad.VoiceActivityDetector)
        assert stream.sample_rate == 16000
        stream.close()
    finally:
        await worker.aclose()
    assert inspect.iscoroutinefunction(SileroWorker.aclose)
