"""Voice activity detection: per-frame speech probability and the speech start/end state machine.

``base`` holds the detector Protocol, ``webrtc`` and ``silero`` the two
implementations, ``detector`` the pure state machine that turns probabilities
into ``SpeechEvent``s.
"""

from media.vad.base import VoiceActivityDetector
from media.vad.detector import SpeechDetector, SpeechEvent, VadParams

__all__ = ["SpeechDetector", "SpeechEvent", "VadParams", "VoiceActivityDetector"]
