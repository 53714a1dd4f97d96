"""Local fake provider servers that speak each provider's real wire protocol.

Every fake runs on 127.0.0.1 with an ephemeral port and has fault knobs
(``FaultKnobs``: latency, token interval, error status, disconnect after N
chunks, hang) so adapters and fallback chains are tested without internet.
"""

from tests.fakes.anthropic_server import AnthropicFake
from tests.fakes.deepgram_server import DeepgramFake
from tests.fakes.elevenlabs_server import ElevenLabsFake
from tests.fakes.llm_script import LLMScript, ScriptedTool
from tests.fakes.openai_server import OpenAIFake
from tests.fakes.server import TEST_API_KEY, FakeServer, FaultKnobs, RecordedRequest

__all__ = [
    "TEST_API_KEY",
    "AnthropicFake",
    "DeepgramFake",
    "ElevenLabsFake",
    "FakeServer",
    "FaultKnobs",
    "LLMScript",
    "OpenAIFake",
    "RecordedRequest",
    "ScriptedTool",
]
