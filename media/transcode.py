"""Wire audio <-> pipeline frames: decode, resample and reframe in one place.

Every transport (WebSocket SDK, Twilio, WebRTC) converts its peer's format to
PCM16 mono 20 ms frames at the pipeline rate on the way in, and back on the way
out, with resampler state kept per stream so frame edges never click.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt

from media.codecs.g711 import (
    alaw_decode,
    alaw_decode_samples,
    alaw_encode,
    alaw_encode_samples,
    ulaw_decode,
    ulaw_decode_samples,
    ulaw_encode,
    ulaw_encode_samples,
)
from media.errors import InvalidAudioError
from media.frames import PIPELINE_RATE, Reframer
from media.polyphase import PolyphaseResampler
from media.resample import StreamResampler

Encoding = Literal["pcm16", "mulaw", "alaw"]
Floats = npt.NDArray[np.float32]


class BadAudio(ValueError):
    """The peer sent bytes that cannot be audio in the declared format."""


class InboundAudio:
    """Peer audio (any chunking) in, whole 20 ms PCM16 frames at ``output_rate`` out.

    ``output_rate`` is the pipeline rate unless the session takes the peer's
    own rate (``VoiceSession.set_input_rate``): then G.711 is only decoded.
    """

    def __init__(
        self,
        encoding: Encoding = "pcm16",
        sample_rate: int = PIPELINE_RATE,
        *,
        output_rate: int = PIPELINE_RATE,
    ) -> None:
        self.encoding = encoding
        self.sample_rate = sample_rate
        self.output_rate = output_rate
        self._resampler = StreamResampler(sample_rate, output_rate)
        self._reframer = Reframer(output_rate)
        self._frame_size = self._reframer.frame_size
        self._decode_only = self._resampler.passthrough and encoding != "pcm16"
        self._odd_byte = b""

    def push(self, data: bytes) -> list[bytes]:
        if self._decode_only:
            pcm = ulaw_decode(data) if self.encoding == "mulaw" else alaw_decode(data)
            if len(pcm) == self._frame_size and not self._reframer.pending_bytes:
                return [pcm]  # a whole frame per message, as Twilio sends
            return self._reframer.push(pcm)
        if self.encoding == "mulaw":
            # Decoded straight to floats: the resampler's working format.
            pcm = self._resampler.process_samples(ulaw_decode_samples(data))
        elif self.encoding == "alaw":
            pcm = self._resampler.process_samples(alaw_decode_samples(data))
        else:
            # A chunk may split a sample in two; keep the dangling byte.
            data = self._odd_byte + data
            cut = len(data) - len(data) % 2
            pcm, self._odd_byte = data[:cut], data[cut:]
            pcm = self._resampler.process(pcm)
        return self._reframer.push(pcm)

    def reset(self) -> None:
        self._resampler.reset()
        self._reframer.reset()
        self._odd_byte = b""


class OutboundAudio:
    """Pipeline frames in, peer audio out."""

    def __init__(self, encoding: Encoding = "pcm16", sample_rate: int = PIPELINE_RATE) -> None:
        self.encoding = encoding
        self.sample_rate = sample_rate
        self._resampler = StreamResampler(PIPELINE_RATE, sample_rate)
        # G.711 through the polyphase filter: its float output is encoded
        # directly (same codes as via PCM16, without the round trip).
        self._g711_direct: tuple[PolyphaseResampler, Callable[[Floats], bytes]] | None = None
        if encoding != "pcm16" and self._resampler.engine == "polyphase":
            encode = ulaw_encode_samples if encoding == "mulaw" else alaw_encode_samples
            self._g711_direct = (PolyphaseResampler(PIPELINE_RATE, sample_rate), encode)

    def convert(self, pcm: bytes) -> bytes:
        direct = self._g711_direct
        if direct is not None:
            if len(pcm) % 2:
                raise InvalidAudioError("PCM16 audio must hold a whole number of samples")
            out_samples = direct[0].process(np.frombuffer(pcm, dtype="<i2").astype(np.float32))
            return direct[1](out_samples) if out_samples.size else b""
        out = self._resampler.process(pcm)
        if self.encoding == "mulaw":
            return ulaw_encode(out)
        if self.encoding == "alaw":
            return alaw_encode(out)
        return out

    def flush(self) -> bytes:
        """The end of the agent's audio (a reply done): the resampler's tail, encoded.

        The polyphase filter runs ``delay_samples`` behind its input, so the
        last that-many samples of what was converted are still inside it; they
        come out here, and the next ``convert`` starts a new stream.
        """
        direct = self._g711_direct
        if direct is not None:
            tail = direct[0].flush()
            return direct[1](tail) if tail.size else b""
        out = self._resampler.flush()
        if self.encoding == "mulaw":
            return ulaw_encode(out)
        if self.encoding == "alaw":
            return alaw_encode(out)
        return out

    def reset(self) -> None:
        """After a barge-in flush: drop the resampler's tail of the cut audio."""
        self._resampler.reset()
        if self._g711_direct is not None:
            self._g711_direct[0].reset()
