"""Property tests: invariants of the pure media state machines over generated inputs."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from media.frames import AudioFrame
from media.jitter import JitterBuffer
from media.playout import PlayoutBuffer
from media.vad import SpeechDetector, VadParams


class ListVad:
    def __init__(self, probabilities: list[float]) -> None:
        self.sample_rate = 16000
        self._it = iter(probabilities)

    def speech_probability(self, pcm: bytes) -> float:
        return next(self._it)

    def reset(self) -> None:
        pass


durations = st.floats(min_value=0.0, max_value=1.0).map(lambda x: round(x / 0.02) * 0.02)


@settings(max_examples=200, deadline=None)
@given(
    probs=st.lists(st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]), max_size=400),
    start=durations,
    stop=durations,
    min_speech=durations,
)
def test_detector_events_alternate_and_are_consistent(
    probs: list[float], start: float, stop: float, min_speech: float
) -> None:
    params = VadParams(threshold=0.5, start_secs=start, stop_secs=stop, min_speech_secs=min_speech)
    det = SpeechDetector(ListVad(probs), params)
    events = []
    for i in range(len(probs)):
        ev = det.process(AudioFrame(bytes(640), 16000, i * 0.02))
        if ev is not None:
            events.append((i, ev))
        assert det.speaking == (bool(events) and events[-1][1].kind == "start")
    kinds = [e.kind for _, e in events]
    assert kinds == ["start", "end"] * (len(kinds) // 2) + ["start"] * (len(kinds) % 2)
    for i, ev in events:
        assert ev.timestamp == i * 0.02
        assert probs[round(ev.speech_start / 0.02)] >= 0.5  # a run starts on a voiced frame
        if ev.kind == "start":
            assert probs[i] >= 0.5  # start fires on a voiced frame
            assert ev.speech_end is None
            voiced = sum(p >= 0.5 for p in probs[round(ev.speech_start / 0.02) : i + 1])
            assert voiced * 0.02 >= max(start, min_speech) - 1e-6
        else:
            assert probs[i] < 0.5  # end fires on an unvoiced frame
            assert ev.speech_end is not None
            last_voiced = round(ev.speech_end / 0.02) - 1
            assert probs[last_voiced] >= 0.5
            assert all(p < 0.5 for p in probs[last_voiced + 1 : i + 1])
            assert (i - last_voiced) * 0.02 >= stop - 1e-6


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    start=st.integers(0, 65535),
    count=st.integers(1, 600),
    displacement=st.integers(0, 5),
    loss=st.floats(0.0, 0.3),
    dup=st.floats(0.0, 0.2),
)
def test_jitter_output_is_ordered_and_complete(
    *, seed: int, start: int, count: int, displacement: int, loss: float, dup: float
) -> None:
    rng = random.Random(seed)
    sent = [0] + [k for k in range(1, count) if rng.random() >= loss]
    # Bounded reordering: each packet moves at most `displacement` places.
    keys = [i + rng.uniform(0, displacement) for i in range(len(sent))]
    keys[0] = -1.0  # the first packet starts the stream
    arrivals = [s for _, s in sorted(zip(keys, sent, strict=True))]
    arrivals += [rng.choice(sent) for _ in range(int(len(sent) * dup))]
    jb = JitterBuffer(loss_after=displacement + 1, capacity=64)
    played: list[int] = []
    lost = 0
    for k in arrivals:
        jb.push((start + k) % 65536, k.to_bytes(4, "big"))
        while (item := jb.pop()) is not None:
            if item.lost:
                lost += 1
            else:
                assert item.payload is not None
                played.append(int.from_bytes(item.payload, "big"))
    assert played == sorted(set(played))  # in order, no duplicates
    assert set(played) <= set(sent)
    assert jb.stats.lost == lost
    # Nothing that arrived in time is lost: every sent packet that is not
    # still queued was played.
    assert len(played) + jb.queued == len(sent)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=1500), max_size=40), st.integers(0, 30))
def test_playout_reproduces_the_pushed_stream(chunks: list[bytes], pops_between: int) -> None:
    buf = PlayoutBuffer()
    real = bytearray()

    def pop() -> bool:
        before = buf.played_samples
        frame = buf.pop_frame()
        if frame is None:
            return False
        assert len(frame) == 640
        n = (buf.played_samples - before) * 2
        assert 0 < n <= 640
        real.extend(frame[:n])
        assert frame[n:] == bytes(640 - n)  # padding is silence, and only at the end
        return True

    for chunk in chunks:
        buf.push(chunk)
        for _ in range(pops_between):
            if not pop():
                break
    while pop():
        pass
    data = b"".join(chunks)
    whole = len(data) // 2 * 2  # a dangling half-sample is never played
    assert bytes(real) == data[:whole]
    assert buf.played_samples * 2 == whole
    assert buf.is_empty
