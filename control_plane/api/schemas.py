"""Base models for request bodies: strict, bounded, and safe to store.

Every string reaching storage passes ``check_text``: NUL characters (which
PostgreSQL refuses), unpaired surrogates (which cannot be encoded as UTF-8)
and other control characters are rejected with a 422, never a 500.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_JSON_DEPTH = 8
MAX_JSON_ITEMS = 200
_BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(max_length=1000)]
# Ids and slugs: plain characters only, so nothing odd ever reaches a query.
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")]
Limit = Annotated[int, Field(ge=1, le=500)]


def check_text(value: str, where: str = "") -> str:
    if _BAD_TEXT.search(value):
        raise ValueError(f"{where or 'text'}: control characters or unpaired surrogates")
    return value


def check_json(value: Any, where: str = "", depth: int = 0) -> None:
    """Walks free-form JSON (settings, provider options): bounded and clean."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{where}: nested deeper than {MAX_JSON_DEPTH}")
    if isinstance(value, str):
        check_text(value, where)
    elif isinstance(value, dict):
        if len(value) > MAX_JSON_ITEMS:
            raise ValueError(f"{where}: more than {MAX_JSON_ITEMS} keys")
        for key, item in value.items():
            check_text(str(key), where)
            check_json(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        if len(value) > MAX_JSON_ITEMS:
            raise ValueError(f"{where}: more than {MAX_JSON_ITEMS} items")
        for i, item in enumerate(value):
            check_json(item, f"{where}[{i}]", depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        # Beyond what JSON consumers (and PostgreSQL integer columns) hold exactly.
        raise ValueError(f"{where}: integer out of range")


def example(**fields: Any) -> ConfigDict:
    """A model config carrying one example body (docs, and the generated test matrix)."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


class ApiModel(BaseModel):
    """Request bodies: unknown fields rejected, every string checked."""

    model_config = ConfigDict(extra="forbid", str_max_length=100_000)

    @model_validator(mode="after")
    def _clean_strings(self) -> ApiModel:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if not isinstance(value, BaseModel):
                check_json(value, name)
        return self


class Page(BaseModel):
    """Envelope of list responses."""

    model_config = ConfigDict(from_attributes=True)


class Deleted(BaseModel):
    id: str
    deleted: bool = True
