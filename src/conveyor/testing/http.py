"""`LocalServer`: serve an ASGI app on a real 127.0.0.1 port inside the test's event
loop — for WebSocket and HTTP tests with real clients, and for fakes of external
services that must speak the real protocol."""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType
from typing import Any, Literal, Self

import uvicorn


class LocalServer:
    """uvicorn on a free loopback port, started and stopped with the test.

    Args:
        app: the ASGI application.
        lifespan: "on" to run the app's lifespan (startup/shutdown), "off" not to.
        send_buffer_bytes: a small fixed socket send buffer (accepted connections
            inherit it), so a client that stops reading stalls writes quickly.
        **options: more `uvicorn.Config` options.
    """

    def __init__(
        self,
        app: Any,
        *,
        lifespan: Literal["on", "off"] = "off",
        send_buffer_bytes: int | None = None,
        **options: Any,
    ) -> None:
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto
        # says TCP; without it every keep-alive response waits ~40 ms for the
        # client's delayed ACK (Nagle).
        self._sock = socket.socket(
            socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
        )
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if send_buffer_bytes is not None:
            self._sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes
            )
        self._sock.bind(("127.0.0.1", 0))  # the port is ours before uvicorn starts
        self.port: int = self._sock.getsockname()[1]
        options.setdefault("log_level", "warning")
        options.setdefault("timeout_graceful_shutdown", 5)
        config = uvicorn.Config(app, log_config=None, lifespan=lifespan, **options)
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str = "") -> str:
        """`ws://127.0.0.1:PORT` followed by `path`."""
        return f"ws://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        """Serve until `aclose`; returns once the server accepts connections."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # it could not start: say why
                raise RuntimeError("the server stopped before it started")
            await asyncio.sleep(0.005)

    async def aclose(self) -> None:
        """Shut down gracefully (open connections are closed) and free the port."""
        self._server.should_exit = True
        if self._task is not None:
            await self._task
            self._task = None
        self._sock.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
