"""Tools an agent may call: a name, a spec for the LLM, and an async function."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pipelines.providers.base import ToolCall, ToolSpec

ToolFunction = Callable[[dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Tool:
    spec: ToolSpec
    run: ToolFunction


class ToolBox:
    def __init__(self, tools: list[Tool] | None = None, *, timeout: float = 5.0) -> None:
        self._tools = {t.spec.name: t for t in tools or []}
        self.timeout = timeout

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(t.spec for t in self._tools.values())

    def add(self, tool: Tool) -> None:
        self._tools[tool.spec.name] = tool

    async def call(self, call: ToolCall) -> str:
        """Run a tool call; every failure becomes a result text the LLM can read."""
        tool = self._tools.get(call.name)
        if tool is None:
            return json.dumps({"error": f"unknown tool {call.name!r}"})
        try:
            args = json.loads(call.arguments or "{}")
        except json.JSONDecodeError:
            return json.dumps({"error": "arguments are not valid JSON"})
        if not isinstance(args, dict):
            return json.dumps({"error": "arguments must be a JSON object"})
        try:
            return await asyncio.wait_for(tool.run(args), self.timeout)
        except TimeoutError:
            return json.dumps({"error": f"tool {call.name!r} timed out after {self.timeout}s"})
        except Exception as exc:
            return json.dumps({"error": f"tool {call.name!r} failed: {exc}"})
