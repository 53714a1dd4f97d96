"""The Twilio integration of one process: webhooks' decisions, call control, the call log.

Held by the app as ``app.state.telephony``. Its collaborators are interfaces
(``NumberDirectory``, ``CallLog``, ``CallControl``) with in-memory and Twilio
implementations chosen from settings; tests inject fakes.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args
from urllib.parse import quote

from telephony import metrics, twiml
from telephony.calls import (
    CallDirection,
    CallLog,
    CallRecord,
    CallStatus,
    CallUpdate,
    InMemoryCallLog,
)
from telephony.errors import CallControlError, NotConfigured
from telephony.host import SessionHost
from telephony.media_stream import TwilioMediaStream
from telephony.numbers import (
    FirstMatchDirectory,
    InMemoryNumberDirectory,
    NumberDirectory,
    NumberRoute,
    normalize_number,
)
from telephony.rest import CallControl, TwilioCallControl
from telephony.settings import TwilioSettings
from telephony.signature import SignatureChecker
from telephony.tokens import StreamTokens

log = logging.getLogger(__name__)

PREFIX = "/telephony/twilio"
VOICE_PATH = f"{PREFIX}/voice"
MEDIA_PATH = f"{PREFIX}/media"
STATUS_PATH = f"{PREFIX}/status"
_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
NOT_IN_SERVICE = "Sorry, this number is not in service."
NOT_AVAILABLE = "Sorry, nobody can take your call on this number right now. Goodbye."
TASK_CLOSE_TIMEOUT = 2.0

AnswerKind = Literal[
    "stream", "after_hours", "unknown_number", "agent_not_found", "not_published", "org_suspended"
]


class BadWebhook(ValueError):
    """A signed webhook whose parameters still make no sense (400)."""


@dataclass(frozen=True, slots=True)
class Answer:
    kind: AnswerKind
    twiml: str
    agent_id: str | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


def _param(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value else None


def _sid(form: Mapping[str, Any]) -> str:
    call_sid = _param(form, "CallSid")
    if call_sid is None or not _SID.match(call_sid):
        raise BadWebhook("CallSid is missing or malformed")
    return call_sid


def _our_side(form: Mapping[str, Any]) -> tuple[CallDirection, str, str]:
    """(direction, our number, the other party) of a webhook's call."""
    direction = _param(form, "Direction") or "inbound"
    to, from_ = _param(form, "To") or "", _param(form, "From") or ""
    if direction.startswith("outbound"):
        return "outbound", from_, to
    return "inbound", to, from_


