"""Document uploads have their own body cap, above the API's general one."""

from __future__ import annotations

from control_plane.api.limits import BodySizeLimit
from control_plane.platform import UPLOAD_MAX_BYTES


async def _app(scope: object, receive: object, send: object) -> None:
    return None


def test_upload_route_gets_the_larger_limit_and_nothing_else_does() -> None:
    limit = BodySizeLimit(
        _app,  # type: ignore[arg-type]
        max_bytes=1024,
        larger=((r"/v1/knowledge-bases/[^/]+/documents", UPLOAD_MAX_BYTES),),
    )
    assert limit.limit_for("/v1/knowledge-bases/kb1/documents") == UPLOAD_MAX_BYTES
    assert limit.limit_for("/v1/knowledge-bases/kb1/documents/x") == 1024
    assert limit.limit_for("/v1/knowledge-bases/kb1/search") == 1024
    assert limit.limit_for("/v1/agents") == 1024
