"""One place that builds ``deepgram-sdk`` clients for the Deepgram adapters.

The SDK's header builder looks its own version up with
``importlib.metadata.version`` on every request and socket, which parses the
package's METADATA file: ~2 ms of CPU each time on this machine, more than
the rest of the adapter. The headers never change for a client, so they are
built once and served from a copy after that.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx

with warnings.catch_warnings():
    # deepgram-sdk's async socket still imports websockets' deprecated legacy client.
    warnings.simplefilter("ignore", DeprecationWarning)
    from deepgram import AsyncDeepgramClient
    from deepgram.environment import DeepgramClientEnvironment


def ws_url_for(base_url: str) -> str:
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://")
    if base_url.startswith("http://"):
        return "ws://" + base_url.removeprefix("http://")
    return base_url


def deepgram_client(
    *, api_key: str, base_url: str, httpx_client: httpx.AsyncClient | None = None
) -> AsyncDeepgramClient:
    ws = ws_url_for(base_url)
    env = DeepgramClientEnvironment(base=base_url, production=ws, agent=ws, agent_rest=base_url)
    options: dict[str, Any] = {"api_key": api_key, "environment": env, "max_retries": 0}
    if httpx_client is not None:
        options["httpx_client"] = httpx_client
    client = AsyncDeepgramClient(**options)
    _cache_headers(client)
    return client


def _cache_headers(client: AsyncDeepgramClient) -> None:
    wrapper = getattr(client, "_client_wrapper", None)
    build = getattr(wrapper, "get_headers", None)
    if wrapper is None or build is None:
        return  # another SDK layout: keep its own (slower) path
    headers: dict[str, str] = dict(build())

    def cached() -> dict[str, str]:
        return dict(headers)  # a copy: the SDK adds per-request headers to it

    wrapper.get_headers = cached
