"""`python -m conveyor.cli`: the same as the `conveyor` script."""

from __future__ import annotations

from . import main

main()
