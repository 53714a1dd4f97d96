"""TwiML documents the webhooks answer with, built with twilio's ``VoiceResponse``."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.twiml.voice_response import Connect, VoiceResponse


def connect_stream(stream_url: str, parameters: Mapping[str, str]) -> str:
    """Hand the call's audio to our Media Streams socket, both directions."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def say_and_hang_up(message: str) -> str:
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return str(response)


def dial(number: str, *, announce: str | None = None) -> str:
    """Forward or transfer the call to ``number``."""
    response = VoiceResponse()
    if announce:
        response.say(announce)
    response.dial(number)
    return str(response)


def reject() -> str:
    """Refuse the call unanswered: the caller hears a busy signal, and no minutes are billed."""
    response = VoiceResponse()
    response.reject(reason="rejected")
    return str(response)
