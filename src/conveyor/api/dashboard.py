"""The dashboard at `/`: one static page (no build step) listing recent runs and
following a run's events live over its WebSocket."""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

# the page loads only its own script and talks only to this server
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    "connect-src 'self' ws: wss:; img-src 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


@functools.cache
def _asset(name: str) -> str:
    return resources.files("conveyor.api").joinpath("static", name).read_text("utf-8")


@router.get("/")
async def dashboard() -> HTMLResponse:
    """The dashboard page."""
    return HTMLResponse(
        _asset("dashboard.html"), headers={"Content-Security-Policy": _POLICY}
    )


@router.get("/dashboard.js")
async def dashboard_script() -> Response:
    """The dashboard's script."""
    return Response(
        _asset("dashboard.js"),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )
