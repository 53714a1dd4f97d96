"""The media core's exception tree.

Everything raised on purpose by ``media`` derives from ``MediaError`` so a
transport can catch one type, count the fault and keep the call alive.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base of every error raised on purpose by the media core."""


class InvalidAudioError(MediaError, ValueError):
    """Audio that does not fit the format it claims (odd byte count, wrong size)."""


class BufferOverflowError(MediaError):
    """A bounded buffer was asked to hold more than its named limit."""


class ModelLoadError(MediaError, RuntimeError):
    """A model file shipped in a package could not be found or loaded."""
