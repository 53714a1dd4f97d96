"""A tiny OpenAI-compatible `/v1/embeddings` server on 127.0.0.1 with fault knobs."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class FakeEmbeddingsServer:
    dim: int = 8
    #: Answer the next N requests with this HTTP status instead of vectors.
    fail_status: int = 0
    fail_times: int = 0
    #: Return vectors of this size instead of `dim` (a model swapped under us).
    wrong_dim: int | None = None
    requests: list[dict[str, object]] = field(default_factory=list)
    base_url: str = ""

    def vector(self, text: str, size: int) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        return [digest[i % len(digest)] / 255.0 for i in range(size)]

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer test-key":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = await request.json()
        self.requests.append(body)
        if self.fail_times > 0:
            self.fail_times -= 1
            return web.json_response(
                {"error": {"message": "injected failure", "type": "server_error"}},
                status=self.fail_status,
            )
        inputs = body["input"]
        size = self.wrong_dim or self.dim
        # Reversed on purpose: clients must order by "index", not by position.
        data = [
            {"object": "embedding", "index": i, "embedding": self.vector(text, size)}
            for i, text in reversed(list(enumerate(inputs)))
        ]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
            }
        )


@asynccontextmanager
async def running_fake(server: FakeEmbeddingsServer) -> AsyncIterator[FakeEmbeddingsServer]:
    app = web.Application()
    app.router.add_post("/v1/embeddings", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield server
    finally:
        await runner.cleanup()
