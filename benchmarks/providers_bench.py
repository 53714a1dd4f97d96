"""Cloud adapters against their wire fakes: time to first byte, adapter overhead,
time to switch to a fallback, and voice-to-voice through whole stacks.

The fakes run in their own process (``tests.fakes.serve``), pinned to one
core while this process is pinned to another (when there are two), and
answer after a fixed ``--latency``. For each call we record:

* ``ttfb``: call start to the first useful output (token, audio bytes, final
  transcript after ``flush()``), wall clock;
* ``overhead``: ``ttfb`` minus the fixed server latency: loopback, the fake's
  own (pinned, out-of-process) work, HTTP/WebSocket stack, SDK and adapter.
  The 3 ms target is checked on its p95. ``raw`` rows measure the same for a
  bare httpx/websockets client, so ``adapter - raw`` is the adapter's and
  SDK's own share;
* ``client``: the client's share of it, from the fake's own timestamps
  (``perf_counter`` is system-wide on Linux): (request received - call start)
  + (first output - first byte written). Loopback + HTTP/WebSocket stack + SDK
  + adapter, without the fake's own processing time;
* ``cpu``: this process's CPU time for the whole call (SDK + adapter + loop),
  which, unlike wall time, does not grow when the machine is busy.

Input-streaming TTS rows (``-ws``) and first token -> first audio at LLM pace
are described in ``providers_ws``.

Fallback rows: from the failure (the chain's failover report) to the next
provider's first output, minus that provider's server latency. Voice to voice:
``flush()`` -> final transcript -> first LLM clause -> first TTS audio, minus
the server latencies on the way.

    python benchmarks/providers_bench.py [--runs 50] [--latency 0.05]

Prints a table and writes ``benchmarks/results/providers.json``. Numbers are
recorded, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fakes

from benchmarks.providers_ws import (  # noqa: E402
    raw_deepgram_speak,
    raw_elevenlabs,
    token_to_audio_http,
    token_to_audio_ws,
    ws_preopened_call,
)
from media.frames import AudioFrame, Reframer  # noqa: E402
from pipelines.errors import ProviderError  # noqa: E402
from pipelines.fallback import Failover, FallbackLLM, FallbackSTT, FallbackTTS  # noqa: E402
from pipelines.providers.base import ChatMessage, LLMProvider, TextDelta, TTSProvider  # noqa: E402
from pipelines.providers.cloud import (  # noqa: E402
    AnthropicLLM,
    DeepgramStreamingTTS,
    DeepgramSTT,
    DeepgramTTS,
    ElevenLabsStreamingTTS,
    ElevenLabsTTS,
    OpenAILLM,
    OpenAISTT,
    OpenAITTS,
)
from pipelines.providers.cloud.openai_stt import pcm_to_wav  # noqa: E402
from tests.fakes import TEST_API_KEY as KEY  # noqa: E402
from tests.fakes.audio import speech  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "providers.json"
EL_WS = "/v1/text-to-speech/voice-1/stream-input"
HISTORY = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hi there!")]
SENTENCE = "Hello there, how can I help you today?"
WARMUP = 5
NAN = float("nan")
TARGET_MS = 3.0
MINUS_RAW_KEYS = ("overhead_p50_ms", "overhead_p95_ms", "cpu_ttfb_p50_ms", "cpu_ttfb_p95_ms")

Sample = tuple[float, float, float, float]  # ttfb, client share, cpu to first output, cpu (s)
Call = Callable[[], Awaitable[tuple[float, float, float]]]  # t0, first output, cpu at first
Runner = Callable[[], Awaitable[Sample]]


@dataclass
class Remote:
    """A fake in the server process, steered over its control endpoints."""

    port: int
    control: httpx.AsyncClient

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def knobs(self, **knobs: Any) -> None:
        (await self.control.post(f"{self.http_url}/_fake/knobs", json=knobs)).raise_for_status()

    async def last(self, path: str) -> dict[str, Any]:
        response = await self.control.get(f"{self.http_url}/_fake/last", params={"path": path})
        data: dict[str, Any] = response.json()
        return data

    async def client_share(self, path: str, t0: float, first: float) -> float:
        rec = await self.last(path)
        return float((rec["received_at"] - t0) + (first - rec["first_byte_at"]))

    async def text_share(self, path: str, t0: float, first: float) -> float:
        """Pre-opened socket: (first text in - t0) + (first audio read - first audio sent)."""
        rec = await self.last(path)
        received = next(t for what, t in rec["marks"] if what in ("in:text", "in:Speak"))
        return float((received - t0) + (first - rec["first_byte_at"]))

    async def finalize_share(self, t0: float, first: float) -> float:
        marks = (await self.last("/v1/listen"))["marks"]
        received = next(t for what, t in reversed(marks) if what == "in:Finalize")
        sent = next(t for what, t in reversed(marks) if what == "out:from_finalize")
        return float((received - t0) + (first - sent))


async def _zero() -> float:
    return 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(x: float) -> float:
    return round(x * 1000, 2)


async def measure(run: Runner, runs: int) -> list[Sample]:
    for _ in range(WARMUP):
        await run()
    gc.collect()
    return [await run() for _ in range(runs)]


def summary(samples: list[Sample], latency: float) -> dict[str, float]:
    """Percentiles; ``overhead`` is TTFB minus the fake's fixed server latency."""
    out: dict[str, float] = {}
    for i, label in enumerate(("ttfb", "client", "cpu_ttfb", "cpu")):
        values = [s[i] for s in samples]
        out[f"{label}_p50_ms"] = ms(pct(values, 0.5))
        out[f"{label}_p95_ms"] = ms(pct(values, 0.95))
        if label == "ttfb":
            out["overhead_p50_ms"] = ms(pct(values, 0.5) - latency)
            out["overhead_p95_ms"] = ms(pct(values, 0.95) - latency)
    return out


