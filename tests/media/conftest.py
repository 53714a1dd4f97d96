"""Shared fixtures for media tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from media_virtual_time import VirtualTimeLoop


@pytest.fixture
def virtual_loop() -> Iterator[VirtualTimeLoop]:
    loop = VirtualTimeLoop()
    try:
        yield loop
    finally:
        loop.close()
