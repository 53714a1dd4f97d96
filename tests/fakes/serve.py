"""Run every fake in its own process, for benchmarks.

    python -m tests.fakes.serve [--latency 0.05]

Prints one JSON line ``{"openai": port, ...}`` once all are listening, then
serves until stdin closes. Knobs are set over HTTP (``POST /_fake/knobs``) and
server-side timestamps read back from ``GET /_fake/last`` on each fake.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from contextlib import AsyncExitStack

from tests.fakes import AnthropicFake, DeepgramFake, ElevenLabsFake, FakeServer, OpenAIFake


async def serve(latency: float) -> None:
    fakes: dict[str, FakeServer] = {
        "openai": OpenAIFake(),
        "openai_b": OpenAIFake(),
        "anthropic": AnthropicFake(),
        "deepgram": DeepgramFake(),
        "elevenlabs": ElevenLabsFake(),
    }
    async with AsyncExitStack() as stack:
        for fake in fakes.values():
            await stack.enter_async_context(fake)
            fake.knobs.latency = latency
        gc.collect()
        gc.freeze()  # as cap serve does: no full GC passes over what is loaded
        print(json.dumps({name: fake.port for name, fake in fakes.items()}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.latency))
    else:
        uvloop.run(serve(args.latency))


if __name__ == "__main__":
    main()