def served_after(name: str, latency: float) -> float:
    """The fake's fixed latency inside a row's TTFB.

    Deepgram STT is timed on a socket opened earlier: its latency was paid at
    connect, and the Finalize -> final result path has none.
    """
    return 0.0 if name == "deepgram-stt" else latency


def pin_cores(server_pid: int) -> dict[str, Any]:
    """Fakes on one core, this process on another, so neither steals the other's CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return {"pinned": False, "cpus": cpus}
    os.sched_setaffinity(server_pid, {cpus[-1]})
    os.sched_setaffinity(0, {cpus[0]})
    return {"pinned": True, "client_cpu": cpus[0], "server_cpu": cpus[-1]}


def timed(call: Call, share: Callable[..., Any]) -> Runner:
    """Wraps ``call`` with the client share of its TTFB and this process's CPU time."""

    async def run() -> Sample:
        cpu0 = time.process_time()
        t0, first, cpu_first = await call()
        cpu = time.process_time() - cpu0
        return first - t0, await share(t0, first), cpu_first - cpu0, cpu

    return run


# ---------------------------------------------------------------- one call per stage


def llm_call(llm: LLMProvider) -> Call:
    async def call() -> tuple[float, float, float]:
        t0, first, cpu = time.perf_counter(), 0.0, 0.0
        async for event in llm.stream(HISTORY):  # consumed whole: the connection is reused
            if not first and isinstance(event, TextDelta):
                first, cpu = time.perf_counter(), time.process_time()
        return t0, first, cpu

    return call


def tts_call(tts: TTSProvider) -> Call:
    async def call() -> tuple[float, float, float]:
        t0, first, cpu = time.perf_counter(), 0.0, 0.0
        async for _ in tts.synthesize(SENTENCE):
            if not first:
                first, cpu = time.perf_counter(), time.process_time()
        return t0, first, cpu

    return call


def frames(seconds: float) -> list[AudioFrame]:
    return [AudioFrame(pcm) for pcm in Reframer().push(speech(seconds))]


def stt_call(stt: OpenAISTT | DeepgramSTT, keep_open: bool) -> Callable[[], Awaitable[Any]]:
    """One utterance: 0.4 s of speech, then flush; t0 is the flush (VAD end of speech)."""
    state: dict[str, Any] = {}

    async def call() -> tuple[float, float, float]:
        if "stream" not in state:
            state["stream"] = await stt.open_stream()
        stream = state["stream"]
        for f in frames(0.4):
            stream.push_frame(f)
        await asyncio.sleep(0.03)  # interim results flow, as in a real utterance
        t0 = time.perf_counter()
        stream.flush()
        async for t in stream:
            if t.is_final:
                break
        first, cpu = time.perf_counter(), time.process_time()
        if not keep_open:
            await state.pop("stream").aclose()
        return t0, first, cpu

    async def close() -> None:
        if "stream" in state:
            await state.pop("stream").aclose()

    call.close = close  # type: ignore[attr-defined]
    return call


