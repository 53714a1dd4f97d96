"""Fixtures for tenancy tests: both storage backends and a scoped database handle."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from control_plane.db import schema  # noqa: F401  (registers every table)
from tenancy.db.engine import Database
from tests.tenancy.backends import *  # noqa: F403
from tests.tenancy.backends import Backend


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[Database]:
    database = Database(backend.config)
    try:
        yield database
    finally:
        await database.dispose()
