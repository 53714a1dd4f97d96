from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.telephony.twilio_rest import TwilioRestFake


@pytest.fixture
async def rest_fake() -> AsyncIterator[TwilioRestFake]:
    async with TwilioRestFake() as fake:
        yield fake
