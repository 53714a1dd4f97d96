"""Control-plane API throughput: requests/s and latency of an authenticated read
(with an API key, and with a person's login token) and an authenticated write,
with the server on one core, on SQLite and PostgreSQL.

Besides wall-clock figures it records the server's CPU time per request (user +
system of the server process over each measurement), which other work on a
shared machine disturbs far less than requests/s.

The server is ``uvicorn`` in a subprocess pinned to CPU 0 (the whole app, as
``cap serve`` builds it, minus the first-run seed); the load generator (aiohttp,
a fixed number of concurrent connections) runs in this process on CPU 1.
Numbers are recorded, never asserted. Writes ``benchmarks/results/api.json``.

    python benchmarks/api_bench.py [--quick] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psutil

RESULTS = Path(__file__).parent / "results" / "api.json"
REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get(
    "CAP_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SERVER_CPU, CLIENT_CPU = 0, 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(database_url: str, data_dir: str, schema: str | None, role: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "CAP_DATA_DIR": data_dir,
        "CAP_DATABASE_URL": database_url,
        "CAP_SEED_ON_START": "false",
        "CAP_RATE_LIMIT_PER_KEY": "100000000",
        "CAP_RATE_LIMIT_PER_IP": "100000000",
        "CAP_LOG_LEVEL": "warning",
    }
    if schema:
        env["CAP_DATABASE_SCHEMA"] = schema
    if role:
        env["CAP_DATABASE_APP_ROLE"] = role
    return env


async def _prepare(env: dict[str, str]) -> dict[str, str]:
    """Migrates, then makes an organisation, an API key and an agent."""
    from control_plane.agents import service as agents
    from control_plane.agents.config import AgentConfig
    from control_plane.db.migrate import migrate
    from control_plane.services import build_services
    from control_plane.settings import Settings
    from tenancy import accounts, apikeys
    from tenancy.permissions import ROLE_PERMISSIONS, AccountType, BuiltinRole
    from tenancy.principal import Principal

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        services = build_services(Settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        await migrate(services.db.config)
        done = await accounts.register(
            services.db, services.passwords, services.accounts,
            email=f"bench.{secrets.token_hex(4)}@example.com", password="bench password 1",
            name="Bench", account_type=AccountType.DEVELOPER, org_name="Bench", verified=True,
        )  # fmt: skip
        assert done.org_id
        owner = Principal("user", done.user_id, done.org_id, ROLE_PERMISSIONS[BuiltinRole.OWNER])
        async with services.db.tenant(done.org_id) as session:
            agent = await agents.create_agent(
                session, name="Bench agent", type_="text", slug="bench", config=AgentConfig()
            )
            key = await apikeys.create_key(
                session, owner, name="bench", scopes=["agents.read", "agents.write"]
            )
        login = await accounts.open_session(services.db, done.user_id, timedelta(hours=1))
        return {"agent_id": agent.id, "key": key.secret, "token": login.token}
    finally:
        await services.limiter.aclose()
        await services.db.dispose()


def _serve() -> None:
    """Child process: the app on one core."""
    import uvicorn

    from control_plane.app import create_app
    from control_plane.settings import Settings

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {SERVER_CPU})
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=int(os.environ["CAP_BENCH_PORT"]),
        loop="uvloop",
        log_level="warning",
        access_log=False,
    )


STARTUP_SECS = 60.0


async def _wait_up(base: str) -> None:
    deadline = time.monotonic() + STARTUP_SECS
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{base}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("server did not start")


def _cpu_seconds(server: psutil.Process) -> float:
    times = server.cpu_times()
    return float(times.user + times.system)


async def _load(
    base: str, method: str, path: str, headers: dict[str, str], body: Any,
    *, concurrency: int, seconds: float, warmup: float, server: psutil.Process,
) -> dict[str, float]:  # fmt: skip
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

        async def worker(until: float, record: bool) -> None:
            nonlocal errors
            while (now := time.perf_counter()) < until:
                async with http.request(method, base + path, json=body) as r:
                    await r.read()
                    if r.status >= 400:
                        errors += 1
                if record:
                    latencies.append(time.perf_counter() - now)

        end = time.perf_counter() + warmup
        await asyncio.gather(*(worker(end, False) for _ in range(concurrency)))
        cpu_before = _cpu_seconds(server)
        start = time.perf_counter()
        await asyncio.gather(*(worker(start + seconds, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds(server) - cpu_before
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        # Server CPU (user + system) per request: the load-resistant figure.
        "server_cpu_ms": round(cpu / max(1, len(latencies)) * 1000, 3),
    }


async def _bench_backend(name: str, quick: bool) -> dict[str, Any]:
    data_dir = tempfile.mkdtemp(prefix="cap-bench-")
    schema = role = None
    if name == "sqlite":
        url = f"sqlite+aiosqlite:///{data_dir}/cap.db"
    else:
        suffix = secrets.token_hex(4)
        url, schema, role = PG_URL, f"cap_bench_{suffix}", f"cap_bench_app_{suffix}"
    env = _env(url, data_dir, schema, role)
    made = await _prepare(env)
    port = _free_port()
    # As a module from the repository root: run as a script, this folder would
    # come first on sys.path and benchmarks/twilio would shadow the twilio package.
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.api_bench", "serve",
        env={**env, "CAP_BENCH_PORT": str(port)}, cwd=REPO,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_up(base)
        process = psutil.Process(server.pid)
        headers = {"Authorization": f"Bearer {made['key']}"}
        user = {"Authorization": f"Bearer {made['token']}"}
        seconds, warmup = (3.0, 1.0) if quick else (10.0, 2.0)
        path = f"/v1/agents/{made['agent_id']}"
        out: dict[str, Any] = {}
        for concurrency in (1, 16):
            read = await _load(
                base, "GET", path, headers, None,
                concurrency=concurrency, seconds=seconds, warmup=warmup, server=process,
            )  # fmt: skip
            read_user = await _load(
                base, "GET", path, user, None,
                concurrency=concurrency, seconds=seconds, warmup=warmup, server=process,
            )  # fmt: skip
            write = await _load(
                base, "PATCH", path, headers, {"config": {"description": "benchmark write"}},
                concurrency=concurrency, seconds=seconds, warmup=warmup, server=process,
            )  # fmt: skip
            out[f"c{concurrency}"] = {"read": read, "read_user": read_user, "write": write}
        return out
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 20)
        if schema and role:
            await _drop_pg(schema, role)


async def _drop_pg(schema: str, role: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(PG_URL)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await conn.execute(text(f'DROP OWNED BY "{role}"'))
        await conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    await engine.dispose()


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        _serve()
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s per measurement")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {CLIENT_CPU})
    results: dict[str, Any] = {}
    for name in args.backends.split(","):
        results[name] = asyncio.run(_bench_backend(name, args.quick))
    print(
        f"{'backend':<10}{'conc':>5}  {'op':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'cpu ms':>9}{'errors':>8}"
    )
    for name, by_conc in results.items():
        for conc, ops in by_conc.items():
            for op, m in ops.items():
                print(
                    f"{name:<10}{conc[1:]:>5}  {op:<10}{m['rps']:>9}{m['p50_ms']:>9}"
                    f"{m['p99_ms']:>9}{m['server_cpu_ms']:>9}{m['errors']:>8}"
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "control-plane API, server on one core",
                "read": "GET /v1/agents/{id} with an API key",
                "read_user": "GET /v1/agents/{id} with a person's login token",
                "write": "PATCH /v1/agents/{id} (draft update + audit entry) with an API key",
                "quick": args.quick,
                "python": platform.python_version(),
                "machine": platform.machine(),
                # Other work shares this machine: the load average says how much.
                "load_average": os.getloadavg(),
                "cpu_count": os.cpu_count(),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
