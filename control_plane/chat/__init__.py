"""Text chat with agents: REST, SSE, WebSocket and the OpenAI-compatible endpoint."""
