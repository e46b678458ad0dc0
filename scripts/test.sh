#!/usr/bin/env bash
# Install everything and run the whole suite: lint, types, tests with coverage.
# Tests start their own servers (PostgreSQL, NATS, Temporal from pip wheels).
source "$(dirname "$0")/bootstrap.sh"
run() { python3 -m uv run --frozen "$@"; }
run ruff check .
run ruff format --check .
run mypy
run pytest --cov --cov-branch --cov-report=term:skip-covered -p no:cacheprovider "$@"
