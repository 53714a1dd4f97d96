"""Jitter buffer: ordering, duplicates, lateness, losses, wrap-around, restarts."""

from __future__ import annotations

import random

import pytest

from media.jitter import InvalidPacketError, JitterBuffer, JitterPacket, JitterStats


def p(seq: int) -> bytes:
    return seq.to_bytes(4, "big")


def drain(jb: JitterBuffer) -> list[JitterPacket]:
    out = []
    while (item := jb.pop()) is not None:
        out.append(item)
    return out


def seqs(items: list[JitterPacket]) -> list[int | None]:
    return [i.sequence if not i.lost else None for i in items]


def test_empty_buffer_pops_none() -> None:
    jb = JitterBuffer()
    assert jb.pop() is None
    assert jb.stats == JitterStats()


def test_in_order_packets_come_out_in_order() -> None:
    jb = JitterBuffer()
    for s in range(10, 20):
        assert jb.push(s, p(s)) == "queued"
    out = drain(jb)
    assert [i.sequence for i in out] == list(range(10, 20))
    assert [i.payload for i in out] == [p(s) for s in range(10, 20)]
    assert not any(i.lost for i in out)


def test_interleaved_push_and_pop() -> None:
    jb = JitterBuffer()
    got = []
    for s in range(100):
        jb.push(s, p(s))
        item = jb.pop()
        assert item is not None
        got.append(item.sequence)
    assert got == list(range(100))
    assert jb.stats.underruns == 0
    assert jb.pop() is None
    assert jb.stats.underruns == 1


def test_reordering_within_the_window_is_repaired() -> None:
    jb = JitterBuffer()
    for s in [0, 2, 1, 4, 3, 5]:
        assert jb.push(s, p(s)) == "queued"
    assert [i.sequence for i in drain(jb)] == [0, 1, 2, 3, 4, 5]
    assert jb.stats.lost == 0


def test_pop_waits_on_a_gap_until_enough_newer_packets() -> None:
    jb = JitterBuffer(loss_after=3)
    jb.push(0, p(0))
    assert jb.pop() == JitterPacket(0, p(0))
    jb.push(3, p(3))
    assert jb.pop() is None  # 1 may still come
    jb.push(4, p(4))
    assert jb.pop() is None
    jb.push(2, p(2))  # three packets newer than the gap have arrived: give up on 1
    assert jb.pop() == JitterPacket(1, None)
    assert [i.sequence for i in drain(jb)] == [2, 3, 4]
    assert jb.stats.lost == 1


def test_a_packet_arriving_after_its_loss_was_declared_is_late() -> None:
    jb = JitterBuffer(loss_after=1)
    jb.push(0, p(0))
    jb.push(2, p(2))
    assert seqs(drain(jb)) == [0, None, 2]
    assert jb.push(1, p(1)) == "late"
    assert jb.push(0, p(0)) == "late"
    assert jb.stats.late == 2
    assert jb.pop() is None


def test_a_packet_filling_the_gap_in_time_is_played() -> None:
    jb = JitterBuffer(loss_after=3)
    for s in [0, 2, 3]:
        jb.push(s, p(s))
    assert seqs(drain(jb)) == [0]
    jb.push(1, p(1))
    assert seqs(drain(jb)) == [1, 2, 3]
    assert jb.stats.lost == 0


def test_duplicates_are_dropped() -> None:
    jb = JitterBuffer()
    assert jb.push(5, p(5)) == "queued"
    assert jb.push(5, b"other") == "duplicate"
    assert jb.push(6, p(6)) == "queued"
    assert jb.push(6, p(6)) == "duplicate"
    out = drain(jb)
    assert [i.payload for i in out] == [p(5), p(6)]
    assert jb.push(5, p(5)) == "late"  # already played: late, not duplicate
    assert jb.stats.duplicates == 2


def test_sequence_numbers_wrap_around() -> None:
    jb = JitterBuffer()
    order = [65533, 65535, 65534, 1, 0, 2]
    for s in order:
        assert jb.push(s, p(s)) == "queued"
    out = drain(jb)
    assert [i.payload for i in out] == [p(s) for s in [65533, 65534, 65535, 0, 1, 2]]
    assert [i.sequence for i in out] == [65533, 65534, 65535, 65536, 65537, 65538]


