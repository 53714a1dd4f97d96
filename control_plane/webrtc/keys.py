"""Widget keys from settings: which local agents a key in a web page may talk to.

A widget key is public (it sits in the page's HTML), so it grants only opening
voice and text sessions with named agents, never any API access. With a
control plane, an organisation's publishable API keys (``pk_``, bound to one
agent and its allowed origins; ``tenancy.publishable``) are checked first
(``control_plane.webrtc.admission``); the keys here open the locally configured
agents only, for the demo page and servers without accounts:

- explicit keys from settings (``widget_keys``: key -> agent ids);
- a derived key per agent, ``pk_<hmac(secret_key, agent)>``, so every agent has
  a working key with no storage and the demo page can embed one. Rotating
  ``secret_key`` revokes every derived key at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Collection, Mapping
from typing import Protocol

KEY_PREFIX = "pk_"
MAX_KEY_CHARS = 256
_DERIVED_BYTES = 18  # 144 bits, 24 base64url characters


class WidgetKeyChecker(Protocol):
    async def grants(self, key: str, agent_id: str, origin: str | None) -> bool:
        """True if ``key`` may open sessions with ``agent_id`` from a page at ``origin``."""
        ...


class SettingsWidgetKeys:
    def __init__(self, secret: str, explicit: Mapping[str, Collection[str]] | None = None) -> None:
        self._secret = secret.encode()
        self._explicit = {key: frozenset(agents) for key, agents in (explicit or {}).items()}

    def key_for(self, agent_id: str) -> str:
        """The derived publishable key of ``agent_id``."""
        digest = hmac.new(self._secret, b"widget-key:" + agent_id.encode(), hashlib.sha256)
        token = base64.urlsafe_b64encode(digest.digest()[:_DERIVED_BYTES]).decode()
        return KEY_PREFIX + token

    async def grants(self, key: str, agent_id: str, origin: str | None) -> bool:
        if not key or len(key) > MAX_KEY_CHARS:
            return False
        if hmac.compare_digest(key.encode(), self.key_for(agent_id).encode()):
            return True
        return agent_id in self._explicit.get(key, frozenset())
