"""The cheapest detector: Google's WebRTC GMM VAD via ``webrtcvad``, answers 0.0 or 1.0."""

from __future__ import annotations

import webrtcvad

from media.errors import InvalidAudioError
from media.frames import PIPELINE_RATE

SUPPORTED_RATES = (8000, 16000, 32000, 48000)
FRAME_MS_ALLOWED = (10, 20, 30)


class WebRtcVad:
    """``VoiceActivityDetector`` over ``webrtcvad.Vad``.

    ``aggressiveness`` runs from 0 (lenient: more speech) to 3 (strict).
    """

    def __init__(self, aggressiveness: int = 2, sample_rate: int = PIPELINE_RATE) -> None:
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError("aggressiveness must be 0, 1, 2 or 3")
        if sample_rate not in SUPPORTED_RATES:
            raise ValueError(f"webrtcvad supports sample rates {SUPPORTED_RATES}")
        self.sample_rate = sample_rate
        self.aggressiveness = aggressiveness
        self._valid_sizes = frozenset(sample_rate * ms // 1000 * 2 for ms in FRAME_MS_ALLOWED)
        self._vad = webrtcvad.Vad(aggressiveness)

    def speech_probability(self, pcm: bytes) -> float:
        # Checked here because webrtcvad's own error says nothing about why.
        if len(pcm) not in self._valid_sizes:
            raise InvalidAudioError(
                f"webrtcvad needs 10, 20 or 30 ms frames; "
                f"got {len(pcm)} bytes at {self.sample_rate} Hz"
            )
        return 1.0 if self._vad.is_speech(pcm, self.sample_rate) else 0.0

    def at_rate(self, sample_rate: int) -> WebRtcVad | None:
        """The same aggressiveness at another rate (``RetunableDetector``)."""
        if sample_rate not in SUPPORTED_RATES:
            return None
        return WebRtcVad(self.aggressiveness, sample_rate)

    def reset(self) -> None:
        # The C state carries a noise estimate across frames; a new Vad starts clean.
        self._vad = webrtcvad.Vad(self.aggressiveness)
