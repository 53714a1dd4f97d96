"""The speech state machine, driven by a scripted fake VAD (no model, no loop)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from media.errors import InvalidAudioError
from media.frames import AudioFrame
from media.vad import SpeechDetector, SpeechEvent, VadParams, VoiceActivityDetector

D = 0.02  # frame duration
T0 = 100.0  # session clock origin


class ScriptedVad:
    """Answers the next probability from a script; counts calls and resets."""

    def __init__(self, probabilities: Sequence[float], sample_rate: int = 16000) -> None:
        self.sample_rate = sample_rate
        self._script = list(probabilities)
        self.calls = 0
        self.resets = 0
        self.frames: list[bytes] = []

    def speech_probability(self, pcm: bytes) -> float:
        self.frames.append(pcm)
        p = self._script[self.calls]
        self.calls += 1
        return p

    def reset(self) -> None:
        self.resets += 1


def frame(i: int) -> AudioFrame:
    return AudioFrame(bytes(640), 16000, T0 + i * D)


def drive(
    pattern: str, params: VadParams | None = None, probs: Sequence[float] | None = None
) -> list[tuple[int, SpeechEvent]]:
    """``pattern``: one character per frame, '#' voiced (0.9), '.' unvoiced (0.1)."""
    script = probs if probs is not None else [0.9 if c == "#" else 0.1 for c in pattern]
    det = SpeechDetector(ScriptedVad(script), params or VadParams())
    out: list[tuple[int, SpeechEvent]] = []
    for i in range(len(script)):
        event = det.process(frame(i))
        if event is not None:
            out.append((i, event))
    return out


def t(i: int) -> float:
    return T0 + i * D


def test_fake_satisfies_protocol() -> None:
    assert isinstance(ScriptedVad([]), VoiceActivityDetector)


def test_silence_emits_nothing() -> None:
    assert drive("." * 200) == []


def test_start_fires_when_voiced_audio_reaches_start_secs() -> None:
    # 0.2 s = 10 frames: the 10th voiced frame (index 14) fires start.
    events = drive("....." + "#" * 30)
    assert len(events) == 1
    i, ev = events[0]
    assert i == 14
    assert ev == SpeechEvent("start", t(14), t(5), None)
    assert ev.timestamp == pytest.approx(T0 + 0.28)


def test_nine_voiced_frames_are_not_enough() -> None:
    assert drive("#" * 9 + "." * 100) == []


def test_end_fires_after_stop_secs_of_unvoiced_frames() -> None:
    # voiced frames 0..19, then 30 unvoiced: end on the 30th (index 49).
    events = drive("#" * 20 + "." * 40)
    assert [(i, e.kind) for i, e in events] == [(9, "start"), (49, "end")]
    end = events[1][1]
    assert end.timestamp == t(49)
    assert end.speech_start == t(0)
    assert end.speech_end == pytest.approx(t(19) + D)


def test_29_unvoiced_frames_do_not_end() -> None:
    events = drive("#" * 20 + "." * 29 + "#" * 5)
    assert [e.kind for _, e in events] == ["start"]


def test_voiced_frame_restarts_the_stop_count() -> None:
    events = drive("#" * 20 + "." * 29 + "#" + "." * 30)
    assert [(i, e.kind) for i, e in events] == [(9, "start"), (79, "end")]
    assert events[1][1].speech_end == pytest.approx(t(49) + D)


def test_single_dropout_inside_candidate_is_tolerated_but_not_counted() -> None:
    # 5 voiced, 1 unvoiced, 5 voiced: 10 voiced frames reached at index 10.
    events = drive("#####.#####" + "#" * 5)
    assert events[0][0] == 10
    assert events[0][1].speech_start == t(0)


def test_two_unvoiced_frames_abandon_the_candidate() -> None:
    # 5 voiced, 2 unvoiced (abandon), then a fresh run starting at index 7.
    events = drive("#####..##########")
    assert len(events) == 1
    i, ev = events[0]
    assert i == 16
    assert ev.speech_start == t(7)


def test_alternating_dropouts_keep_the_candidate_alive() -> None:
    events = drive("#." * 12)
    assert events[0][0] == 18  # the 10th voiced frame
    assert events[0][1].speech_start == t(0)


def test_min_speech_secs_raises_the_start_requirement() -> None:
    params = VadParams(start_secs=0.06, min_speech_secs=0.1)
    assert drive("####" + "." * 50, params) == []
    events = drive("#####" + "." * 50, params)
    assert [(i, e.kind) for i, e in events] == [(4, "start"), (34, "end")]


def test_short_start_secs_when_min_speech_is_lower() -> None:
    params = VadParams(start_secs=0.06, min_speech_secs=0.0, stop_secs=0.1)
    events = drive("###" + "....." + "#", params)
    assert [(i, e.kind) for i, e in events] == [(2, "start"), (7, "end")]


def test_every_start_is_paired_with_one_end() -> None:
    import random

    rng = random.Random(7)
    pattern = "".join(rng.choice("##.") if rng.random() < 0.9 else "." * 40 for _ in range(2000))
    events = drive(pattern + "." * 40)
    kinds = [e.kind for _, e in events]
    assert kinds, "the random pattern should contain speech"
    assert kinds == ["start", "end"] * (len(kinds) // 2)
    for (_, start), (_, end) in zip(events[::2], events[1::2], strict=True):
        assert end.speech_start == start.speech_start
        assert end.speech_end is not None
        assert start.speech_start <= start.timestamp < end.speech_end <= end.timestamp


def test_threshold_is_inclusive() -> None:
    params = VadParams(threshold=0.5)
    assert drive("", params, probs=[0.5] * 10)[0][0] == 9
    assert drive("", params, probs=[0.4999] * 50) == []


def test_two_utterances() -> None:
    events = drive("#" * 15 + "." * 30 + "#" * 12 + "." * 30)
    assert [(i, e.kind) for i, e in events] == [
        (9, "start"),
        (44, "end"),
        (54, "start"),
        (86, "end"),
    ]
    assert events[2][1].speech_start == t(45)


def test_speaking_property_tracks_events() -> None:
    det = SpeechDetector(ScriptedVad([0.9] * 10 + [0.0] * 30))
    states = []
    for i in range(40):
        det.process(frame(i))
        states.append(det.speaking)
    assert states[8] is False
    assert states[9] is True
    assert states[38] is True
    assert states[39] is False


def test_reset_forgets_the_run_and_resets_the_vad() -> None:
    vad = ScriptedVad([0.9] * 30)
    det = SpeechDetector(vad)
    for i in range(10):
        det.process(frame(i))
    assert det.speaking
    det.reset()
    assert not det.speaking
    assert vad.resets == 1
    events = [det.process(frame(i)) for i in range(10, 20)]
    assert events[:9] == [None] * 9
    assert events[9] == SpeechEvent("start", t(19), t(10))


def test_last_probability_is_exposed() -> None:
    det = SpeechDetector(ScriptedVad([0.3, 0.8]))
    det.process(frame(0))
    assert det.last_probability == 0.3
    det.process(frame(1))
    assert det.last_probability == 0.8


def test_pcm_is_passed_through_to_the_vad() -> None:
    vad = ScriptedVad([0.0])
    det = SpeechDetector(vad)
    pcm = bytes(range(256)) * 2 + bytes(128)
    det.process(AudioFrame(pcm, 16000, 0.0))
    assert vad.frames == [pcm]


def test_timing_uses_frame_durations_not_counts() -> None:
    # 10 ms frames: start needs 20 voiced frames.
    vad = ScriptedVad([0.9] * 25)
    det = SpeechDetector(vad)
    fired = [
        i for i in range(25) if det.process(AudioFrame(bytes(320), 16000, i * 0.01)) is not None
    ]
    assert fired == [19]


def test_rate_mismatch_is_rejected() -> None:
    det = SpeechDetector(ScriptedVad([0.9], sample_rate=16000))
    with pytest.raises(InvalidAudioError):
        det.process(AudioFrame(bytes(320), 8000, 0.0))


@pytest.mark.parametrize(
    "kwargs",
    [{"threshold": 1.5}, {"threshold": -0.1}, {"start_secs": -1}, {"stop_secs": -1}],
)
def test_bad_params_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        VadParams(**kwargs)


def test_events_are_frozen() -> None:
    ev = SpeechEvent("start", 1.0, 1.0)
    with pytest.raises(AttributeError):
        ev.timestamp = 2.0  # type: ignore[misc]
