"""Ops surfaces are not public: /metrics for platform administrators and the
ops token; latency and turn timelines for administrators (every organisation)
and holders of ops.read (their own organisation's calls only)."""

from __future__ import annotations

from control_plane.voice.runtime import TurnRecord, VoiceRuntime
from pipelines.events import TurnMetrics
from pipelines.providers.registry import ProviderRegistry
from tests.control_plane.support import Api, Person

OPS_TOKEN = "ops-" + "x" * 40


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def turn(session_id: str, org_id: str | None, v2v: float) -> TurnRecord:
    marks = {"user_speech_end": 1.0, "first_audio_out": 1.0 + v2v / 1000}
    return TurnRecord(session_id, "webrtc", "agent", TurnMetrics(1, marks, v2v), org_id)


def runtime_with_turns(a: Person, b: Person) -> VoiceRuntime:
    runtime = VoiceRuntime(ProviderRegistry())
    runtime.recent_turns.extend(
        [turn("a-1", a.org_id, 400), turn("b-1", b.org_id, 900), turn("local-1", None, 500)]
    )
    return runtime


async def test_metrics_need_an_admin_or_the_ops_token(api: Api) -> None:
    owner = await api.person()
    admin = await api.person(admin=True, org=False, tag="admin")
    key = await api.api_key(owner, ["agents.read"])
    assert (await api.client.get("/metrics")).status_code == 401
    assert (await api.client.get("/metrics", headers=owner.headers())).status_code == 403
    assert (await api.client.get("/metrics", headers=bearer(key))).status_code == 403
    r = await api.client.get("/metrics", headers=bearer(admin.token))
    assert r.status_code == 200 and "cap_" in r.text
    # No ops token configured: no token string opens it.
    assert (await api.client.get("/metrics", headers=bearer(OPS_TOKEN))).status_code == 401
    api.services.settings = api.services.settings.model_copy(update={"ops_token": OPS_TOKEN})
    r = await api.client.get("/metrics", headers=bearer(OPS_TOKEN))
    assert r.status_code == 200 and "cap_" in r.text
    assert (await api.client.get("/metrics", headers=bearer(OPS_TOKEN + "y"))).status_code == 401
    # The ops token is for scraping only, not for call data.
    r = await api.client.get("/v1/ops/turns", headers=bearer(OPS_TOKEN))
    assert r.status_code == 401


async def test_members_see_their_organisations_calls_admins_see_all(api: Api) -> None:
    a, b = await api.person(tag="a"), await api.person(tag="b")
    admin = await api.person(admin=True, org=False, tag="admin")
    api.app.state.voice = runtime_with_turns(a, b)
    assert a.org_id and b.org_id

    def sessions(r: object) -> set[str]:
        return {t["session_id"] for t in r.json()}  # type: ignore[attr-defined]

    everyone = await api.client.get("/v1/ops/turns", headers=bearer(admin.token))
    assert sessions(everyone) == {"a-1", "b-1", "local-1"}
    summary = (await api.client.get("/v1/ops/latency", headers=bearer(admin.token))).json()
    assert summary["turns"] == 3 and summary["organisation"] is None
    assert summary["clock"] is not None

    # The owner of A (all permissions, ops.read among them) sees A's calls only.
    assert sessions(await api.client.get("/v1/ops/turns", headers=a.headers())) == {"a-1"}
    summary = (await api.client.get("/v1/ops/latency", headers=a.headers())).json()
    assert summary["turns"] == 1 and summary["organisation"] == a.org_id
    assert summary["spans"]["voice_to_voice"]["p50_ms"] == 400.0
    assert summary["clock"] is None  # shared by every organisation
    # An API key of B with ops.read: B's calls only.
    b_key = await api.api_key(b, ["ops.read"])
    assert sessions(await api.client.get("/v1/ops/turns", headers=bearer(b_key))) == {"b-1"}
    # A developer has ops.read; a viewer has not.
    developer = await api.member(a.org_id, "developer")
    viewer = await api.member(a.org_id, "viewer")
    assert sessions(await api.client.get("/v1/ops/turns", headers=developer.headers())) == {"a-1"}
    r = await api.client.get("/v1/ops/latency", headers=viewer.headers())
    assert r.status_code == 403 and "ops.read" in r.text
    # Naming B in the header as A's owner: B is simply not found.
    r = await api.client.get("/v1/ops/turns", headers=a.headers(org=b.org_id))
    assert r.status_code == 404
    # An administrator may look at one organisation they belong to through the header.
    r = await api.client.get("/v1/ops/turns", headers=admin.headers(org=a.org_id))
    assert r.status_code == 404  # not a member of A
    assert (await api.client.get("/v1/ops/latency")).status_code == 401


async def test_dashboard_page_holds_no_data_and_sends_the_token(api: Api) -> None:
    page = await api.client.get("/dashboard/latency")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "Authorization" in html and "/v1/auth/login" in html
    assert "sessionStorage" in html and "/v1/ops/latency" in html
