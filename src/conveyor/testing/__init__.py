"""The test kit: a virtual clock, fake agents and fault injection, event assertions,
waiting helpers, real-server fixtures and the store conformance suite.

It is a pytest plugin (loaded automatically once conveyor is installed); see
docs/testing.md.
"""

from __future__ import annotations

from .assertions import EventCapture as EventCapture
from .assertions import assert_events as assert_events
from .assertions import stored_events as stored_events
from .assertions import wait_until as wait_until
from .clock import VirtualClock as VirtualClock
from .conformance import StoreConformance as StoreConformance
from .faults import Call as Call
from .faults import Crash as Crash
from .faults import Delay as Delay
from .faults import FailNth as FailNth
from .faults import FailTimes as FailTimes
from .faults import FakeAgent as FakeAgent
from .faults import Fault as Fault
from .faults import Hang as Hang
from .faults import InjectedError as InjectedError
from .faults import Raise as Raise
from .faults import paused_heartbeats as paused_heartbeats
from .http import LocalServer as LocalServer

__all__ = [
    "Call",
    "Crash",
    "Delay",
    "EventCapture",
    "FailNth",
    "FailTimes",
    "FakeAgent",
    "Fault",
    "Hang",
    "InjectedError",
    "LocalServer",
    "Raise",
    "StoreConformance",
    "VirtualClock",
    "assert_events",
    "paused_heartbeats",
    "stored_events",
    "wait_until",
]
