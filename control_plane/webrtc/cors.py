"""CORS for the endpoints a widget on another site calls.

Widget requests carry a publishable key in the body and no cookies, so any
origin may call them; the key, with its allowed origins (checked against the
request's Origin header), is the check.
Only these routes get the headers: the rest of the API keeps its own policy.
"""

from __future__ import annotations

from fastapi import Response

PREFLIGHT_MAX_AGE = 600


def allow_any_origin(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Vary"] = "Origin"
    return response


def preflight(methods: str) -> Response:
    response = Response(status_code=204)
    response.headers["Access-Control-Allow-Methods"] = methods
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return allow_any_origin(response)