# ---------------------------------------------------------------- bare clients (the floor)


def raw_http(http: httpx.AsyncClient, url: str, marker: bytes | None, **request: Any) -> Any:
    async def call() -> tuple[float, float, float]:
        t0, first, cpu = time.perf_counter(), 0.0, 0.0
        async with http.stream("POST", url, **request) as response:
            async for chunk in response.aiter_raw():
                if not first and (marker is None or marker in chunk):
                    first, cpu = time.perf_counter(), time.process_time()
        return t0, first, cpu

    return call


def raw_deepgram(fake: Remote, stack: AsyncExitStack) -> Any:
    url = f"{fake.ws_url}/v1/listen?encoding=linear16&sample_rate=16000&interim_results=true"
    headers = {"Authorization": f"Token {KEY}"}
    sockets: list[Any] = []

    async def call() -> tuple[float, float, float]:
        if not sockets:  # connect on first use: an idle socket would hit the idle timeout
            connect = websockets.connect(url, additional_headers=headers)
            sockets.append(await stack.enter_async_context(connect))
        ws = sockets[0]
        await ws.send(speech(0.4))
        await asyncio.sleep(0.03)
        t0 = time.perf_counter()
        await ws.send('{"type": "Finalize"}')
        while not json.loads(await ws.recv()).get("from_finalize"):
            pass
        return t0, time.perf_counter(), time.process_time()

    return call


# ---------------------------------------------------------------- fallback switch time


class SwitchClock:
    """Failure time, from the chain's own failover report."""

    def __init__(self) -> None:
        self.failed_at = 0.0

    def __call__(self, failover: Failover) -> None:
        self.failed_at = time.perf_counter()


FAULTS: dict[str, dict[str, Any]] = {
    "connect": {"error_status": 503},
    "mid_stream": {"disconnect_after": 2},
    "timeout": {"hang": True},
}
DEADLINE = 0.5  # first-byte / final deadline of the chains


def switch_llm(a: LLMProvider, b: LLMProvider) -> Runner:
    clock = SwitchClock()
    chain = FallbackLLM([a, b], first_token_timeout=DEADLINE, on_failover=clock)

    async def run() -> Sample:
        clock.failed_at, first = 0.0, 0.0
        try:
            async for event in chain.stream(HISTORY):
                if isinstance(event, TextDelta) and clock.failed_at and not first:
                    first = time.perf_counter()
        except ProviderError:
            return NAN, 0.0, 0.0, 0.0  # the fallback failed too: counted, not timed
        return first - clock.failed_at, 0.0, 0.0, 0.0

    return run


def switch_tts(a: TTSProvider, b: TTSProvider) -> Runner:
    clock = SwitchClock()
    chain = FallbackTTS([a, b], first_byte_timeout=DEADLINE, on_failover=clock)

    async def run() -> Sample:
        clock.failed_at, first = 0.0, 0.0
        try:
            async for _ in chain.synthesize(SENTENCE):
                if clock.failed_at and not first:
                    first = time.perf_counter()
        except ProviderError:
            return NAN, 0.0, 0.0, 0.0
        return first - clock.failed_at, 0.0, 0.0, 0.0

    return run


def switch_stt(a: DeepgramSTT, b: OpenAISTT) -> Runner:
    clock = SwitchClock()
    chain = FallbackSTT([a, b], connect_timeout=1.0, final_timeout=DEADLINE, on_failover=clock)

    async def run() -> Sample:
        clock.failed_at = 0.0
        stream = await chain.open_stream()
        for f in frames(0.4):
            stream.push_frame(f)
        await asyncio.sleep(0.03)
        flushed = time.perf_counter()
        stream.flush()
        done = NAN
        try:
            async for t in stream:
                if t.is_final:
                    done = time.perf_counter()
                    break
        except ProviderError:
            pass  # the fallback failed too: counted, not timed
        finally:
            await stream.aclose()
        return done - max(clock.failed_at, flushed), 0.0, 0.0, 0.0

    return run


# ---------------------------------------------------------------- voice to voice


