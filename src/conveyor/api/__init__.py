"""The HTTP API: a FastAPI app serving runs, event streams (SSE and WebSocket), dead
letters, health probes, Prometheus metrics and a small dashboard."""

from __future__ import annotations

from .app import create_app as create_app

__all__ = ["create_app"]
