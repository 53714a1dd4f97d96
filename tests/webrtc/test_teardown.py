"""Every way a call ends releases everything: timeouts, ICE failure, shutdown, and
1,000 connect/close cycles that leave file descriptors and tasks where they were."""

from __future__ import annotations

import asyncio
import gc
import os
import threading

import aioice.ice
import httpx
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack
from cap_sdk import SessionEnded, WebRtcSession, connect_webrtc

from control_plane.voice.runtime import VoiceRuntime
from control_plane.webrtc.peer import PeerLimits
from tests.webrtc.stack import BASE_URL, Stack, agent, build_app, registry, running, until

CYCLES = int(os.environ.get("CAP_WEBRTC_CYCLES", "1000"))


def quick_stack(**limits: float) -> Stack:
    runtime = VoiceRuntime(registry(), {"default": agent()})
    return build_app(runtime, limits=PeerLimits(**limits))


async def vanish(session: WebRtcSession) -> None:
    """The client's network disappears: its ICE sockets close without a word."""
    ice = session.pc.getTransceivers()[0].receiver.transport.transport
    await ice._connection.close()


def counts() -> tuple[int, int, int]:
    gc.collect()
    return len(os.listdir("/proc/self/fd")), len(asyncio.all_tasks()), threading.active_count()


async def test_an_offer_never_connected_times_out() -> None:
    stack = quick_stack(connect_timeout=0.5)
    async with running(stack) as http:
        pc = RTCPeerConnection()
        pc.addTrack(AudioStreamTrack())
        await pc.setLocalDescription(await pc.createOffer())
        body = {"sdp": pc.localDescription.sdp, "agent": "default", "key": stack.key()}
        response = await http.post("/v1/webrtc/offer", json=body)
        assert response.status_code == 200
        # The client never applies the answer: no ICE, no DTLS.
        await until(lambda: not stack.gateway.peers, within=5)
        assert stack.gateway.closed_by_reason == {"connect_timeout": 1}
        assert not stack.runtime.sessions and stack.runtime.clock.callback_count == 0
        await pc.close()


async def test_a_client_whose_network_vanishes_is_hung_up_on() -> None:
    stack = quick_stack(media_timeout=1.0)
    async with running(stack) as http:
        session = await connect_webrtc(BASE_URL, key=stack.key(), http=http)
        assert stack.runtime.sessions
        await vanish(session)
        await until(lambda: not stack.gateway.peers, within=6)
        assert stack.gateway.closed_by_reason["media_timeout"] == 1
        assert not stack.runtime.sessions and stack.runtime.clock.callback_count == 0
        await session.close()


async def test_a_client_closing_its_connection_is_a_peer_hang_up() -> None:
    stack = quick_stack()
    async with running(stack) as http:
        session = await connect_webrtc(BASE_URL, key=stack.key(), http=http)
        await session.pc.close()  # no session.end first: DTLS close_notify only
        await until(lambda: not stack.gateway.peers)
        assert stack.gateway.closed_by_reason == {"peer_closed": 1}
        assert not stack.runtime.sessions
        await session.close()


async def test_ice_consent_failure_closes_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 7675 consent checks, sped up from 5 s x 6 to 0.1 s x 2.
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.1)
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 2)
    stack = quick_stack(media_timeout=60.0)
    async with running(stack) as http:
        session = await connect_webrtc(BASE_URL, key=stack.key(), http=http)
        await vanish(session)
        await until(lambda: not stack.gateway.peers, within=10)
        reasons = stack.gateway.closed_by_reason
        assert reasons == {"ice_failed": 1}
        assert not stack.runtime.sessions
        await session.close()


async def test_shutdown_hangs_up_live_calls() -> None:
    stack = quick_stack()
    async with running(stack) as http:
        session = await connect_webrtc(BASE_URL, key=stack.key(), http=http)
        await stack.gateway.aclose()
        ended = await session.next_event(SessionEnded)
        assert isinstance(ended, SessionEnded) and ended.reason == "server_shutdown"
        assert not stack.gateway.peers and not stack.runtime.sessions
        refused = await http.post(
            "/v1/webrtc/offer", json={"sdp": "v=0", "agent": "default", "key": stack.key()}
        )
        assert refused.status_code == 503
        await session.close()


@pytest.mark.slow
async def test_connect_close_cycles_leak_nothing() -> None:
    stack = quick_stack()
    async with running(stack) as http:

        async def cycle(client: httpx.AsyncClient) -> float:
            session = await connect_webrtc(
                BASE_URL, key=stack.key(), http=client, receive_audio=False
            )
            await session.close()
            await until(lambda: not stack.gateway.peers)
            assert session.connect_seconds is not None
            seconds: float = session.connect_seconds
            return seconds

        await cycle(http)  # warm-up: codec tables, executor threads, certificates
        fds, tasks, threads = counts()
        connect = [await cycle(http) for _ in range(CYCLES)]
        after = counts()
        connect.sort()
        print(
            f"\n{CYCLES} WebRTC connect/close cycles: fds {fds}->{after[0]}, "
            f"tasks {tasks}->{after[1]}, threads {threads}->{after[2]}, "
            f"connect median {connect[len(connect) // 2] * 1000:.0f} ms, "
            f"p95 {connect[int(len(connect) * 0.95)] * 1000:.0f} ms"
        )
        assert after[0] == fds
        assert after[1] == tasks
        # aiortc encodes on the loop's default executor, which may add idle
        # workers up to its fixed maximum; per-call threads (decoders) must end.
        assert after[2] <= threads + min(32, (os.cpu_count() or 1) + 4)
        assert stack.gateway.closed_by_reason["hangup"] == CYCLES + 1
        assert not stack.runtime.sessions and stack.runtime.clock.callback_count == 0
