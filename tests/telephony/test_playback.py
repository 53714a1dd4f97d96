"""What the caller heard, from mark echoes: sent minus acknowledged, cleared on `clear`."""

from __future__ import annotations

from telephony.playback import MarkOutcome, PlaybackTracker

FRAME = 320


def send(tracker: PlaybackTracker, frames: int) -> list[str]:
    return [m for m in (tracker.on_sent(FRAME) for _ in range(frames)) if m is not None]


def test_a_mark_goes_out_after_each_batch_of_frames() -> None:
    tracker = PlaybackTracker(mark_every_frames=5)
    assert send(tracker, 12) == ["cap-0", "cap-1"]
    assert tracker.flush() == "cap-2"
    assert tracker.flush() is None  # nothing new since the last mark
    assert tracker.lag == 12 * FRAME


def test_echoed_marks_move_what_was_heard() -> None:
    tracker = PlaybackTracker(mark_every_frames=5)
    marks = send(tracker, 15)
    assert tracker.on_mark(marks[0]) is MarkOutcome.PLAYED
    assert tracker.lag == 10 * FRAME
    assert tracker.on_mark(marks[2]) is MarkOutcome.PLAYED
    assert tracker.lag == 0 and tracker.pending_marks == 0  # the skipped one went too


def test_a_clear_empties_the_pipe_and_later_echoes_are_stale() -> None:
    tracker = PlaybackTracker(mark_every_frames=2)
    marks = send(tracker, 6)
    tracker.on_mark(marks[0])
    tracker.clear()
    assert tracker.lag == 0
    assert [tracker.on_mark(m) for m in marks[1:]] == [MarkOutcome.STALE, MarkOutcome.STALE]
    assert tracker.lag == 0
    # After the clear, counting starts again from what was sent.
    new = send(tracker, 2)
    assert tracker.lag == 2 * FRAME
    tracker.on_mark(new[0])
    assert tracker.lag == 0


def test_marks_we_never_sent_are_unknown() -> None:
    tracker = PlaybackTracker()
    send(tracker, 5)
    for name in ("cap-7", "cap-", "cap-x", "other", "cap--1"):
        assert tracker.on_mark(name) is MarkOutcome.UNKNOWN
    assert tracker.lag == 5 * FRAME


def test_a_peer_that_never_echoes_cannot_grow_memory() -> None:
    tracker = PlaybackTracker(mark_every_frames=1, max_pending=10)
    send(tracker, 100)
    assert tracker.pending_marks == 10
    assert tracker.lag == 100 * FRAME  # conservative: nothing counts as heard
