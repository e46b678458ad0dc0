"""The planner's page at `/season/`: one static HTML file and one script, no build
step. It streams a run's progress per agent over the WebSocket and draws the plan's
weekly demand curve as an SVG chart."""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

PAGE_PATH = "/season/"

router = APIRouter(include_in_schema=False)

# the page loads only its own script and talks only to this server
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    "connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; "
    "frame-ancestors 'none'"
)


@functools.cache
def asset(name: str) -> str:
    """The text of a file in the package's `static/` folder."""
    folder = resources.files("conveyor_apps.season").joinpath("static")
    return folder.joinpath(name).read_text("utf-8")


@router.get("/season")
async def page_redirect() -> RedirectResponse:
    """The page lives at `/season/` (its script is relative to it)."""
    return RedirectResponse(PAGE_PATH, status_code=308)


@router.get(PAGE_PATH)
async def page() -> HTMLResponse:
    """The season planning page."""
    return HTMLResponse(
        asset("season.html"), headers={"Content-Security-Policy": _POLICY}
    )


@router.get(PAGE_PATH + "season.js")
async def script() -> Response:
    """The page's script."""
    return Response(
        asset("season.js"),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )
