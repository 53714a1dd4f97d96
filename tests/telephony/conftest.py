from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.telephony.twilio_rest import TwilioRestFake

# The control-plane side of telephony (numbers, calls) is tested on both storage backends.
from tests.tenancy.backends import *  # noqa: F403


@pytest.fixture
async def rest_fake() -> AsyncIterator[TwilioRestFake]:
    async with TwilioRestFake() as fake:
        yield fake
