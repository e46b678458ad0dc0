#!/usr/bin/env bash
# Install everything and run the whole suite: lint, types, tests with coverage.
# Tests start their own servers (PostgreSQL, NATS, Temporal from pip wheels).
source "$(dirname "$0")/bootstrap.sh"
run() { python3 -m uv run --frozen "$@"; }
# The browser tests drive Debian's chromium (Playwright needs no download of its
# own); install it when missing (CI runs as root on Debian).
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium for the browser tests..." >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
run ruff check .
run ruff format --check .
run mypy
run pytest --cov --cov-branch --cov-report=term:skip-covered -p no:cacheprovider "$@"
