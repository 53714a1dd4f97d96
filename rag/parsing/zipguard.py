"""Inspect a zip's central directory before inflating anything (DOCX is a zip).

Only the directory is read, so a bomb is refused in microseconds with no inflation.
Checking declared sizes is enough: Python's zipfile stops inflating a member at its
declared size and fails the CRC check if the header lied.
"""

from __future__ import annotations

import io
import zipfile

from rag.errors import ArchiveBomb, ParseError
from rag.limits import IngestLimits


def check_zip(filename: str, data: bytes, limits: IngestLimits) -> zipfile.ZipFile:
    """Open `data` as a zip after checking entry count, total size and ratios."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ParseError(filename, f"not a valid zip container ({exc})") from exc
    entries = archive.infolist()
    if len(entries) > limits.max_zip_entries:
        raise ArchiveBomb(f"{len(entries)} entries, over the limit of {limits.max_zip_entries}")
    total = 0
    for info in entries:
        total += info.file_size
        if total > limits.max_zip_uncompressed_bytes:
            raise ArchiveBomb(
                f"declared uncompressed size passes {limits.max_zip_uncompressed_bytes} bytes"
            )
        # Tiny entries may compress oddly; only ratios on entries worth inflating matter.
        if info.file_size > 64 * 1024:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_zip_ratio:
                raise ArchiveBomb(
                    f"entry {info.filename!r} expands {ratio:.0f}:1, "
                    f"over the limit of {limits.max_zip_ratio:g}:1"
                )
    return archive
