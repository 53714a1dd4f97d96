"""Voice sessions over the developer WebSocket protocol."""
