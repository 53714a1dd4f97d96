"""First start: migrations and the seed; ``cap serve`` and ``cap migrate`` on a
fresh data directory."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from control_plane.bootstrap import (
    DEMO_AGENT_SLUG,
    Seeded,
    migrate_command,
    prepare,
    print_seeded,
    serve_origins,
)
from control_plane.db.migrate import head_revision
from control_plane.services import build_services
from control_plane.settings import Settings
from tenancy import publishable
from tenancy.errors import PermissionDenied
from tenancy.models import ApiKey
from tenancy.publishable import admit_publishable
from tests.control_plane.conftest import TEST_SETTINGS

STARTUP_TIMEOUT_SECS = 90.0


async def test_prepare_seeds_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, port=8123, **TEST_SETTINGS)  # type: ignore[arg-type]
    seeded = await prepare(settings)
    assert seeded is not None and seeded.widget_key.startswith("pk_")
    assert "http://127.0.0.1:8123" in seeded.widget_origins
    assert await prepare(settings) is None  # an existing database is left alone
    assert (tmp_path / "cap.db").exists()
    services = build_services(settings)
    try:
        async with services.db.platform() as session:
            keys = (await session.scalars(select(ApiKey))).all()
        # One key across restarts: the widget key, publishable and bound to the demo agent.
        assert [publishable.kind_of_key(k) for k in keys] == ["publishable"]
        bound = publishable.split_scopes(keys[0].scopes)
        assert bound.permissions == ("agents.use",) and bound.agent_id == seeded.agent_id
        assert set(bound.origins) == set(seeded.widget_origins)
        # The demo page's origin opens the demo agent; another site's does not.
        for origin in ("http://127.0.0.1:8123", "http://localhost:8123"):
            grant = await admit_publishable(services.db, seeded.widget_key, origin)
            assert grant is not None and grant.agent_id == seeded.agent_id
        with pytest.raises(PermissionDenied):
            await admit_publishable(services.db, seeded.widget_key, "https://elsewhere.example")
    finally:
        await services.limiter.aclose()
        await services.db.dispose()


def test_print_seeded_shows_the_widget_key_and_where_it_works(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(admin_email="root@example.com")
    origins = serve_origins("127.0.0.1", 8000)
    print_seeded(Seeded("o", "u", "pw", "a", "pk_abc", origins), settings)
    out = capsys.readouterr().out
    assert "root@example.com / pw" in out
    assert re.search(r"widget key:\s+pk_abc .*http://127\.0\.0\.1:8000", out), out


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (
            "127.0.0.1",
            8000,
            {"http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"},
        ),
        (
            "0.0.0.0",
            9000,
            {
                "http://0.0.0.0:9000",
                "http://127.0.0.1:9000",
                "http://localhost:9000",
                "http://[::1]:9000",
            },
        ),
        ("voice.lan", 80, {"http://voice.lan"}),
        ("192.168.1.20", 8000, {"http://192.168.1.20:8000"}),
    ],
)
def test_serve_origins(host: str, port: int, expected: set[str]) -> None:
    origins = serve_origins(host, port)
    assert set(origins) == expected
    # Every one is an origin a publishable key accepts as given.
    assert [publishable.normalise_origin(o) for o in origins] == list(origins)


def test_cap_migrate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=tmp_path)
    assert migrate_command(settings) == 0
    assert f"revision {head_revision()}" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_cap_serve_on_a_fresh_machine(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "CAP_DATA_DIR": str(tmp_path / "data")}
    env.pop("CAP_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "control_plane.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECS
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Uvicorn running" in line or proc.poll() is not None:
                break
        out = "".join(lines)
        login = re.search(r"admin login:\s+(\S+) / (\S+)", out)
        key = re.search(r"widget key:\s+(pk_\S+)", out)
        assert login and key, out
        base = f"http://127.0.0.1:{port}"
        r = httpx.post(
            f"{base}/v1/auth/login",
            json={"email": login.group(1), "password": login.group(2)},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        agents = httpx.get(
            f"{base}/v1/agents",
            headers={"Authorization": f"Bearer {r.json()['token']}"},
            timeout=10,
        ).json()
        assert [a["slug"] for a in agents] == [DEMO_AGENT_SLUG]
        assert agents[0]["published_version"] == 1
        # The printed widget key opens the demo agent from a page of this server.
        config = httpx.get(
            f"{base}/v1/widget/config",
            params={"agent": DEMO_AGENT_SLUG, "key": key.group(1)},
            headers={"Origin": base},
            timeout=10,
        )
        assert config.status_code == 200, config.text
        assert config.json()["agent"] == agents[0]["id"]
        # A page of this server fetching it: browsers send no Origin on a
        # same-origin GET, only Sec-Fetch-Site.
        same_site = httpx.get(
            f"{base}/v1/widget/config",
            params={"agent": DEMO_AGENT_SLUG, "key": key.group(1)},
            headers={"Sec-Fetch-Site": "same-origin"},
            timeout=10,
        )
        assert same_site.status_code == 200, same_site.text
        elsewhere = httpx.get(
            f"{base}/v1/widget/config",
            params={"agent": DEMO_AGENT_SLUG, "key": key.group(1)},
            headers={"Origin": "https://elsewhere.example", "Sec-Fetch-Site": "cross-site"},
            timeout=10,
        )
        assert elsewhere.status_code == 403
        assert elsewhere.json()["error"]["code"] == "origin_not_allowed"
        # It is publishable: it calls no API.
        denied = httpx.get(
            f"{base}/v1/agents",
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=10,
        )
        assert denied.status_code == 401, denied.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
