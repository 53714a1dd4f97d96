"""Named limits on untrusted documents, with defaults sized for a small server."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class IngestLimits:
    #: One uploaded file.
    max_file_bytes: int = 25 * MiB
    #: All documents an organisation keeps, summed over its knowledge bases.
    max_org_bytes: int = 500 * MiB
    #: DOCX is a zip: caps on its central directory, checked before any inflation.
    max_zip_entries: int = 2_000
    max_zip_uncompressed_bytes: int = 200 * MiB
    #: Deflate tops out near 1032:1; real XML parts sit well under 100:1.
    max_zip_ratio: float = 200.0
    #: Wall-clock budget for parsing one PDF or DOCX in the parser process.
    parse_timeout_s: float = 30.0
    max_pages: int = 2_000
    #: CSV rows and JSON leaves beyond this are refused rather than silently cut.
    max_rows: int = 200_000
    max_json_depth: int = 64
    #: Chunks one document may produce (bounds embedding cost per upload).
    max_chunks_per_document: int = 20_000
