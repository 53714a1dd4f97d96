"""Runs every providers case against the fakes' process and collects the figures.

Stages, in order: each adapter's call (``adapters``), the same request from a
bare client (``raw``), text streamed at LLM pace (``token_to_first_audio``),
fallback switch time per fault (``fallback_switch``), voice to voice through
two stacks (``voice_to_voice``).
"""

from __future__ import annotations

import math
import sys
from contextlib import AsyncExitStack
from typing import Any

import httpx

from benchmarks.providers.cases import SENTENCE, STTCall, llm_call, raw_deepgram, raw_http, tts_call
from benchmarks.providers.fallback import (
    FAULTS,
    STT_TIMEOUT_FAULT,
    switch_llm,
    switch_stt,
    switch_tts,
)
from benchmarks.providers.measure import Runner, measure, ms, no_hold, pct, summary, timed
from benchmarks.providers.remote import FAKES, Remote, pin_cores, start_fakes
from benchmarks.providers.sockets import (
    raw_deepgram_speak,
    raw_elevenlabs,
    token_to_audio_http,
    token_to_audio_ws,
    ws_preopened_call,
)
from benchmarks.providers.v2v import VoiceToVoice
from pipelines.providers.cloud import (
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
from pipelines.providers.cloud.openai_stt import pcm_to_wav
from tests.fakes import TEST_API_KEY as KEY
from tests.fakes.audio import speech

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
TRANSCRIBE = "/v1/audio/transcriptions"
LISTEN = "/v1/listen"
EL_HTTP = "/v1/text-to-speech/voice-1/stream"
EL_WS = "/v1/text-to-speech/voice-1/stream-input"
SPEAK = "/v1/speak"
OA_SPEECH = "/v1/audio/speech"
DG_QUERY = "encoding=linear16&sample_rate=16000&container=none"
# Frames pushed just before the flush: OpenAI STT's streamed upload still has these
# (80 ms, under its 100 ms batch) to send when the user stops.
TAIL = 4


def log(what: str) -> None:
    print(f"  measured {what}", file=sys.stderr)


def nominal(name: str, latency: float) -> float:
    """The fake's fixed latency inside a row's TTFB.

    Deepgram STT is timed on a socket opened earlier: its latency was paid at
    connect, and the Finalize -> final result path has none.
    """
    return 0.0 if name == "deepgram-stt" else latency


async def bench(runs: int, latency: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fakes = await start_fakes(latency)
    out["pinning"] = pin_cores(fakes.process.pid)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(fakes.stop)
        control = await stack.enter_async_context(httpx.AsyncClient())
        oa, ob, an, dg, el = (Remote(fakes.ports[n], control) for n in FAKES)
        llm_o = OpenAILLM(api_key=KEY, base_url=f"{oa.http_url}/v1")
        llm_a = AnthropicLLM(api_key=KEY, base_url=an.http_url)
        stt_o = OpenAISTT(api_key=KEY, base_url=f"{ob.http_url}/v1")
        stt_ow = OpenAISTT(api_key=KEY, base_url=f"{ob.http_url}/v1", stream_upload=False)
        stt_d = DeepgramSTT(api_key=KEY, base_url=dg.http_url)
        tts_e = ElevenLabsTTS(api_key=KEY, voice_id="voice-1", base_url=el.http_url)
        tts_d = DeepgramTTS(api_key=KEY, base_url=dg.http_url, sample_rate=16_000)
        tts_o = OpenAITTS(api_key=KEY, base_url=f"{ob.http_url}/v1")
        tts_ew = ElevenLabsStreamingTTS(api_key=KEY, voice_id="voice-1", base_url=el.http_url)
        tts_dw = DeepgramStreamingTTS(api_key=KEY, base_url=dg.http_url, sample_rate=16_000)
        for adapter in (llm_o, llm_a, stt_o, stt_ow, stt_d, tts_e, tts_d, tts_o, tts_ew, tts_dw):
            stack.push_async_callback(adapter.aclose)
        fakes_all = (oa, ob, an, dg, el)

        async def run_rows(cases: dict[str, Runner], key: str, label: str) -> None:
            out[key] = {}
            for name, run in cases.items():
                out[key][name] = summary(await measure(run, runs), nominal(name, latency))
                for fake in fakes_all:
                    await fake.forget()
                log(f"{label}{name}")

        dg_listen = STTCall(stt_d, keep_open=True)
        stack.push_async_callback(dg_listen.close)
        await run_rows(
            {
                "openai-llm": timed(llm_call(llm_o), oa.hold(CHAT)),
                "anthropic-llm": timed(llm_call(llm_a), an.hold(MESSAGES)),
                "openai-stt": timed(
                    STTCall(stt_o, keep_open=False, tail_frames=TAIL), ob.hold(TRANSCRIBE)
                ),
                "openai-stt/whole": timed(
                    STTCall(stt_ow, keep_open=False, tail_frames=TAIL), ob.hold(TRANSCRIBE)
                ),
                "deepgram-stt": timed(dg_listen, dg.hold(LISTEN)),
                "elevenlabs-tts": timed(tts_call(tts_e), el.hold(EL_HTTP)),
                "deepgram-tts": timed(tts_call(tts_d), dg.hold(SPEAK)),
                "openai-tts": timed(tts_call(tts_o), ob.hold(OA_SPEECH)),
                "elevenlabs-ws": timed(tts_call(tts_ew), el.hold(EL_WS)),
                "deepgram-ws": timed(tts_call(tts_dw), dg.hold(SPEAK)),
                "elevenlabs-ws/pre-opened": timed(
                    ws_preopened_call(tts_ew, SENTENCE), el.hold(EL_WS)
                ),
                "deepgram-ws/pre-opened": timed(
                    ws_preopened_call(tts_dw, SENTENCE), dg.hold(SPEAK)
                ),
            },
            "adapters",
            "",
        )

        http = await stack.enter_async_context(httpx.AsyncClient())
        chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        wav = pcm_to_wav(speech(0.4), 16_000)
        bearer = {"Authorization": f"Bearer {KEY}"}
        dg_token = {"Authorization": f"Token {KEY}"}
        await run_rows(
            {
                "openai-llm": timed(raw_http(
                    http, f"{oa.http_url}{CHAT}", b'"content": "H', json=chat, headers=bearer,
                ), oa.hold(CHAT)),
                "anthropic-llm": timed(raw_http(
                    http, f"{an.http_url}{MESSAGES}", b'"text_delta"',
                    json={**chat, "max_tokens": 64},
                    headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
                ), an.hold(MESSAGES)),
                "openai-stt": timed(raw_http(
                    http, f"{ob.http_url}{TRANSCRIBE}", None, data={"model": "m"},
                    files={"file": ("a.wav", wav, "audio/wav")}, headers=bearer,
                ), ob.hold(TRANSCRIBE)),
                "deepgram-stt": timed(raw_deepgram(dg.ws_url, KEY, stack), dg.hold(LISTEN)),
                "elevenlabs-tts": timed(raw_http(
                    http, f"{el.http_url}{EL_HTTP}?output_format=pcm_16000",
                    None, json={"text": SENTENCE}, headers={"xi-api-key": KEY},
                ), el.hold(EL_HTTP)),
                "deepgram-tts": timed(raw_http(
                    http, f"{dg.http_url}{SPEAK}?{DG_QUERY}",
                    None, json={"text": SENTENCE}, headers=dg_token,
                ), dg.hold(SPEAK)),
                "openai-tts": timed(raw_http(
                    http, f"{ob.http_url}{OA_SPEECH}", None,
                    json={"model": "m", "input": SENTENCE, "voice": "a", "response_format": "pcm"},
                    headers=bearer,
                ), ob.hold(OA_SPEECH)),
                "elevenlabs-ws": timed(raw_elevenlabs(el.ws_url, KEY, SENTENCE), el.hold(EL_WS)),
                "deepgram-ws": timed(raw_deepgram_speak(dg.ws_url, KEY, SENTENCE), dg.hold(SPEAK)),
            },
            "raw",
            "raw ",
        )  # fmt: skip

        # Text streamed at LLM pace: sentence-by-sentence HTTP vs one socket per reply.
        out["token_to_first_audio"] = {}
        streamed = {
            "elevenlabs (http, per sentence)": token_to_audio_http(tts_e),
            "elevenlabs-ws": token_to_audio_ws(tts_ew),
            "deepgram-tts (http, per sentence)": token_to_audio_http(tts_d),
            "deepgram-ws": token_to_audio_ws(tts_dw),
        }
        for name, call in streamed.items():
            waits = [s.ttfb for s in await measure(timed(call, no_hold), runs)]
            out["token_to_first_audio"][name] = {
                "p50_ms": ms(pct(waits, 0.5)),
                "p95_ms": ms(pct(waits, 0.95)),
                "minus_server_latency_p50_ms": ms(pct(waits, 0.5) - latency),
            }
            log(f"token->audio {name}")

        out["fallback_switch"] = {}
        switches: dict[str, tuple[Remote, Runner]] = {
            "llm": (oa, switch_llm(llm_o, llm_a, an.hold(MESSAGES))),
            "tts": (el, switch_tts(tts_e, tts_d, dg.hold(SPEAK))),
            "stt": (dg, switch_stt(stt_d, stt_o, ob.hold(TRANSCRIBE))),
        }
        for mode, mode_fault in FAULTS.items():
            for stage, (fake, run) in switches.items():
                fault = STT_TIMEOUT_FAULT if (stage, mode) == ("stt", "timeout") else mode_fault
                await fake.knobs(latency=latency, **fault)
                samples = [s.ttfb for s in await measure(run, runs)]
                switch = [x for x in samples if not math.isnan(x)]
                out["fallback_switch"][f"{stage}/{mode}"] = {
                    "p50_ms": ms(pct(switch, 0.5)) if switch else None,
                    "p95_ms": ms(pct(switch, 0.95)) if switch else None,
                    "failed_runs": len(samples) - len(switch),
                }
                await fake.knobs(latency=latency)
                log(f"{stage}/{mode} switch")

        out["voice_to_voice"] = {}
        # Every adapter is on one of these paths; a stack's nominal server time is
        # one latency per HTTP request (Deepgram's socket pays its own at connect).
        dg_in, ob_in = dg.hold(LISTEN), ob.hold(TRANSCRIBE)
        stacks = {
            "deepgram>openai>elevenlabs": VoiceToVoice(
                stt_d, llm_o, tts_e, (dg_in, oa.hold(CHAT), el.hold(EL_HTTP))
            ),
            "openai-stt>anthropic>deepgram-tts": VoiceToVoice(
                stt_o, llm_a, tts_d, (ob_in, an.hold(MESSAGES), dg.hold(SPEAK))
            ),
            "deepgram>anthropic>openai-tts": VoiceToVoice(
                stt_d, llm_a, tts_o, (dg_in, an.hold(MESSAGES), ob.hold(OA_SPEECH))
            ),
            "deepgram>openai>elevenlabs-ws": VoiceToVoice(
                stt_d, llm_o, tts_ew, (dg_in, oa.hold(CHAT), el.hold(EL_WS))
            ),
            "deepgram>openai>deepgram-ws": VoiceToVoice(
                stt_d, llm_o, tts_dw, (dg_in, oa.hold(CHAT), dg.hold(SPEAK))
            ),
        }
        hops = {name: 3 if name.startswith("openai-stt") else 2 for name in stacks}
        for name, v2v in stacks.items():
            turns = await measure(v2v, runs)
            await v2v.close()
            total = [s.ttfb for s in turns]
            client = [s.ttfb - s.hold for s in turns]
            out["voice_to_voice"][name] = {
                "server_latency_ms": ms(hops[name] * latency),
                "v2v_p50_ms": ms(pct(total, 0.5)),
                "v2v_p95_ms": ms(pct(total, 0.95)),
                "overhead_p50_ms": ms(pct(total, 0.5) - hops[name] * latency),
                "overhead_p95_ms": ms(pct(total, 0.95) - hops[name] * latency),
                "client_p50_ms": ms(pct(client, 0.5)),
                "client_p95_ms": ms(pct(client, 0.95)),
            }
            log(f"voice to voice {name}")
    return out
