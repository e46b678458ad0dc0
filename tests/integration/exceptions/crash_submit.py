"""An API process that dies between storing a report and publishing it.

Run by `test_outbox_no_loss_on_crash`: it stores one report through the
platform (the Intake run, its first event and its dispatch message, in one
commit), and SIGKILLs itself at the moment the dispatch would be published.
It prints the exception id first.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from conveyor import Conveyor, Settings
from conveyor_apps.exceptions import normalize, parse_report
from conveyor_apps.exceptions.mount import register
from conveyor_apps.exceptions.platform import exception_id_for


async def main() -> None:
    tenant = os.environ["CRASH_TENANT"]
    body = {
        "source": "billing",
        "kind": "nightly_batch_failed",
        "message": os.environ["CRASH_MESSAGE"],
        "occurred_at": "2025-03-01T10:00:00+00:00",
        "attributes": {"job_id": "job-9"},
    }
    report = parse_report(body)
    exception_id = exception_id_for(tenant, normalize(report, tenant).dedupe_key)
    print(exception_id, flush=True)
    conveyor = Conveyor(settings=Settings(), run_workers=False)
    platform = register(conveyor)
    await conveyor.open()

    async def die(*_: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    conveyor.bus.send_control = die  # type: ignore[method-assign]
    conveyor.bus.dispatch = die  # type: ignore[attr-defined]
    await platform.report(tenant, report)
    sys.exit("the dispatch was never attempted")


asyncio.run(main())
