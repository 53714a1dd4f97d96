"""WebRTC calls (aiortc): offer/answer over HTTP, audio tracks, the events data channel."""
