"""The fakes' process: started, pinned to its own core, steered over HTTP.

``tests.fakes.serve`` runs every fake in one process on uvloop. Each fake
records, per request, when it had the whole input and when it wrote the first
useful byte (``perf_counter``, which is system-wide on Linux); ``/_fake/last``
hands back that request's ``hold`` (the span in between) so the client's own
share of a call is ``ttfb - hold``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.providers.measure import NAN, Hold

ROOT = Path(__file__).resolve().parents[2]
FAKES = ("openai", "openai_b", "anthropic", "deepgram", "elevenlabs")


@dataclass
class Remote:
    """One fake in the server process."""

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

    async def last_hold(self, path: str) -> float:
        """The fake's hold for its latest request to ``path`` (NAN if it has none)."""
        response = await self.control.get(f"{self.http_url}/_fake/last", params={"path": path})
        if response.status_code != 200:
            return NAN
        hold = response.json().get("hold")
        return float(hold) if isinstance(hold, (int, float)) else NAN

    def hold(self, path: str) -> Hold:
        return lambda: self.last_hold(path)

    async def forget(self) -> None:
        """Drop the fake's recorded requests (it keeps every one otherwise)."""
        url = f"{self.http_url}/_fake/timings"
        (await self.control.get(url, params={"n": "0", "clear": "1"})).raise_for_status()


async def holds(*parts: Hold) -> float:
    """Sum of several fakes' holds (a voice-to-voice turn crosses three)."""
    total = 0.0
    for part in parts:
        value = await part()
        total += 0.0 if math.isnan(value) else value
    return total


@dataclass
class FakeProcess:
    process: asyncio.subprocess.Process
    ports: dict[str, int]

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


async def start_fakes(latency: float) -> FakeProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.serve", "--latency", str(latency),
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    ports = json.loads(await process.stdout.readline())
    return FakeProcess(process, ports)


def pin_cores(server_pid: int) -> dict[str, Any]:
    """Fakes on one core, this process on another, so neither steals the other's CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return {"pinned": False, "cpus": cpus}
    os.sched_setaffinity(server_pid, {cpus[-1]})
    os.sched_setaffinity(0, {cpus[0]})
    return {"pinned": True, "client_cpu": cpus[0], "server_cpu": cpus[-1]}
