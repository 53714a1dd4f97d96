"""Voice to voice through whole stacks of adapters.

VAD end of speech (``flush()``) -> final transcript -> first LLM clause ->
first TTS audio. Minus the three fakes' measured holds, what is left is the
client side of a turn: adapters, SDKs, HTTP stacks, loopback, and the hand-off
from one stage to the next.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks.providers.cases import HISTORY, STTCall
from benchmarks.providers.measure import Hold, Sample
from benchmarks.providers.remote import holds
from pipelines.providers.base import LLMProvider, TextDelta, TTSProvider
from pipelines.providers.cloud import DeepgramSTT, OpenAISTT


class VoiceToVoice:
    def __init__(
        self,
        stt: DeepgramSTT | OpenAISTT,
        llm: LLMProvider,
        tts: TTSProvider,
        stage_holds: tuple[Hold, Hold, Hold],
    ) -> None:
        self.listen = STTCall(stt, keep_open=True)
        self.llm = llm
        self.tts = tts
        self.stage_holds = stage_holds

    async def __call__(self) -> Sample:
        t0, _, _ = await self.listen()
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def think() -> None:
            text = ""
            async for event in self.llm.stream(HISTORY):
                if isinstance(event, TextDelta):
                    text += event.text
                    if not done.done() and any(c in text for c in ".,!?"):
                        done.set_result(text)
            if not done.done():
                done.set_result(text)

        thinking = asyncio.create_task(think())
        first = 0.0
        async for _ in self.tts.synthesize(await done):
            first = first or time.perf_counter()
        await thinking
        return Sample(first - t0, await holds(*self.stage_holds), 0.0, 0.0)

    async def close(self) -> None:
        await self.listen.close()