class TwilioTelephony:
    def __init__(
        self,
        settings: TwilioSettings,
        *,
        public_url: str | None,
        secret_key: str,
        directory: NumberDirectory | None = None,
        calls: CallLog | None = None,
        control: CallControl | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.public_url = public_url.rstrip("/") if public_url else None
        token = settings.auth_token
        self.checker = SignatureChecker(token) if token else None
        self.tokens = StreamTokens.derive(
            secret_key, token or "", ttl_secs=settings.stream_token_ttl_secs
        )
        # The numbers file is the fallback for numbers the given directory (the
        # control plane's) does not hold.
        path = settings.numbers_file
        files = InMemoryNumberDirectory.load(path) if path else None
        if directory is None:
            directory = files or InMemoryNumberDirectory()
        elif files is not None:
            directory = FirstMatchDirectory(directory, files)
        self.directory: NumberDirectory = directory
        self.calls = calls or InMemoryCallLog()
        if control is None and settings.account_sid and token:
            control = TwilioCallControl(
                settings.account_sid,
                token,
                api_base_url=settings.api_base_url,
                timeout=settings.rest_timeout_secs,
            )
        self.control = control
        self._now = now
        self._tasks: set[asyncio.Task[None]] = set()
        # Live media streams by call SID (their sockets register and unregister them).
        self.streams: dict[str, TwilioMediaStream] = {}

    # ------------------------------------------------------------ signatures

    def verify(self, url: str, params: Mapping[str, Any] | None, signature: str | None) -> bool:
        return self.checker is not None and self.checker.check(url, params, signature)

    # ------------------------------------------------------------ voice webhook

    async def answer(
        self,
        form: Mapping[str, Any],
        *,
        stream_url: str,
        agent_override: str | None = None,
        host: SessionHost | None = None,
    ) -> Answer:
        """What a call does once it reaches us: stream to an agent, or not."""
        call_sid = _sid(form)
        direction, ours, other = _our_side(form)
        route = await self.directory.lookup(ours)
        agent_id = agent_override or (route.agent_id if route else self.settings.default_agent)
        now = self._now()
        status = _param(form, "CallStatus")
        await self.calls.record(
            CallUpdate(
                call_sid=call_sid,
                status=status if status in get_args(CallStatus) else "ringing",  # type: ignore[arg-type]
                at=now,
                direction=direction,
                from_number=_param(form, "From"),
                to_number=_param(form, "To"),
                agent_id=agent_id,
                org_id=route.org_id if route else None,
            )
        )
        refusal = await _refusal(route, agent_id, agent_override, host)
        if refusal is not None:
            metrics.WEBHOOKS.labels("voice", refusal.kind).inc()
            log.info("call %s to %s refused: %s", call_sid, ours, refusal.kind)
            return refusal
        assert agent_id is not None
        if direction == "inbound" and route and route.hours and not route.hours.is_open(now):
            metrics.WEBHOOKS.labels("voice", "after_hours").inc()
            after = route.after_hours
            if after.forward_to:
                return Answer("after_hours", twiml.dial(after.forward_to), agent_id)
            return Answer("after_hours", twiml.say_and_hang_up(after.message), agent_id)
        metrics.WEBHOOKS.labels("voice", "stream").inc()
        parameters = {
            "agent": agent_id,
            "number": ours,
            "caller": other,
            "token": self.tokens.mint(call_sid, agent_id, ours),
        }
        return Answer("stream", twiml.connect_stream(stream_url, parameters), agent_id)

    def stream_url(self, request_base: str) -> str:
        """Where Twilio must open the media stream (wss:// behind a public https URL)."""
        base = self.public_url or request_base.rstrip("/")
        if base.startswith("https://"):
            base = "wss://" + base.removeprefix("https://")
        elif base.startswith("http://"):
            base = "ws://" + base.removeprefix("http://")
        return base + MEDIA_PATH

    # ------------------------------------------------------------ status callbacks

    async def record_status(self, form: Mapping[str, Any]) -> CallRecord:
        call_sid = _sid(form)
        status = _param(form, "CallStatus")
        if status not in get_args(CallStatus):
            raise BadWebhook(f"unknown CallStatus {str(status)[:32]!r}")
        duration_text = _param(form, "CallDuration")
        duration = int(duration_text) if duration_text and duration_text.isdigit() else None
        direction, _, _ = _our_side(form)
        metrics.WEBHOOKS.labels("status", status).inc()
        return await self.calls.record(
            CallUpdate(
                call_sid=call_sid,
                status=status,  # type: ignore[arg-type]
                at=self._now(),
                direction=direction,
                from_number=_param(form, "From"),
                to_number=_param(form, "To"),
                duration_secs=duration,
            )
        )

    # ------------------------------------------------------------ call control

    def _control(self) -> CallControl:
        if self.control is None:
            raise NotConfigured("set CAP_TWILIO_ACCOUNT_SID and CAP_TWILIO_AUTH_TOKEN")
        return self.control

    async def place_call(
        self, to: str, agent_id: str, from_: str | None = None, *, org_id: str | None = None
    ) -> str:
        """Call ``to`` from one of our numbers; ``agent_id`` talks once it is answered.

        ``org_id`` owns the call (its log and its usage); an organisation's call
        always names its own number as ``from_`` (never the server's caller ID)."""
        control = self._control()
        if not self.public_url:
            raise NotConfigured("set CAP_PUBLIC_URL: Twilio must reach this server's webhooks")
        caller = from_ or (None if org_id else self.settings.caller_id)
        if not caller:
            raise NotConfigured("name a caller ID (from) or set CAP_TWILIO_CALLER_ID")
        callee, caller = normalize_number(to), normalize_number(caller)
        call_sid = await control.create_call(
            to=callee,
            from_=caller,
            url=f"{self.public_url}{VOICE_PATH}?agent={quote(agent_id, safe='')}",
            status_callback=f"{self.public_url}{STATUS_PATH}",
        )
        await self.calls.record(
            CallUpdate(
                call_sid=call_sid,
                status="queued",
                at=self._now(),
                direction="outbound",
                from_number=caller,
                to_number=callee,
                agent_id=agent_id,
                org_id=org_id,
            )
        )
        log.info("outbound call %s to %s with agent %s", call_sid, callee, agent_id)
        return call_sid

    async def transfer_now(self, call_sid: str, number: str) -> None:
        target = normalize_number(number)
        await self._control().update_twiml(call_sid, twiml.dial(target))
        log.info("call %s transferred to %s", call_sid, target)

    async def hang_up_now(self, call_sid: str) -> None:
        await self._control().hang_up(call_sid)
        log.info("call %s hung up by the agent side", call_sid)

    # CallActions: from inside a media stream, without blocking its inbound path.

    def transfer(self, call_sid: str, number: str) -> None:
        self._spawn(self.transfer_now(call_sid, number), "transfer", call_sid)

    def hang_up(self, call_sid: str) -> None:
        self._spawn(self.hang_up_now(call_sid), "hang-up", call_sid)

    def _spawn(self, work: Coroutine[Any, Any, None], what: str, call_sid: str) -> None:
        async def guarded() -> None:
            try:
                await work
            except (CallControlError, NotConfigured, ValueError) as exc:
                log.error("%s of call %s failed: %s", what, call_sid, exc)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for background call operations (tests; shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=TASK_CLOSE_TIMEOUT)

    async def aclose(self) -> None:
        await self.drain()
        for task in list(self._tasks):
            task.cancel()
        if self.control is not None:
            await self.control.aclose()


async def _refusal(
    route: NumberRoute | None,
    agent_id: str | None,
    agent_override: str | None,
    host: SessionHost | None,
) -> Answer | None:
    """Why a call may not reach an agent, as the answer Twilio gets; None if it may.

    A suspended organisation's calls are rejected unanswered (``<Reject>``: no
    minutes are billed); a number without a usable agent says so and hangs up."""
    if route is not None and route.availability == "org_suspended":
        return Answer("org_suspended", twiml.reject())
    # An outbound call's agent is its own (checked below), not the number's.
    if route is not None and route.availability != "in_service" and agent_override is None:
        return Answer(route.availability, twiml.say_and_hang_up(NOT_AVAILABLE))
    if agent_id is None:
        return Answer("unknown_number", twiml.say_and_hang_up(NOT_IN_SERVICE))
    # A control-plane route was checked by the directory already; a file route, a
    # default agent or an outbound call's agent is checked with the session host.
    if (route is None or route.org_id is None or agent_override) and not await _agent_exists(
        host, agent_id
    ):
        return Answer("agent_not_found", twiml.say_and_hang_up(NOT_IN_SERVICE))
    return None


async def _agent_exists(host: SessionHost | None, agent_id: str) -> bool:
    if host is None:
        return True
    try:
        await host.resolve(agent_id, None)
    except (LookupError, PermissionError):
        return False
    return True
