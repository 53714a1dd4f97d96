"""Twilio request signatures: valid ones pass; any single changed byte in the URL,
a parameter or the signature fails. Stream tokens: bound to call, agent, number, time."""

from __future__ import annotations

import pytest

from telephony.signature import SignatureChecker, signed_url
from telephony.tokens import StreamTokens

TOKEN = "12345678901234567890123456789012"
URL = "https://cap.example.com/telephony/twilio/voice?agent=support"
PARAMS = {
    "AccountSid": "AC" + "0" * 32,
    "CallSid": "CA" + "1" * 32,
    "From": "+15557770000",
    "To": "+15550001111",
    "CallStatus": "ringing",
}
CHECKER = SignatureChecker(TOKEN)
SIGNATURE = CHECKER.sign(URL, PARAMS)


def mutate(text: str, index: int) -> str:
    """``text`` with the character at ``index`` replaced by a different one
    (never a mere change of case, which URLs treat as the same in the scheme)."""
    original = text[index]
    replacement = next(c for c in "x7Q+" if c.lower() != original.lower())
    return text[:index] + replacement + text[index + 1 :]


def test_a_valid_signature_is_accepted() -> None:
    assert CHECKER.check(URL, PARAMS, SIGNATURE)


def test_a_signature_computed_with_the_port_or_without_is_accepted() -> None:
    with_port = "https://cap.example.com:443/telephony/twilio/voice?agent=support"
    assert CHECKER.check(with_port, PARAMS, SIGNATURE)


def test_another_auth_token_is_rejected() -> None:
    assert not SignatureChecker(TOKEN[:-1] + "x").check(URL, PARAMS, SIGNATURE)


@pytest.mark.parametrize("index", range(len(URL)))
def test_any_changed_byte_of_the_url_is_rejected(index: int) -> None:
    assert not CHECKER.check(mutate(URL, index), PARAMS, SIGNATURE)


@pytest.mark.parametrize(
    ("name", "index"),
    [(name, i) for name, value in PARAMS.items() for i in range(len(value))],
)
def test_any_changed_byte_of_a_parameter_value_is_rejected(name: str, index: int) -> None:
    changed = {**PARAMS, name: mutate(PARAMS[name], index)}
    assert not CHECKER.check(URL, changed, SIGNATURE)


@pytest.mark.parametrize(
    ("name", "index"), [(name, i) for name in PARAMS for i in range(len(name))]
)
def test_any_changed_byte_of_a_parameter_name_is_rejected(name: str, index: int) -> None:
    changed = dict(PARAMS)
    changed[mutate(name, index)] = changed.pop(name)
    assert not CHECKER.check(URL, changed, SIGNATURE)


def test_an_added_or_removed_parameter_is_rejected() -> None:
    assert not CHECKER.check(URL, {**PARAMS, "Digits": "1"}, SIGNATURE)
    assert not CHECKER.check(URL, {k: v for k, v in PARAMS.items() if k != "From"}, SIGNATURE)


@pytest.mark.parametrize("index", range(len(SIGNATURE)))
def test_any_changed_byte_of_the_signature_is_rejected(index: int) -> None:
    assert not CHECKER.check(URL, PARAMS, mutate(SIGNATURE, index))


@pytest.mark.parametrize("signature", [None, "", SIGNATURE[:-1], SIGNATURE + "=", "x" * 500])
def test_missing_truncated_or_oversized_signatures_are_rejected(signature: str | None) -> None:
    assert not CHECKER.check(URL, PARAMS, signature)


@pytest.mark.parametrize(
    ("public", "seen", "websocket", "expected"),
    [
        (None, "http://10.0.0.5:8000/telephony/twilio/voice", False,
         "http://10.0.0.5:8000/telephony/twilio/voice"),
        ("https://cap.example.com", "http://10.0.0.5:8000/telephony/twilio/voice?agent=a", False,
         "https://cap.example.com/telephony/twilio/voice?agent=a"),
        ("https://cap.example.com/", "ws://10.0.0.5/telephony/twilio/media", True,
         "wss://cap.example.com/telephony/twilio/media"),
        ("http://localhost:9000", "ws://127.0.0.1/telephony/twilio/media", True,
         "ws://localhost:9000/telephony/twilio/media"),
    ],
)  # fmt: skip
def test_the_signed_url_honours_the_public_base_url(
    public: str | None, seen: str, websocket: bool, expected: str
) -> None:
    assert signed_url(public, seen, websocket=websocket) == expected


# ---------------------------------------------------------------- stream tokens


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_stream_token_verifies_only_for_its_call_agent_and_number_until_it_expires() -> None:
    clock = FakeTime()
    tokens = StreamTokens(b"s" * 32, ttl_secs=60, clock=clock)
    token = tokens.mint("CA1", "support", "+15550001111")
    assert tokens.verify(token, "CA1", "support", "+15550001111")
    assert not tokens.verify(token, "CA2", "support", "+15550001111")
    assert not tokens.verify(token, "CA1", "sales", "+15550001111")
    assert not tokens.verify(token, "CA1", "support", "+15550002222")
    assert not StreamTokens(b"t" * 32, clock=clock).verify(token, "CA1", "support", "+15550001111")
    clock.now += 60
    assert tokens.verify(token, "CA1", "support", "+15550001111")
    clock.now += 1
    assert not tokens.verify(token, "CA1", "support", "+15550001111")


@pytest.mark.parametrize("index", range(len("v1.1700000060.")))
def test_a_stream_token_with_a_changed_header_byte_is_rejected(index: int) -> None:
    tokens = StreamTokens(b"s" * 32, clock=FakeTime())
    token = tokens.mint("CA1", "support", "+15550001111")
    assert not tokens.verify(mutate(token, index), "CA1", "support", "+15550001111")


@pytest.mark.parametrize("bad", ["", "v1", "v1..", "v2.1.abc", "v1.x.abc", "v1.1." + "a" * 200])
def test_malformed_stream_tokens_are_rejected(bad: str) -> None:
    assert not StreamTokens(b"s" * 32).verify(bad, "CA1", "support", "+15550001111")


def test_a_short_token_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        StreamTokens(b"short")
