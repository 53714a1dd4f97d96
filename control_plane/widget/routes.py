"""Serves the widget's files, its per-agent config and the demo page.

Every file the widget needs comes from this server (no CDN at run time), so a
host page embeds it with one script tag and works offline on a LAN.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from control_plane.webrtc.admission import WidgetRejected
from control_plane.webrtc.cors import allow_any_origin
from control_plane.webrtc.keys import MAX_KEY_CHARS, SettingsWidgetKeys
from control_plane.webrtc.schemas import WidgetConfig
from control_plane.webrtc.state import ice_servers, widget_admitter, widget_keys

STATIC = Path(__file__).parent / "static"
REACT = Path(__file__).parent / "react"
DEMO_AGENT = "default"
# Files change on upgrade only; a short cache keeps upgrades quick to reach visitors.
CACHE_CONTROL = "public, max-age=300"

# name -> (folder, media type); nothing outside this table is served.
FILES: dict[str, tuple[Path, str]] = {
    "cap-widget.js": (STATIC, "text/javascript; charset=utf-8"),
    "cap-session.js": (STATIC, "text/javascript; charset=utf-8"),
    "cap-widget.css": (STATIC, "text/css; charset=utf-8"),
    "react/CapWidget.jsx": (REACT, "text/javascript; charset=utf-8"),
}

router = APIRouter(tags=["widget"])


def _file(name: str) -> Response:
    folder, media_type = FILES[name]
    body = (folder / Path(name).name).read_bytes()
    response = Response(body, media_type=media_type)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return allow_any_origin(response)


@router.get("/widget/cap-widget.js", include_in_schema=False)
async def widget_script() -> Response:
    return _file("cap-widget.js")


@router.get("/widget/cap-session.js", include_in_schema=False)
async def session_script() -> Response:
    return _file("cap-session.js")


@router.get("/widget/cap-widget.css", include_in_schema=False)
async def widget_style() -> Response:
    return _file("cap-widget.css")


@router.get("/widget/react/CapWidget.jsx", include_in_schema=False)
async def react_wrapper() -> Response:
    return _file("react/CapWidget.jsx")


def page_origin(request: Request) -> str | None:
    """The origin of the page asking. Browsers send no ``Origin`` on a same-origin
    GET (the Fetch standard) but do send ``Sec-Fetch-Site: same-origin``: the page
    is then one of this server's own, at the address it was reached by."""
    origin = request.headers.get("origin")
    if origin is None and request.headers.get("sec-fetch-site") == "same-origin":
        return f"{request.url.scheme}://{request.url.netloc}"
    return origin


@router.get(
    "/v1/widget/config",
    response_model=WidgetConfig,
    responses={403: {}, 404: {}, 409: {}},
    summary="Widget defaults",
)
async def widget_config(
    request: Request,
    response: Response,
    agent: str = Query(min_length=1, max_length=128),
    key: str = Query(min_length=1, max_length=MAX_KEY_CHARS),
) -> WidgetConfig | Response:
    allow_any_origin(response)
    app = request.app
    try:
        spec = await widget_admitter(app).admit(key, agent, page_origin(request))
    except WidgetRejected as rejected:
        body = {"error": {"code": rejected.code, "message": rejected.message}}
        return allow_any_origin(JSONResponse(body, status_code=rejected.status))
    return WidgetConfig(
        agent=spec.id,
        title=spec.name,
        greeting=spec.greeting,
        ice_servers=ice_servers(app.state.settings),
    )


@router.get("/widget/demo", response_class=HTMLResponse, summary="Widget demo page")
async def demo(request: Request) -> HTMLResponse:
    keys = widget_keys(request.app)
    if not isinstance(keys, SettingsWidgetKeys):
        raise HTTPException(404, "the demo page needs settings-derived widget keys")
    page = (STATIC / "demo.html").read_text(encoding="utf-8")
    page = page.replace("{{AGENT}}", html.escape(DEMO_AGENT, quote=True))
    page = page.replace("{{KEY}}", html.escape(keys.key_for(DEMO_AGENT), quote=True))
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
