"""The hand-over from an STT adapter's I/O task to whoever iterates the stream:
transcripts in order, then either the end or the error that ended it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

from pipelines.providers.base import Transcript

_END: Final = object()


class TranscriptQueue:
    def __init__(self) -> None:
        self._items: asyncio.Queue[Transcript | BaseException | object] = asyncio.Queue()

    def put(self, transcript: Transcript) -> None:
        self._items.put_nowait(transcript)

    def fail(self, error: BaseException) -> None:
        """The stream ends with ``error`` raised to the reader."""
        self._items.put_nowait(error)

    def end(self) -> None:
        self._items.put_nowait(_END)

    async def iterate(self) -> AsyncIterator[Transcript]:
        while True:
            item = await self._items.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Transcript)
            yield item
