"""Transports: the media side of carrying audio to and from a peer (WebRTC tracks)."""
