"""The `Runner` interface: whoever executes runs — local asyncio tasks in embedded
mode, `conveyor worker` processes in distributed mode, Temporal workers."""

from __future__ import annotations

import abc
import contextlib
from typing import ClassVar

from ..runs import RunRecord


class Runner(abc.ABC):
    """Executes submitted runs, keeping per-key order and concurrency limits."""

    local_submissions: ClassVar[bool] = True
    """Runs submitted in this process execute here, created already owned; False
    when every run is dispatched through the bus (distributed workers)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Start accepting work (and recover what a previous process left)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop; runs in flight stay owned until their lease expires or are
        recovered by the next process."""

    @abc.abstractmethod
    def submit(self, run: RunRecord) -> None:
        """Queue a stored run for execution."""

    @abc.abstractmethod
    async def cancel(self, run_id: str) -> bool:
        """Ask a run executing here to stop; False if it does not execute here."""

    @abc.abstractmethod
    def notify_signal(self, run_id: str) -> None:
        """Wake a run executing here that may be waiting for a signal."""

    @property
    @abc.abstractmethod
    def owns_instance(self) -> bool:
        """Whether this runner holds the store exclusively (embedded mode), so it
        may take over any lease without waiting for it to expire."""

    def waiting(self, run_id: str) -> contextlib.AbstractContextManager[None]:
        """Around a run's wait on a timer, a signal or a child run: a runner that
        bounds how many runs execute at once does not count it meanwhile (a
        parent waiting on children must not keep them from starting)."""
        return contextlib.nullcontext()
