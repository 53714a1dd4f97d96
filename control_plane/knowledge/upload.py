"""Reading one uploaded document from a multipart body, within a size limit.

The declared length is checked before any of the body is read; the form parser
spools file parts to disk past a small buffer, and the file is then read back
with a bound, so an oversized or undeclared upload never sits whole in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.requests import Request

from rag.errors import InputRejected, TooLarge
from tenancy.errors import InvalidInput

#: Room for the multipart boundaries, part headers and the small form fields.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
MAX_FORM_FIELDS = 4
MAX_FIELD_BYTES = 1024
MAX_FILENAME_CHARS = 255


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    data: bytes
    category: str | None


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput("invalid Content-Length") from None


def _clean_filename(raw: str | None) -> str:
    # Browsers may send a path; only the last component names the document.
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or len(name) > MAX_FILENAME_CHARS or any(ord(c) < 32 for c in name):
        raise InvalidInput("the file part needs a plain filename (at most 255 characters)")
    return name


async def read_upload(request: Request, max_file_bytes: int) -> Upload:
    """The ``file`` part (and optional ``category`` field) of a multipart form."""
    declared = _declared_length(request)
    if declared is not None and declared > max_file_bytes + MULTIPART_OVERHEAD_BYTES:
        raise TooLarge("upload", declared, max_file_bytes)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("send the document as multipart/form-data with a 'file' part")
    try:
        form = await request.form(
            max_files=1, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_BYTES
        )
    except InputRejected:
        raise
    except Exception as exc:  # the parser's errors are the client's malformed body
        if getattr(exc, "status_code", 400) == 413:
            raise TooLarge("upload", declared or 0, max_file_bytes) from exc
        raise InvalidInput(f"malformed multipart body: {getattr(exc, 'detail', exc)}") from exc
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise InvalidInput("missing the 'file' part")
        filename = _clean_filename(part.filename)
        data = await part.read(max_file_bytes + 1)
        if len(data) > max_file_bytes:
            raise TooLarge(f"file {filename!r}", part.size or len(data), max_file_bytes)
        category = form.get("category")
        if category is not None and not isinstance(category, str):
            raise InvalidInput("'category' must be a text field")
        category = (category or "").strip() or None
        if category is not None and (len(category) > 100 or any(ord(c) < 32 for c in category)):
            raise InvalidInput("'category' must be plain text of at most 100 characters")
        return Upload(filename, data, category)
    finally:
        await form.close()
