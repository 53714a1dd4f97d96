"""Short-lived stream tokens: bind a Media Streams socket to the call it was issued for.

The voice webhook (signature-checked) mints a token over the call SID, the
agent and the number, and hands it to Twilio inside the TwiML as a stream
``<Parameter>``. Twilio repeats it in the ``start`` message's
``customParameters``. A socket whose upgrade signature cannot be checked (a
proxy rewrote the URL, stripped the header) is still admitted if its token is
valid: only this process can mint one, it expires within a minute, and it is
worthless for any other call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

VERSION = "v1"
MAX_TOKEN_CHARS = 128


class StreamTokens:
    def __init__(
        self, secret: bytes, *, ttl_secs: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 16:
            raise ValueError("stream token secret must be at least 16 bytes")
        self._secret = secret
        self.ttl_secs = ttl_secs
        self._clock = clock

    @classmethod
    def derive(cls, *secrets: str, ttl_secs: float = 60.0) -> StreamTokens:
        """A key derived from the app secret and the auth token (rotating either revokes)."""
        key = hashlib.sha256(b"cap-twilio-stream\x00" + "\x00".join(secrets).encode()).digest()
        return cls(key, ttl_secs=ttl_secs)

    def _mac(self, expires: int, call_sid: str, agent_id: str, number: str) -> str:
        message = "\x1f".join((VERSION, str(expires), call_sid, agent_id, number)).encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def mint(self, call_sid: str, agent_id: str, number: str) -> str:
        expires = int(self._clock() + self.ttl_secs)
        return f"{VERSION}.{expires}.{self._mac(expires, call_sid, agent_id, number)}"

    def verify(self, token: str, call_sid: str, agent_id: str, number: str) -> bool:
        if len(token) > MAX_TOKEN_CHARS:
            return False
        version, _, rest = token.partition(".")
        expires_text, _, mac = rest.partition(".")
        if version != VERSION or not expires_text.isdigit() or not mac:
            return False
        expires = int(expires_text)
        expected = self._mac(expires, call_sid, agent_id, number)
        if not hmac.compare_digest(expected.encode(), mac.encode()):
            return False
        return self._clock() <= expires
