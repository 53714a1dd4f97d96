"""Wire codecs to and from PCM16: G.711 mu-law and A-law by table lookup."""

from media.codecs.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

__all__ = ["alaw_decode", "alaw_encode", "ulaw_decode", "ulaw_encode"]
