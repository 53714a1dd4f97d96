"""Fixtures for control-plane tests: the app on each storage backend, an HTTP
client over ASGI, and ``Api`` helpers that create people and organisations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from control_plane.app import create_app
from control_plane.settings import Settings
from tests.control_plane.support import Api
from tests.tenancy.backends import *  # noqa: F403
from tests.tenancy.backends import Backend

# Cheap hashing and generous limits: tests that need limits set their own.
TEST_SETTINGS = {
    "password_time_cost": 1,
    "password_memory_kib": 1024,
    "password_parallelism": 1,
    "rate_limit_per_key": 1_000_000,
    "rate_limit_per_ip": 1_000_000,
    "rate_limit_auth_per_ip": 1_000_000,
    "migrate_on_start": False,
    "seed_on_start": False,
}


def settings_for(backend: Backend, data_dir: Path, **overrides: object) -> Settings:
    config = backend.config
    values: dict[str, object] = {
        **TEST_SETTINGS,
        "data_dir": data_dir,
        "database_url": config.url,
        "database_schema": config.schema,
        "database_app_role": config.app_role or "",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def app(backend: Backend, tmp_path: Path) -> AsyncIterator[FastAPI]:
    application = create_app(settings_for(backend, tmp_path))
    try:
        yield application
    finally:
        services = application.state.services
        await application.state.knowledge.aclose()
        await services.limiter.aclose()
        await services.db.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://cap.test") as c:
        yield c


@pytest.fixture
def api(app: FastAPI, client: httpx.AsyncClient) -> Api:
    return Api(app, client)
