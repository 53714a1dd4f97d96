"""The exception tree of rag/: every error the knowledge layer raises.

An HTTP layer maps these by class: `InputRejected` subclasses are the caller's
fault (4xx, not retryable); `EmbeddingError` carries its own retry decision;
anything else is a server fault.
"""

from __future__ import annotations

from typing import Any


def _rebuild(cls: type[RagError], args: tuple[Any, ...], state: dict[str, Any]) -> RagError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class RagError(Exception):
    """Base of every error raised by rag/."""

    #: Whether retrying the same call later may succeed.
    retryable: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take domain arguments, not the message, so default pickling
        # (cls(*args)) would break; errors cross the parser-process boundary.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class InputRejected(RagError):
    """The uploaded document or the request is unacceptable as given."""


class UnsupportedType(InputRejected):
    def __init__(self, filename: str, detail: str = "") -> None:
        self.filename = filename
        extra = f": {detail}" if detail else ""
        super().__init__(
            f"unsupported document type for {filename!r}{extra}; "
            "accepted: .pdf, .docx, .txt, .md, .csv, .json"
        )


class TooLarge(InputRejected):
    def __init__(self, what: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"{what} is {size} bytes, over the limit of {limit} bytes")


class QuotaExceeded(InputRejected):
    def __init__(self, org_id: str, used: int, incoming: int, limit: int) -> None:
        self.org_id = org_id
        self.used = used
        self.limit = limit
        super().__init__(
            f"organisation {org_id!r} stores {used} bytes of documents; adding {incoming} "
            f"would pass its limit of {limit} bytes"
        )


class ArchiveBomb(InputRejected):
    """A zip container (DOCX) whose declared contents exceed the safety caps."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"archive rejected as a possible zip bomb: {detail}")


class ParseError(InputRejected):
    """The document is corrupt or cannot be read as its declared type."""

    def __init__(self, filename: str, detail: str) -> None:
        self.filename = filename
        super().__init__(f"cannot parse {filename!r}: {detail}")


class ParseTimeout(ParseError):
    def __init__(self, filename: str, seconds: float) -> None:
        super().__init__(filename, f"parsing took longer than {seconds:g} s and was stopped")


class TooManyPages(ParseError):
    def __init__(self, filename: str, pages: int, limit: int) -> None:
        super().__init__(filename, f"{pages} pages, over the limit of {limit}")


class EmptyDocument(ParseError):
    def __init__(self, filename: str) -> None:
        super().__init__(filename, "no text could be extracted")


class QueueFull(RagError):
    """Too many ingestion jobs are waiting; try again later (HTTP 429/503)."""

    retryable = True

    def __init__(self, limit: int) -> None:
        super().__init__(f"ingestion queue is full ({limit} jobs waiting); retry later")


class NotFound(RagError):
    """A job, document or knowledge base does not exist in this organisation."""

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"{what} {ident!r} not found")


class DocumentDeleted(RagError):
    """The document was deleted while its ingestion job was still running."""

    def __init__(self, document_id: str) -> None:
        super().__init__(f"document {document_id!r} was deleted during ingestion")


class InvalidScope(InputRejected):
    """A search or write was attempted without a proper organisation scope."""


class EmbeddingError(RagError):
    """The embedding provider failed; `retryable` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        self.retryable = retryable
        super().__init__(message)


class StoreError(RagError):
    """The vector store failed (server down, storage locked)."""

    retryable = True


class StoreTimeout(StoreError):
    """The vector store did not answer in time (a hung embedded store process is
    killed and restarted from its data on disk)."""
