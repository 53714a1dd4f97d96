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

from control_plane.bootstrap import DEMO_AGENT_SLUG, migrate_command, prepare
from control_plane.db.migrate import head_revision
from control_plane.settings import Settings
from tests.control_plane.conftest import TEST_SETTINGS

STARTUP_TIMEOUT_SECS = 90.0


async def test_prepare_seeds_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, **TEST_SETTINGS)  # type: ignore[arg-type]
    seeded = await prepare(settings)
    assert seeded is not None and seeded.widget_key.startswith("cap_")
    assert await prepare(settings) is None  # an existing database is left alone
    assert (tmp_path / "cap.db").exists()


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
        key = re.search(r"widget API key:\s+(cap_\S+)", out)
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
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=10,
        ).json()
        assert [a["slug"] for a in agents] == [DEMO_AGENT_SLUG]
        assert agents[0]["published_version"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
