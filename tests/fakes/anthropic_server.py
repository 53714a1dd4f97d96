"""A fake Anthropic Messages API (``POST /v1/messages`` with ``stream: true``).

Event sequence from Anthropic's streaming docs: ``message_start``,
``content_block_start``, ``ping``, ``content_block_delta`` (``text_delta`` or
``input_json_delta``), ``content_block_stop``, ``message_delta`` (stop reason,
output token usage), ``message_stop``. Errors, before or during the stream, are
``{"type": "error", "error": {"type", "message"}}``; a mid-stream error is an
SSE ``event: error`` on an HTTP 200 stream. Auth: ``x-api-key`` (or
``Authorization: Bearer``, which anthropic-sdk 2.x sends) plus a required
``anthropic-version`` header.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.llm_script import LLMScript, count_tokens
from tests.fakes.server import ConnectionDropped, FakeServer

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed size."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error."),
    529: ("overloaded_error", "Overloaded"),
}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    kind, default = _ERRORS.get(status, ("api_error", "Internal server error."))
    return {
        "type": "error",
        "error": {"type": kind, "message": message or default},
        "request_id": f"req_{uuid.uuid4().hex[:24]}",
    }


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class AnthropicFake(FakeServer):
    name = "anthropic"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.script = LLMScript()
        # Send an ``event: error`` (overloaded) after this many deltas.
        self.error_event_after: int | None = None
        # Raw SSE text written after message_start (malformed-input tests).
        self.inject_events: list[str] = []

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/messages", self.messages)]

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        rec = await self.record(request, body)
        await self.before_first_byte(rec)
        if not self._authorized(request):
            return web.json_response(error_body(401), status=401)
        if not request.headers.get("anthropic-version"):
            return web.json_response(
                error_body(400, "anthropic-version header is required"), status=400
            )
        if self.knobs.error_status is not None:
            status = self.knobs.error_status
            return web.json_response(error_body(status), status=status)
        problem = _validate(body)
        if problem:
            return web.json_response(error_body(400, problem), status=400)

        messages = body["messages"]
        prefill = _text_of(messages[-1]) if messages[-1]["role"] == "assistant" else None
        tokens = self.script.tokens_for(prefill)
        system = body.get("system") or ""
        input_tokens = count_tokens(str(system)) + sum(count_tokens(_text_of(m)) for m in messages)

        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        message = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": body["model"],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        }
        sent = 0
        try:
            await resp.write(sse("message_start", {"type": "message_start", "message": message}))
            for raw in self.inject_events:
                await resp.write(raw.encode())
            index = 0
            if tokens:
                block = {"type": "text", "text": ""}
                await resp.write(_block_start(index, block))
                await resp.write(sse("ping", {"type": "ping"}))
                for token in tokens:
                    await self._before_delta(sent, request, resp)
                    delta = {"type": "text_delta", "text": token}
                    rec.mark_first_byte()  # before the write: the peer may read it first
                    await resp.write(_block_delta(index, delta))
                    sent += 1
                await resp.write(_block_stop(index))
                index += 1
            for tool in self.script.tool_calls:
                block = {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:22]}"}
                block |= {"name": tool.name, "input": {}}  # type: ignore[dict-item]
                await resp.write(_block_start(index, block))
                half = len(tool.arguments) // 2
                for piece in ("", tool.arguments[:half], tool.arguments[half:]):
                    await self._before_delta(sent, request, resp)
                    delta = {"type": "input_json_delta", "partial_json": piece}
                    await resp.write(_block_delta(index, delta))
                    sent += 1
                await resp.write(_block_stop(index))
                index += 1
            stop = "tool_use" if self.script.tool_calls else "end_turn"
            delta_msg = {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": sent},
            }
            await resp.write(sse("message_delta", delta_msg))
            await resp.write(sse("message_stop", {"type": "message_stop"}))
            await resp.write_eof()
        except (ConnectionDropped, ConnectionResetError, _ErrorEventSent):
            pass
        return resp

    def _authorized(self, request: web.Request) -> bool:
        # The documented header is ``x-api-key``; the installed SDK (anthropic
        # 2.x) sends the key as ``Authorization: Bearer``, which the API accepts.
        if request.headers.get("x-api-key") == self.api_key:
            return True
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _before_delta(
        self, sent: int, request: web.Request, resp: web.StreamResponse
    ) -> None:
        if self.error_event_after is not None and sent >= self.error_event_after:
            await resp.write(sse("error", error_body(529)))
            await resp.write_eof()
            raise _ErrorEventSent()
        await self.pace(sent, request)


class _ErrorEventSent(Exception):
    pass


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    data = {"type": "content_block_start", "index": index, "content_block": block}
    return sse("content_block_start", data)


def _block_delta(index: int, delta: dict[str, Any]) -> bytes:
    return sse(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    )


def _block_stop(index: int) -> bytes:
    return sse("content_block_stop", {"type": "content_block_stop", "index": index})


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return ""


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            return f"{key}: Field required"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
    if not body.get("stream"):
        return "this fake only serves stream=true"
    return None
