"""Who may open a media stream: a signed upgrade, or a valid stream token. Pure.

Twilio signs the WebSocket upgrade request with ``X-Twilio-Signature`` over
the stream URL. That check can fail for reasons that are not an attack (a TLS
terminator or path-rewriting proxy changes the URL we reconstruct, some
proxies drop the header), so a stream is also admitted when its ``start``
message carries the token the signed voice webhook minted for this very call
(``customParameters.token``): it is bound to the call SID, agent and number
and expires within a minute. Either proof suffices; neither is a 1008 close
before any session is opened.
"""

from __future__ import annotations

from dataclasses import dataclass

from telephony.errors import StreamClosed
from telephony.messages import Start
from telephony.tokens import StreamTokens

CLOSE_POLICY = 1008


@dataclass(frozen=True, slots=True)
class StreamIdentity:
    stream_sid: str
    call_sid: str
    agent_id: str
    number: str  # our side of the call: the number that was called, or that called out


class StreamAdmission:
    def __init__(
        self, tokens: StreamTokens, *, upgrade_signed: bool, account_sid: str | None = None
    ) -> None:
        self.tokens = tokens
        self.upgrade_signed = upgrade_signed
        self.account_sid = account_sid

    def admit(self, start: Start) -> StreamIdentity:
        info = start.start
        params = info.customParameters
        if self.account_sid and info.accountSid != self.account_sid:
            raise StreamClosed(CLOSE_POLICY, "stream belongs to another account")
        agent_id = params.get("agent")
        if not agent_id:
            raise StreamClosed(CLOSE_POLICY, "start has no agent parameter")
        number = params.get("number", "")
        token = params.get("token", "")
        token_ok = bool(token) and self.tokens.verify(token, info.callSid, agent_id, number)
        if not (self.upgrade_signed or token_ok):
            raise StreamClosed(CLOSE_POLICY, "neither a valid signature nor a valid stream token")
        return StreamIdentity(start.streamSid, info.callSid, agent_id, number)
