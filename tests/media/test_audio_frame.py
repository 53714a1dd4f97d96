"""``AudioFrame``: its checks, defaults and frozen-dataclass behaviour (its __init__ is
written by hand for speed, so these pin what the generated one gave)."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from media.frames import PIPELINE_RATE, AudioFrame


def test_a_frame_holds_what_it_was_given_positionally_or_by_keyword() -> None:
    frame = AudioFrame(b"\x01\x00\x02\x00", 8000, 1.5)
    assert (frame.pcm, frame.sample_rate, frame.timestamp) == (b"\x01\x00\x02\x00", 8000, 1.5)
    assert frame == AudioFrame(timestamp=1.5, sample_rate=8000, pcm=b"\x01\x00\x02\x00")
    assert frame.sample_count == 2 and frame.duration == 2 / 8000
    assert frame.samples.tolist() == [1, 2]
    default = AudioFrame(b"")
    assert (default.sample_rate, default.timestamp) == (PIPELINE_RATE, 0.0)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"pcm": b"\x00"}, "whole number of samples"),
        ({"pcm": bytes(641)}, "whole number of samples"),
        ({"pcm": bytes(640), "sample_rate": 0}, "sample rate must be positive"),
        ({"pcm": bytes(640), "sample_rate": -8000}, "sample rate must be positive"),
    ],
)
def test_a_frame_refuses_odd_bytes_and_a_non_positive_rate(
    kwargs: dict[str, object], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        AudioFrame(**kwargs)  # type: ignore[arg-type]


def test_a_frame_is_frozen_hashable_and_a_dataclass() -> None:
    frame = AudioFrame(bytes(4), 8000, 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.timestamp = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del frame.pcm
    assert hash(frame) == hash(AudioFrame(bytes(4), 8000, 0.5))
    assert frame != AudioFrame(bytes(4), 8000, 0.25)
    assert [f.name for f in dataclasses.fields(frame)] == ["pcm", "sample_rate", "timestamp"]
    assert not hasattr(frame, "__dict__")  # slots
    later = dataclasses.replace(frame, timestamp=0.52)
    assert later == AudioFrame(bytes(4), 8000, 0.52)
    with pytest.raises(ValueError, match="whole number"):
        dataclasses.replace(frame, pcm=b"\x00")
    assert pickle.loads(pickle.dumps(frame)) == frame
    assert repr(frame) == "AudioFrame(pcm=b'\\x00\\x00\\x00\\x00', sample_rate=8000, timestamp=0.5)"