def v2v(stt: DeepgramSTT | OpenAISTT, llm: LLMProvider, tts: TTSProvider) -> Runner:
    """VAD end of speech (flush) -> final -> first LLM clause -> first TTS audio."""
    listen = stt_call(stt, keep_open=True)

    async def run() -> Sample:
        t0, _, _ = await listen()
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def think() -> None:
            text = ""
            async for event in llm.stream(HISTORY):
                if isinstance(event, TextDelta):
                    text += event.text
                    if not done.done() and any(c in text for c in ".,!?"):
                        done.set_result(text)
            if not done.done():
                done.set_result(text)

        thinking = asyncio.create_task(think())
        first = 0.0
        async for _ in tts.synthesize(await done):
            first = first or time.perf_counter()
        await thinking
        return first - t0, 0.0, 0.0, 0.0

    run.close = listen.close  # type: ignore[attr-defined]
    return run


# ---------------------------------------------------------------- main


async def bench(runs: int, latency: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "adapters": {},
        "raw": {},
        "token_to_first_audio": {},
        "fallback_switch": {},
        "voice_to_voice": {},
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.serve", "--latency", str(latency),
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    ports = json.loads(await server.stdout.readline())
    out["pinning"] = pin_cores(server.pid)
    async with AsyncExitStack() as stack:
        control = await stack.enter_async_context(httpx.AsyncClient())
        oa, ob, an, dg, el = (
            Remote(ports[n], control)
            for n in ("openai", "openai_b", "anthropic", "deepgram", "elevenlabs")
        )
        llm_o = OpenAILLM(api_key=KEY, base_url=f"{oa.http_url}/v1")
        llm_a = AnthropicLLM(api_key=KEY, base_url=an.http_url)
        stt_o = OpenAISTT(api_key=KEY, base_url=f"{ob.http_url}/v1")
        stt_d = DeepgramSTT(api_key=KEY, base_url=dg.http_url)
        tts_e = ElevenLabsTTS(api_key=KEY, voice_id="voice-1", base_url=el.http_url)
        tts_d = DeepgramTTS(api_key=KEY, base_url=dg.http_url, sample_rate=16_000)
        tts_o = OpenAITTS(api_key=KEY, base_url=f"{ob.http_url}/v1")
        tts_ew = ElevenLabsStreamingTTS(api_key=KEY, voice_id="voice-1", base_url=el.http_url)
        tts_dw = DeepgramStreamingTTS(api_key=KEY, base_url=dg.http_url, sample_rate=16_000)
        for adapter in (llm_o, llm_a, stt_o, stt_d, tts_e, tts_d, tts_o, tts_ew, tts_dw):
            stack.push_async_callback(adapter.aclose)

        def share(fake: Remote, path: str) -> Callable[..., Any]:
            return lambda t0, first: fake.client_share(path, t0, first)

        dg_listen = stt_call(stt_d, keep_open=True)
        stack.push_async_callback(dg_listen.close)  # type: ignore[attr-defined]
        cases: dict[str, Runner] = {
            "openai-llm": timed(llm_call(llm_o), share(oa, "/v1/chat/completions")),
            "anthropic-llm": timed(llm_call(llm_a), share(an, "/v1/messages")),
            "openai-stt": timed(
                stt_call(stt_o, keep_open=False), share(ob, "/v1/audio/transcriptions")
            ),
            "deepgram-stt": timed(dg_listen, dg.finalize_share),
            "elevenlabs-tts": timed(
                tts_call(tts_e), share(el, "/v1/text-to-speech/voice-1/stream")
            ),
            "deepgram-tts": timed(tts_call(tts_d), share(dg, "/v1/speak")),
            "openai-tts": timed(tts_call(tts_o), share(ob, "/v1/audio/speech")),
            "elevenlabs-ws": timed(tts_call(tts_ew), share(el, EL_WS)),
            "deepgram-ws": timed(tts_call(tts_dw), share(dg, "/v1/speak")),
            "elevenlabs-ws/pre-opened": timed(
                ws_preopened_call(tts_ew, SENTENCE),
                lambda t0, first: el.text_share(EL_WS, t0, first),
            ),
            "deepgram-ws/pre-opened": timed(
                ws_preopened_call(tts_dw, SENTENCE),
                lambda t0, first: dg.text_share("/v1/speak", t0, first),
            ),
        }
        for name, run in cases.items():
            out["adapters"][name] = summary(await measure(run, runs), served_after(name, latency))
            print(f"  measured {name}", file=sys.stderr)

        http = await stack.enter_async_context(httpx.AsyncClient())
        chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        wav = pcm_to_wav(speech(0.4), 16_000)
        raw: dict[str, Runner] = {
            "openai-llm": timed(raw_http(
                http, f"{oa.http_url}/v1/chat/completions", b'"content": "H', json=chat,
                headers={"Authorization": f"Bearer {KEY}"},
            ), share(oa, "/v1/chat/completions")),
            "anthropic-llm": timed(raw_http(
                http, f"{an.http_url}/v1/messages", b'"text_delta"',
                json={**chat, "max_tokens": 64},
                headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
            ), share(an, "/v1/messages")),
            "openai-stt": timed(raw_http(
                http, f"{ob.http_url}/v1/audio/transcriptions", None, data={"model": "m"},
                files={"file": ("a.wav", wav, "audio/wav")},
                headers={"Authorization": f"Bearer {KEY}"},
            ), share(ob, "/v1/audio/transcriptions")),
            "deepgram-stt": timed(raw_deepgram(dg, stack), dg.finalize_share),
            "elevenlabs-tts": timed(raw_http(
                http, f"{el.http_url}/v1/text-to-speech/voice-1/stream?output_format=pcm_16000",
                None, json={"text": SENTENCE}, headers={"xi-api-key": KEY},
            ), share(el, "/v1/text-to-speech/voice-1/stream")),
            "deepgram-tts": timed(raw_http(
                http, f"{dg.http_url}/v1/speak?encoding=linear16&sample_rate=16000&container=none",
                None, json={"text": SENTENCE}, headers={"Authorization": f"Token {KEY}"},
            ), share(dg, "/v1/speak")),
            "openai-tts": timed(raw_http(
                http, f"{ob.http_url}/v1/audio/speech", None,
                json={"model": "m", "input": SENTENCE, "voice": "alloy", "response_format": "pcm"},
                headers={"Authorization": f"Bearer {KEY}"},
            ), share(ob, "/v1/audio/speech")),
            "elevenlabs-ws": timed(raw_elevenlabs(el.ws_url, KEY, SENTENCE), share(el, EL_WS)),
            "deepgram-ws": timed(raw_deepgram_speak(dg.ws_url, KEY, SENTENCE),
                                 share(dg, "/v1/speak")),
        }  # fmt: skip
        for name, run in raw.items():
            out["raw"][name] = summary(await measure(run, runs), served_after(name, latency))
            print(f"  measured raw {name}", file=sys.stderr)

        # Text streamed at LLM pace: sentence-by-sentence HTTP vs one socket per reply.
        streamed = {
            "elevenlabs (http, per sentence)": token_to_audio_http(tts_e),
            "elevenlabs-ws": token_to_audio_ws(tts_ew),
            "deepgram-tts (http, per sentence)": token_to_audio_http(tts_d),
            "deepgram-ws": token_to_audio_ws(tts_dw),
        }
        for name, call in streamed.items():
            waits = [s[0] for s in await measure(timed(call, lambda t0, first: _zero()), runs)]
            out["token_to_first_audio"][name] = {
                "p50_ms": ms(pct(waits, 0.5)),
                "p95_ms": ms(pct(waits, 0.95)),
                "minus_server_latency_p50_ms": ms(pct(waits, 0.5) - latency),
            }
            print(f"  measured token->audio {name}", file=sys.stderr)

        switches: dict[str, tuple[Remote, Runner]] = {
            "llm": (oa, switch_llm(llm_o, llm_a)),
            "tts": (el, switch_tts(tts_e, tts_d)),
            "stt": (dg, switch_stt(stt_d, stt_o)),
        }
        for mode, mode_fault in FAULTS.items():
            for stage, (fake, run) in switches.items():
                fault = mode_fault
                if stage == "stt" and mode == "timeout":
                    fault = {"token_interval": 5.0}  # connected, but the final comes too late
                await fake.knobs(latency=latency, **fault)
                samples = [s[0] - latency for s in await measure(run, runs)]
                switch = [x for x in samples if not math.isnan(x)]
                out["fallback_switch"][f"{stage}/{mode}"] = {
                    "p50_ms": ms(pct(switch, 0.5)) if switch else None,
                    "p95_ms": ms(pct(switch, 0.95)) if switch else None,
                    "failed_runs": len(samples) - len(switch),
                }
                await fake.knobs(latency=latency)
                print(f"  measured {stage}/{mode} switch", file=sys.stderr)

        stacks = {
            "deepgram>openai>elevenlabs": (v2v(stt_d, llm_o, tts_e), 2),
            "openai-stt>anthropic>deepgram-tts": (v2v(stt_o, llm_a, tts_d), 3),
        }
        for name, (run, hops) in stacks.items():
            total = [s[0] for s in await measure(run, runs)]
            await run.close()  # type: ignore[attr-defined]
            out["voice_to_voice"][name] = {
                "server_latency_ms": ms(hops * latency),
                "v2v_p50_ms": ms(pct(total, 0.5)),
                "v2v_p95_ms": ms(pct(total, 0.95)),
                "overhead_p50_ms": ms(pct(total, 0.5) - hops * latency),
                "overhead_p95_ms": ms(pct(total, 0.95) - hops * latency),
            }
    server.stdin.close()
    await server.wait()
    return out


def report(result: dict[str, Any]) -> None:
    heads = ("ttfb50", "ttfb95", "over50", "over95", "client50", "client95", "cpu1st50", "cpu1st95")
    print(f"{'adapter (ms)':<26}" + "".join(f"{h:>9}" for h in heads))
    rows = [*result["adapters"].items(), *((f"raw {n}", s) for n, s in result["raw"].items())]
    for name, s in rows:
        cols = ("ttfb", "overhead", "client", "cpu_ttfb")
        print(
            f"{name:<26}"
            + "".join(f"{s[f'{c}_{p}_ms']:>9.2f}" for c in cols for p in ("p50", "p95"))
        )
    print("\ntext streamed at LLM pace: first token -> first audio (ms)")
    for name, s in result["token_to_first_audio"].items():
        print(
            f"  {name:<36} p50 {s['p50_ms']:>7.2f}  p95 {s['p95_ms']:>7.2f}"
            f"   minus server latency p50 {s['minus_server_latency_p50_ms']:>7.2f}"
        )
    print("\nfallback switch: failure -> next provider's first output, minus its latency (ms)")
    for name, s in result["fallback_switch"].items():
        failed = f"   ({s['failed_runs']} runs: fallback failed too)" if s["failed_runs"] else ""
        print(f"  {name:<20} p50 {s['p50_ms']:>7.2f}   p95 {s['p95_ms']:>7.2f}{failed}")
    print("\nvoice to voice: flush -> first TTS audio (ms)")
    for name, s in result["voice_to_voice"].items():
        print(
            f"  {name:<36} p50 {s['v2v_p50_ms']:>7.2f}  p95 {s['v2v_p95_ms']:>7.2f}"
            f"   minus server latency: p50 {s['overhead_p50_ms']:>6.2f}"
            f"  p95 {s['overhead_p95_ms']:>6.2f}"
        )
    print(
        "\nadapter's own share, adapter - bare client (ms):"
        " overhead p50/p95, CPU to first output p50/p95"
    )
    for name, d in result["adapter_minus_raw"].items():
        print(f"  {name:<20}" + "".join(f" {d[k]:>7.2f}" for k in MINUS_RAW_KEYS))
    target = result["target"]
    print(f"\noverhead p95 <= {TARGET_MS} ms: met by {target['met'] or 'none'}")
    env = result["environment"]
    print(f"load average at start / end: {env['loadavg_start']} / {env['loadavg']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05, help="fake server latency, s")
    args = parser.parse_args()
    logging.getLogger("pipelines.fallback").setLevel(logging.ERROR)  # failovers are the point
    load_start = [round(x, 2) for x in os.getloadavg()]
    cpus = len(os.sched_getaffinity(0))  # before pin_cores narrows it
    result = asyncio.run(bench(args.runs, args.latency))
    # SDK + adapter cost over the bare client, where there is a bare-client row.
    result["adapter_minus_raw"] = {
        name: {key: round(result["adapters"][name][key] - raw[key], 2) for key in MINUS_RAW_KEYS}
        for name, raw in result["raw"].items()
    }
    met = [n for n, s in result["adapters"].items() if s["overhead_p95_ms"] <= TARGET_MS]
    result["target"] = {
        "overhead_p95_ms_max": TARGET_MS,
        "met": met,
        "missed": [n for n in result["adapters"] if n not in met],
    }
    result["config"] = {"runs": args.runs, "warmup": WARMUP, "server_latency_s": args.latency}
    result["environment"] = {
        "python": platform.python_version(),
        "cpus": cpus,
        "loadavg_start": load_start,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "sdks": {p: version(p) for p in ("openai", "anthropic", "deepgram-sdk", "elevenlabs")},
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    report(result)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
