"""Bearer secrets: generation, the visible prefix, and the stored digest.

Secrets are 256-bit random strings, so a plain sha256 digest is enough to store
them (a slow password hash guards low-entropy passwords, not these) and a
lookup by digest is a single indexed query.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

SecretKind = Literal["session", "api_key", "mail", "publishable"]
# A publishable key ("pk_") sits in a web page's HTML: it only opens widget
# sessions with one agent, never any API access.
_MARKERS: dict[SecretKind, str] = {
    "session": "caps",
    "api_key": "cap",
    "mail": "capm",
    "publishable": "pk",
}
SECRET_BYTES = 32
# Characters of the random body kept in the visible prefix (48 bits: unique enough
# to tell keys apart, far too few to guess the rest).
PREFIX_BODY_CHARS = 8


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """A secret as issued: ``value`` is shown once and never stored."""

    value: str
    digest: str
    prefix: str


def issue(kind: SecretKind) -> IssuedSecret:
    body = secrets.token_urlsafe(SECRET_BYTES)
    value = f"{_MARKERS[kind]}_{body}"
    # The prefix identifies a key in listings without revealing enough to use it.
    prefix = value[: len(_MARKERS[kind]) + 1 + PREFIX_BODY_CHARS]
    return IssuedSecret(value=value, digest=digest(value), prefix=prefix)


def kind_of(value: str) -> SecretKind | None:
    marker = value.split("_", 1)[0]
    for kind, known in _MARKERS.items():
        if marker == known:
            return kind
    return None
