"""What every framework under test is put through: audio, provider timings, replies.

Standard library only: the pipecat side imports this from its own virtualenv.

One *cycle* of a session's audio (looped for as long as a step runs):

    silence | U1 "tell me a story" | silence while the agent answers (long reply)
            | U2 spoken over the agent (barge-in) | silence while it answers (short reply)

Each user utterance ends one turn (latency is measured on both); U2 also
measures barge-in. The fake LLM answers U1 with ``LONG_REPLY`` and U2 with
``SHORT_REPLY``: the STT fake transcribes an utterance as its label.
"""

from __future__ import annotations

import functools
import json
import math
from array import array
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

SAMPLE_RATE = 16_000
FRAME_SECS = 0.02
FRAME_BYTES = 640  # 20 ms of PCM16 mono at 16 kHz

Framework = Literal["cap", "pipecat"]
# silero: one SileroVad per session; silero-batch: SileroBatch run in the clock
# tick; silero-worker: SileroWorker (the product's "silero").
VadKind = Literal["webrtc", "silero", "silero-batch", "silero-worker"]

# ---------------------------------------------------------------- fake providers


@dataclass(frozen=True, slots=True)
class ProviderTiming:
    """The fixed latencies of the fake providers, identical on both sides."""

    stt_final_secs: float = 0.15  # VAD stop -> final transcript
    llm_first_token_secs: float = 0.2
    llm_token_interval_secs: float = 0.01
    tts_first_audio_secs: float = 0.1
    tts_secs_per_char: float = 0.06  # length of the produced speech
    # Streamed like a network TTS: 100 ms chunks at five times real time.
    tts_chunk_ms: int = 100
    tts_chunk_interval_secs: float = 0.02

    @property
    def ideal_secs(self) -> float:
        """Provider time from VAD stop to first agent audio.

        Both replies open with a one-token sentence ("Okay. "), so TTS can
        start on the first token: no token intervals are on the critical path.
        """
        return self.stt_final_secs + self.llm_first_token_secs + self.tts_first_audio_secs


TIMING = ProviderTiming()

LONG_LABEL = "long"
SHORT_LABEL = "short"
SHORT_REPLY = "Okay. Sure thing."
# Short sentences after the first: each one's audio is queued before the one
# playing runs out, so a gap in the output is the framework's doing.
LONG_REPLY = (
    "Okay. Once upon a time. A small boat sailed the sea. "
    "It went from one quiet harbour to the next. Every single day, it came back home."
)


def reply_for(user_text: str) -> str:
    return LONG_REPLY if LONG_LABEL in user_text else SHORT_REPLY


def tokens_of(reply: str) -> list[str]:
    """Word tokens with their trailing space, as a streaming LLM sends them."""
    words = reply.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


# A whole number of periods per second, so a one-second table loops seamlessly.
_TONE_HZ = 200


@functools.cache
def _tone_table() -> bytes:
    """Two seconds of a quiet tone: any chunk up to one second is one slice of it."""
    step = 2.0 * math.pi * _TONE_HZ / SAMPLE_RATE
    return array("h", (int(8000 * math.sin(step * i)) for i in range(2 * SAMPLE_RATE))).tobytes()


def tts_chunks(text: str, timing: ProviderTiming = TIMING) -> Iterator[bytes]:
    """The fake TTS audio for ``text``: slices of a precomputed tone.

    Both sides use this, so synthesising costs each of them the same (almost
    nothing: a real TTS is a network read, not work on our CPU).
    """
    total = int(len(text) * timing.tts_secs_per_char * SAMPLE_RATE)
    chunk = SAMPLE_RATE * timing.tts_chunk_ms // 1000
    table = _tone_table()
    for start in range(0, total, chunk):
        offset = (start % SAMPLE_RATE) * 2
        yield table[offset : offset + 2 * min(chunk, total - start)]


# ---------------------------------------------------------------- VAD settings


@dataclass(frozen=True, slots=True)
class VadSettings:
    threshold: float = 0.5
    start_secs: float = 0.2
    stop_secs: float = 0.6
    min_speech_secs: float = 0.1
    webrtc_aggressiveness: int = 2


VAD = VadSettings()

# ---------------------------------------------------------------- audio cycle


@dataclass(frozen=True, slots=True)
class Utterance:
    label: str
    first_frame: int  # index of the first voiced frame in the cycle
    last_frame: int  # index of the last voiced frame
    barge_in: bool  # spoken while the agent is expected to be talking


@dataclass(frozen=True, slots=True)
class Cycle:
    frames: tuple[bytes, ...]
    utterances: tuple[Utterance, ...]

    @property
    def seconds(self) -> float:
        return len(self.frames) * FRAME_SECS

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cycle.pcm").write_bytes(b"".join(self.frames))
        manifest = {"utterances": [asdict(u) for u in self.utterances]}
        (directory / "cycle.json").write_text(json.dumps(manifest, indent=1))

    @classmethod
    def load(cls, directory: Path) -> Cycle:
        pcm = (directory / "cycle.pcm").read_bytes()
        if len(pcm) % FRAME_BYTES:
            raise ValueError("cycle.pcm is not a whole number of 20 ms frames")
        frames = tuple(pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES))
        manifest = json.loads((directory / "cycle.json").read_text())
        utterances = tuple(Utterance(**u) for u in manifest["utterances"])
        return cls(frames, utterances)


# ---------------------------------------------------------------- one measured step


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One run of N concurrent sessions, in a fresh process pinned to one core."""

    framework: Framework
    vad: VadKind
    sessions: int
    duration_secs: float
    warmup_secs: float
    data_dir: str
    seed: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> StepSpec:
        return cls(**json.loads(text))
