"""What the figures mean against the target, printed as tables.

The <= 3 ms p95 target (issue #3) is judged on ``client_p95_ms``: per call,
time to first output minus the fake's own measured hold. That is everything
the call costs on our side of the wire (adapter, SDK, HTTP/WebSocket stack,
loopback), and nothing the provider's server spends. ``overhead`` (TTFB minus
the nominal latency) also counts the fake's timer overshoot and CPU, which a
real provider replaces with its own time; ``adapter - raw`` (difference of
percentiles against a bare httpx/websockets client on the same fake) says
how much of the client side is the adapter's and SDK's own code.

OpenAI STT has two rows: ``openai-stt`` (the default: the upload streams while
the user speaks, so at the flush only the last 80 ms and the closing boundary
are left to send) and ``openai-stt/whole`` (``stream_upload=False``: the WAV
goes whole through the SDK at the flush). The bare client uploads whole, so
both are compared with it; the streamed row's difference is negative.
"""

from __future__ import annotations

from typing import Any

TARGET_MS = 3.0
TARGET_KEY = "client_p95_ms"
# Adapter rows compared with a bare client row of another name.
RAW_OF = {"openai-stt/whole": "openai-stt"}
MINUS_RAW_KEYS = ("client_p50_ms", "client_p95_ms", "cpu_ttfb_p50_ms", "cpu_ttfb_p95_ms")
HEADS = ("ttfb", "overhead", "hold", "client", "cpu_ttfb")


def judge(result: dict[str, Any]) -> None:
    """Adds ``adapter_minus_raw`` and ``target`` to ``result``."""
    pairs = {**{name: name for name in result["raw"]}, **RAW_OF}
    result["adapter_minus_raw"] = {
        name: {
            key: round(result["adapters"][name][key] - result["raw"][raw][key], 2)
            for key in MINUS_RAW_KEYS
        }
        for name, raw in pairs.items()
    }
    met = [n for n, s in result["adapters"].items() if s[TARGET_KEY] <= TARGET_MS]
    result["target"] = {
        "judged_on": TARGET_KEY,
        "max_ms": TARGET_MS,
        "met": met,
        "missed": [n for n in result["adapters"] if n not in met],
    }


def report(result: dict[str, Any]) -> None:
    print(f"{'p50 / p95 (ms)':<26}" + "".join(f"{h:>16}" for h in HEADS))
    rows = [*result["adapters"].items(), *((f"raw {n}", s) for n, s in result["raw"].items())]
    for name, s in rows:
        cells = (f"{s[f'{c}_p50_ms']:.2f} / {s[f'{c}_p95_ms']:.2f}" for c in HEADS)
        print(f"{name:<26}" + "".join(f"{c:>16}" for c in cells))
    print(
        "\nttfb: call -> first output; overhead: ttfb - nominal fake latency;"
        " hold: the fake's own measured time; client: ttfb - hold"
    )
    print("\nadapter - bare client (ms): client p50/p95, CPU to first output p50/p95")
    for name, d in result["adapter_minus_raw"].items():
        print(f"  {name:<20}" + "".join(f" {d[k]:>7.2f}" for k in MINUS_RAW_KEYS))
    print("\ntext streamed at LLM pace: first token -> first audio (ms)")
    for name, s in result["token_to_first_audio"].items():
        print(
            f"  {name:<36} p50 {s['p50_ms']:>7.2f}  p95 {s['p95_ms']:>7.2f}"
            f"   minus server latency p50 {s['minus_server_latency_p50_ms']:>7.2f}"
        )
    print("\nfallback switch: failure -> next provider's first output, minus its hold (ms)")
    for name, s in result["fallback_switch"].items():
        failed = f"   ({s['failed_runs']} runs: not timed)" if s["failed_runs"] else ""
        p50, p95 = (s[k] if s[k] is not None else "-" for k in ("p50_ms", "p95_ms"))
        print(f"  {name:<20} p50 {p50:>7}   p95 {p95:>7}{failed}")
    print("\nvoice to voice: flush -> first TTS audio (ms)")
    for name, s in result["voice_to_voice"].items():
        print(
            f"  {name:<36} p50 {s['v2v_p50_ms']:>7.2f}  p95 {s['v2v_p95_ms']:>7.2f}"
            f"   minus nominal {s['overhead_p50_ms']:>6.2f} / {s['overhead_p95_ms']:>6.2f}"
            f"   minus measured holds {s['client_p50_ms']:>6.2f} / {s['client_p95_ms']:>6.2f}"
        )
    target = result["target"]
    met, missed = (", ".join(target[k]) or "none" for k in ("met", "missed"))
    print(f"\n{target['judged_on']} <= {target['max_ms']} ms: met by {met}; missed by {missed}")
    env = result["environment"]
    print(f"load average at start / end: {env['loadavg_start']} / {env['loadavg']}")