def test_long_run_over_several_wraps_with_random_reordering_and_loss() -> None:
    rng = random.Random(3)
    jb = JitterBuffer(loss_after=4, capacity=64)
    total = 140_000  # more than two wraps of the 16-bit counter
    sent = [0] + [s for s in range(1, total) if rng.random() > 0.02]  # 2% never arrive
    # Local reordering: shuffle within windows of 4, so at most 3 newer packets
    # ever arrive before an older one (loss_after=4 waits for it).
    arrivals = [0]
    for i in range(1, len(sent), 4):
        window = sent[i : i + 4]
        rng.shuffle(window)
        arrivals += window
    played: list[int | None] = []
    for s in arrivals:
        jb.push(s % 65536, p(s % 65536))
        played += seqs(drain(jb))
    assert jb.stats.late == 0
    assert jb.stats.duplicates == 0
    got = [x for x in played if x is not None]
    assert got == sorted(got)
    sent_set = set(sent)
    assert set(got) <= sent_set
    assert len(played) >= len(sent)
    # Every slot is accounted for: played or declared lost, in order, no gaps.
    assert [i for i, x in enumerate(played) if x is not None and x != i] == []
    assert jb.stats.lost == sum(1 for x in played if x is None)


def test_overflow_skips_ahead_and_counts() -> None:
    jb = JitterBuffer(capacity=4, loss_after=10)
    for s in [0, 1]:
        jb.push(s, p(s))
    # 2 is missing; 3..6 arrive: the window [0, 6] exceeds 4 slots.
    for s in [3, 4, 5, 6]:
        jb.push(s, p(s))
    stats = jb.stats
    assert stats.overflow_drops == 2  # 0 and 1 had to go unplayed
    assert stats.lost == 1  # slot 2 never arrived
    assert seqs(drain(jb)) == [3, 4, 5, 6]
    assert jb.queued == 0


def test_stray_far_packet_is_rejected_without_disturbing_the_stream() -> None:
    jb = JitterBuffer(max_jump=1000)
    jb.push(10, p(10))
    assert jb.push(30000, b"stray") == "out_of_range"
    assert jb.push(11, p(11)) == "queued"
    assert seqs(drain(jb)) == [10, 11]
    assert jb.stats.out_of_range == 1
    assert jb.stats.resets == 0


def test_two_consecutive_far_packets_restart_the_stream() -> None:
    jb = JitterBuffer(max_jump=1000)
    for s in range(5):
        jb.push(s, p(s))
    assert seqs(drain(jb)) == [0, 1, 2, 3, 4]
    assert jb.push(40000, p(40000)) == "out_of_range"
    assert jb.push(40001, p(40001)) == "reset"
    assert jb.push(40002, p(40002)) == "queued"
    out = drain(jb)
    assert [i.payload for i in out] == [p(40000), p(40001), p(40002)]
    assert jb.stats.resets == 1
    assert jb.stats.lost == 0


def test_prefill_holds_playout_until_buffered_and_after_running_dry() -> None:
    jb = JitterBuffer(prefill=3)
    jb.push(0, p(0))
    jb.push(1, p(1))
    assert jb.pop() is None
    jb.push(2, p(2))
    assert seqs(drain(jb)) == [0, 1, 2]
    assert jb.stats.underruns == 1
    jb.push(3, p(3))
    assert jb.pop() is None  # re-buffering
    jb.push(4, p(4))
    jb.push(5, p(5))
    assert seqs(drain(jb)) == [3, 4, 5]


def test_underrun_is_counted_when_the_buffer_runs_dry() -> None:
    jb = JitterBuffer()
    jb.push(0, p(0))
    assert jb.pop() is not None
    assert jb.pop() is None
    assert jb.stats.underruns == 1


@pytest.mark.parametrize("seq", [-1, 65536, 1 << 20])
def test_invalid_sequence_numbers_are_rejected(seq: int) -> None:
    jb = JitterBuffer()
    with pytest.raises(InvalidPacketError):
        jb.push(seq, b"")
    assert jb.stats.received == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"capacity": 0},
        {"loss_after": 0},
        {"prefill": 0},
        {"prefill": 100, "capacity": 10},
        {"max_jump": 10, "capacity": 64},
        {"max_jump": 40000},
    ],
)
def test_bad_limits_are_rejected(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        JitterBuffer(**kwargs)
