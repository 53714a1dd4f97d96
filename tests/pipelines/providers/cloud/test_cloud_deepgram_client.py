"""The Deepgram SDK client builder: headers built once, still complete on every request."""

from __future__ import annotations

from typing import Any

from pipelines.providers.cloud.deepgram_client import deepgram_client, ws_url_for
from tests.fakes import TEST_API_KEY as API_KEY


def test_headers_are_built_once_and_handed_out_as_copies() -> None:
    client = deepgram_client(api_key=API_KEY, base_url="http://127.0.0.1:9")
    wrapper: Any = client._client_wrapper
    first = wrapper.get_headers()
    assert first["Authorization"] == f"Token {API_KEY}"
    assert first["User-Agent"].startswith("deepgram-sdk/")
    first["X-Per-Request"] = "1"  # the SDK adds per-request headers to what it gets
    assert "X-Per-Request" not in wrapper.get_headers()


def test_ws_url_follows_the_http_scheme() -> None:
    assert ws_url_for("https://api.deepgram.com") == "wss://api.deepgram.com"
    assert ws_url_for("http://127.0.0.1:8080") == "ws://127.0.0.1:8080"
    assert ws_url_for("wss://x") == "wss://x"
