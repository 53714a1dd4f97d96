"""The exception tree of the pipelines package.

The retry decision travels with the error, so fallback logic lives in one
place (the provider chain) instead of being re-derived at every call site.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every pipelines error."""


class ProviderError(PipelineError):
    """A provider failed. ``retryable`` says whether another attempt may succeed."""

    def __init__(self, message: str, *, provider: str = "", retryable: bool = True) -> None:
        super().__init__(message)
        self.provider = provider
        self.retryable = retryable


class ProviderTimeout(ProviderError):
    """A provider missed its deadline (first byte or total)."""

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message, provider=provider, retryable=True)


class ProviderStatusError(ProviderError):
    """An HTTP-style status error. 4xx are final except 408, 429 and 499."""

    def __init__(self, message: str, *, status: int, provider: str = "") -> None:
        retryable = status >= 500 or status in (408, 429, 499)
        super().__init__(message, provider=provider, retryable=retryable)
        self.status = status


class ProviderUnavailable(ProviderError):
    """The provider cannot be used here (package missing, model missing, no key)."""

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message, provider=provider, retryable=False)


class InvalidTransition(PipelineError):
    """The turn state machine was asked for a transition it does not allow."""


class ConfigError(PipelineError):
    """An agent or provider configuration is invalid."""
