"""The part every streaming TTS adapter shares.

Subclasses only say how to get raw bytes for a text (``_chunks``). This class
re-aligns them to whole PCM16 samples (HTTP chunk edges fall anywhere, even
mid-sample), meters characters and audio seconds, times the first audio byte,
and maps failures to the pipelines error tree.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from pipelines.providers.cloud.adapter import CloudAdapter

SAMPLE_WIDTH = 2


class SampleAligner:
    """Cuts a byte stream at whole-sample boundaries, carrying an odd byte over."""

    __slots__ = ("_carry",)

    def __init__(self) -> None:
        self._carry = b""

    def push(self, chunk: bytes) -> bytes:
        data = self._carry + chunk if self._carry else chunk
        cut = len(data) - len(data) % SAMPLE_WIDTH
        self._carry = data[cut:]
        return data[:cut]

    @property
    def pending(self) -> int:
        return len(self._carry)


class CloudTTS(CloudAdapter):
    stage = "tts"
    sample_rate: int

    def _chunks(self, text: str) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        rec = self._recorder()
        rec.characters = len(text)
        aligner = SampleAligner()
        error: BaseException | None = None
        bytes_per_second = self.sample_rate * SAMPLE_WIDTH
        chunks = self._chunks(text)
        try:
            async for chunk in chunks:
                pcm = aligner.push(chunk)
                if pcm:
                    rec.first_byte()
                    rec.audio_seconds += len(pcm) / bytes_per_second
                    yield pcm
        except Exception as exc:
            error = self._error(exc)
            raise error from None
        finally:
            # Close the HTTP response now (barge-in), not whenever GC finds it.
            await chunks.aclose()
            self._publish(rec, error)
