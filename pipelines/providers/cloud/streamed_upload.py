"""A multipart file upload that starts before the file is complete.

The HTTP request goes out when the first bytes are there; the body follows in
chunks (``Transfer-Encoding: chunked``) as they are written, and ``finish()``
sends the last piece and the closing boundary. For speech-to-text this puts the
request's set-up and the audio's upload inside the time the user is still
speaking: once they stop, only the last fraction of a second of audio is left
to send.

Pieces are batched (``batch_bytes``): a speaking caller costs one socket
write per batch, not one per 20 ms frame.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

# The RIFF and data sizes of a WAV whose length is not known when its header is
# written: "read to the end of the file", as decoders (ffmpeg among them) take it.
UNKNOWN_SIZE = 0xFFFFFFFF


class _Response(Protocol):
    status_code: int
    content: bytes


class _Http(Protocol):
    async def post(
        self,
        url: str,
        *,
        content: AsyncIterator[bytes],
        headers: Mapping[str, str],
        timeout: Any,  # noqa: ASYNC109 (httpx's own per-request timeout)
    ) -> Any: ...


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class MultipartWriter:
    """The bytes of a ``multipart/form-data`` body: text fields, then one file part."""

    def __init__(
        self, fields: Mapping[str, str], file_field: str, filename: str, mime: str
    ) -> None:
        values = "".join(fields.values())
        boundary = secrets.token_hex(16)
        while boundary in values:  # pragma: no cover - 128 random bits
            boundary = secrets.token_hex(16)
        self.boundary = boundary
        self.content_type = f"multipart/form-data; boundary={boundary}"
        dash = f"--{boundary}\r\n"
        parts = [
            f'{dash}Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n{value}\r\n'
            for name, value in fields.items()
        ]
        parts.append(
            f'{dash}Content-Disposition: form-data; name="{_quote(file_field)}"; '
            f'filename="{_quote(filename)}"\r\nContent-Type: {mime}\r\n\r\n'
        )
        self.head = "".join(parts).encode()
        self.tail = f"\r\n--{boundary}--\r\n".encode()


class StreamedUpload:
    """One POST whose file part is written while the request is already on its way.

    ``write()`` adds file bytes; ``finish()`` closes the body; ``result()``
    is the response body (an HTTP error status raises ``status_error``'s
    exception). ``abort()`` drops the request. The first ``write()`` should
    carry the file's header (a streamed WAV header, say).
    """

    def __init__(
        self,
        http: _Http,
        url: str,
        headers: Mapping[str, str],
        form: MultipartWriter,
        *,
        timeout: Any,
        batch_bytes: int,
        status_error: Callable[[Any], BaseException],
    ) -> None:
        self._pieces: list[bytes] = [form.head]
        self._pending = len(form.head)
        self._tail = form.tail
        self._batch = batch_bytes
        self._wake = asyncio.Event()
        self._wake.set()  # the head goes out at once: connect and headers while audio comes
        self._finished = False
        self.written = 0  # file bytes written so far
        self.sent = 0  # body bytes handed to the HTTP client
        self._status_error = status_error
        headers = {**headers, "Content-Type": form.content_type}
        self._task = asyncio.ensure_future(self._post(http, url, headers, {"timeout": timeout}))

    @property
    def error(self) -> BaseException | None:
        """Why the request ended before its answer was read; ``None`` while it runs."""
        task = self._task
        if not task.done() or task.cancelled():
            return None
        return task.exception()

    def when_done(self, callback: Callable[[StreamedUpload], None]) -> None:
        """Call ``callback(self)`` when the request ends: answered, failed or aborted."""
        self._task.add_done_callback(lambda _: callback(self))

    def write(self, data: bytes) -> None:
        if self._finished:
            raise RuntimeError("upload already finished")
        if self._task.done():
            return  # the request is over (failed early): nothing will read this
        self._pieces.append(data)
        self._pending += len(data)
        self.written += len(data)
        if self._pending >= self._batch:
            self._wake.set()

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._pieces.append(self._tail)
        self._wake.set()

    def abort(self) -> None:
        if self._task.done():
            if not self._task.cancelled():
                self._task.exception()  # retrieved: nobody will await it now
            return
        self._task.cancel()

    async def result(self) -> bytes:
        """The response body, once the upload is finished and answered."""
        return await self._task

    async def _body(self) -> AsyncIterator[bytes]:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pieces:
                data = b"".join(self._pieces)
                self._pieces.clear()
                self._pending = 0
                self.sent += len(data)
                yield data
            if self._finished and not self._pieces:
                return

    async def _post(
        self, http: _Http, url: str, headers: dict[str, str], options: dict[str, Any]
    ) -> bytes:
        response: _Response = await http.post(url, content=self._body(), headers=headers, **options)
        if response.status_code >= 400:
            raise self._status_error(response)
        return response.content
