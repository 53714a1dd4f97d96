"""A session fed at a phone line's 8 kHz: webrtcvad scores the line's own samples,
and only what STT consumes (pre-roll and speech) reaches it, at 16 kHz, without a
sample lost or a click where resampling starts."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from media.frames import PIPELINE_RATE, AudioFrame
from media.resample import StreamResampler
from media.vad.webrtc import WebRtcVad
from pipelines.events import UserSpeechEnded, UserSpeechStarted
from pipelines.providers.fake import FakeSTT, FakeSTTStream, tone
from tests.pipelines.harness import DeferredEnergyVad, EnergyVad, Harness
from tests.support.speech import silence, speak
from tests.virtual_time import run_virtual

LINE_RATE = 8000
LINE_FRAME = 160  # samples per 20 ms


class RecordingStream(FakeSTTStream):
    def __init__(self, provider: FakeSTT, frames: list[AudioFrame]) -> None:
        super().__init__(provider)
        self.frames = frames

    def push_frame(self, frame: AudioFrame) -> None:
        self.frames.append(frame)
        super().push_frame(frame)


class RecordingSTT(FakeSTT):
    """A fake STT that keeps every frame it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[AudioFrame] = []

    async def open_stream(self, *, language: str = "en") -> FakeSTTStream:
        return RecordingStream(self, self.frames)


def line_audio(*parts: bytes) -> bytes:
    audio = b"".join(parts)
    return audio[: len(audio) - len(audio) % (2 * LINE_FRAME)]


async def feed_line(h: Harness, audio: bytes) -> None:
    """Push 8 kHz audio as 20 ms frames, one per 20 ms of (virtual) clock."""
    loop = asyncio.get_running_loop()
    step = 2 * LINE_FRAME
    for start in range(0, len(audio), step):
        h.s.push_audio(AudioFrame(audio[start : start + step], LINE_RATE, loop.time()))
        await asyncio.sleep(0.02)


def utterances(stt: RecordingSTT) -> list[tuple[float, np.ndarray]]:
    """STT's audio split where its frames stop being contiguous in time, with start times."""
    runs: list[list[AudioFrame]] = []
    for frame in stt.frames:
        if runs and abs(frame.timestamp - (runs[-1][-1].timestamp + 0.02)) < 1e-6:
            runs[-1].append(frame)
        else:
            runs.append([frame])
    return [
        (run[0].timestamp, np.frombuffer(b"".join(f.pcm for f in run), dtype=np.int16))
        for run in runs
    ]


def worst_difference(reference: np.ndarray, start: float, piece: np.ndarray) -> int:
    """``piece`` against the one-piece resampling, aligned at its time (within the
    resampler's few-millisecond delay): the largest difference in PCM16 steps."""
    nominal = round(start * PIPELINE_RATE)
    return min(
        int(np.abs(reference[at : at + piece.size] - piece.astype(np.int32)).max())
        for at in range(max(0, nominal - 160), nominal + 1)
        if at + piece.size <= reference.size
    )


def test_speech_at_8k_reaches_stt_at_16k_with_its_preroll_and_no_gap() -> None:
    speech = speak("Book a table for two, please.", LINE_RATE)
    # Long silences: the pre-roll overflows, so resampling restarts before each utterance.
    audio = line_audio(silence(1.5, LINE_RATE), speech, silence(1.5, LINE_RATE), speech,
                       silence(1.5, LINE_RATE))  # fmt: skip
    stt = RecordingSTT()

    async def main() -> None:
        async with Harness(stt=stt, vad=WebRtcVad()) as h:
            h.s.set_input_rate(LINE_RATE)
            await feed_line(h, audio)
            starts = [e for e in h.events if isinstance(e, UserSpeechStarted)]
            ends = [e for e in h.events if isinstance(e, UserSpeechEnded)]
            assert len(starts) == 2 and len(ends) == 2
            assert h.s.bad_frames == 0

    run_virtual(main())
    assert stt.frames and all(
        f.sample_rate == PIPELINE_RATE and len(f.pcm) == 640 for f in stt.frames
    )
    reference = np.frombuffer(
        StreamResampler(LINE_RATE, PIPELINE_RATE).process(audio), dtype=np.int16
    ).astype(np.int32)
    runs = utterances(stt)
    assert len(runs) == 2
    # The pre-roll came too: STT's audio starts in the silence before the words.
    onsets = (1.5, 1.5 + len(speech) / 2 / LINE_RATE + 1.5)
    first_sound = np.flatnonzero(np.abs(np.frombuffer(speech, dtype=np.int16)) > 500)[0]
    for (start, _), onset in zip(runs, onsets, strict=True):
        assert start <= onset + first_sound / LINE_RATE - 0.05
    for start, run in runs:
        assert run.size > 16000  # the whole utterance, not a fragment
        # Sample for sample the line resampled in one piece: nothing lost, no click.
        assert worst_difference(reference, start, run) <= 1


def test_speech_right_at_the_call_start_resamples_from_the_first_frame() -> None:
    # Fewer frames than the pre-roll holds before the words: nothing aged out, so
    # resampling runs on from the call's first frame (no restart).
    speech = speak("Book a table for two, please.", LINE_RATE)
    audio = line_audio(silence(0.1, LINE_RATE), speech, silence(1.0, LINE_RATE))
    stt = RecordingSTT()

    async def main() -> None:
        async with Harness(stt=stt, vad=WebRtcVad()) as h:
            h.s.set_input_rate(LINE_RATE)
            await feed_line(h, audio)

    run_virtual(main())
    reference = np.frombuffer(
        StreamResampler(LINE_RATE, PIPELINE_RATE).process(audio), dtype=np.int16
    ).astype(np.int32)
    ((start, run),) = utterances(stt)
    assert start == pytest.approx(0.0, abs=1e-6)
    assert int(np.abs(reference[: run.size] - run.astype(np.int32)).max()) <= 1


@pytest.mark.parametrize("vad", [EnergyVad, DeferredEnergyVad])
def test_a_vad_bound_to_the_pipeline_rate_gets_every_frame_resampled(vad: type) -> None:
    stt = RecordingSTT()

    async def main() -> None:
        async with Harness(stt=stt, vad=vad()) as h:
            h.s.set_input_rate(LINE_RATE)
            voiced = tone(LINE_FRAME * 50, LINE_RATE, hz=440.0)
            await feed_line(h, line_audio(voiced, silence(1.0, LINE_RATE)))
            assert [e.type for e in h.events if isinstance(e, UserSpeechStarted)]
            assert h.s.bad_frames == 0

    run_virtual(main())
    assert stt.frames and all(f.sample_rate == PIPELINE_RATE for f in stt.frames)


def test_frames_at_another_rate_are_refused_and_the_rate_is_set_once() -> None:
    async def main() -> None:
        async with Harness(vad=WebRtcVad()) as h:
            h.s.set_input_rate(LINE_RATE)
            h.s.set_input_rate(LINE_RATE)  # the same again is fine
            h.s.push_audio(AudioFrame(bytes(640), PIPELINE_RATE, 0.0))
            assert h.s.bad_frames == 1
            with pytest.raises(ValueError):
                h.s.set_input_rate(PIPELINE_RATE)

    run_virtual(main())
