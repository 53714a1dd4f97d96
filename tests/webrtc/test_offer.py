"""The offer endpoint: who may call, what it answers, how it refuses."""

from __future__ import annotations

import httpx
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack

from tests.webrtc.stack import Stack


async def browser_like_offer(*, audio: bool = True) -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection()
    if audio:
        pc.addTrack(AudioStreamTrack())
    pc.createDataChannel("events")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def post(http: httpx.AsyncClient, sdp: str, **body: object) -> httpx.Response:
    return await http.post("/v1/webrtc/offer", json={"sdp": sdp, "type": "offer", **body})


async def test_answer_carries_opus_and_host_candidates(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    pc, sdp = await browser_like_offer()
    try:
        response = await post(http, sdp, agent="default", key=stack.key())
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["type"] == "answer" and len(body["session_id"]) == 32
        answer = body["sdp"]
        assert "opus/48000/2" in answer
        assert "PCMU" not in answer and "PCMA" not in answer
        assert "typ host" in answer and "typ srflx" not in answer
        assert "a=sctp-port" in answer or "webrtc-datachannel" in answer
        assert response.headers["access-control-allow-origin"] == "*"
        assert body["session_id"] in stack.gateway.peers
    finally:
        await pc.close()


async def test_wrong_key_is_403_and_opens_nothing(stack: Stack, http: httpx.AsyncClient) -> None:
    pc, sdp = await browser_like_offer()
    try:
        for key in ("pk_nope", stack.key("greeter")):
            response = await post(http, sdp, agent="default", key=key)
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "unauthorized"
        assert not stack.gateway.peers and not stack.runtime.sessions
    finally:
        await pc.close()


async def test_a_key_for_a_missing_agent_is_404(stack: Stack, http: httpx.AsyncClient) -> None:
    pc, sdp = await browser_like_offer()
    try:
        response = await post(http, sdp, agent="ghost", key="pk_site")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "unknown_agent"
        # An agent nobody granted is refused before anyone checks it exists.
        response = await post(http, sdp, agent="nobody", key="pk_site")
        assert response.status_code == 403
    finally:
        await pc.close()


async def test_malformed_sdp_is_400(stack: Stack, http: httpx.AsyncClient) -> None:
    for sdp in ("hello", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"):
        response = await post(http, sdp, agent="default", key=stack.key())
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "bad_offer"
    assert not stack.gateway.peers
    assert stack.gateway.closed_by_reason["bad_offer"] == 2


async def test_an_offer_without_audio_is_400(stack: Stack, http: httpx.AsyncClient) -> None:
    pc, sdp = await browser_like_offer(audio=False)
    try:
        response = await post(http, sdp, agent="default", key=stack.key())
        assert response.status_code == 400
        assert "audio" in response.json()["error"]["message"]
    finally:
        await pc.close()


async def test_invalid_bodies_are_422(stack: Stack, http: httpx.AsyncClient) -> None:
    bad: list[dict[str, object]] = [
        {"sdp": "x", "agent": "default"},  # no key
        {"sdp": "x", "key": "k", "type": "answer"},
        {"sdp": "x" * 40_000, "key": "k"},
        {"sdp": "x", "key": "k", "extra": 1},
    ]
    for body in bad:
        response = await http.post("/v1/webrtc/offer", json=body)
        assert response.status_code == 422, body


async def test_capacity_is_503(stack: Stack, http: httpx.AsyncClient) -> None:
    stack.gateway.max_peers = 1
    first, sdp1 = await browser_like_offer()
    second, sdp2 = await browser_like_offer()
    try:
        assert (await post(http, sdp1, agent="default", key=stack.key())).status_code == 200
        response = await post(http, sdp2, agent="default", key=stack.key())
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "overloaded"
    finally:
        await first.close()
        await second.close()


async def test_preflight_allows_any_origin(http: httpx.AsyncClient) -> None:
    response = await http.options(
        "/v1/webrtc/offer",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "Content-Type" in response.headers["access-control-allow-headers"]


async def test_hang_up_of_an_unknown_session_is_404(http: httpx.AsyncClient) -> None:
    response = await http.delete("/v1/webrtc/sessions/" + "0" * 32)
    assert response.status_code == 404
