#!/usr/bin/env bash
# Install and serve the API with the example workflows on the embedded default
# (SQLite file ./conveyor.db, in-process bus). Extra arguments go to `conveyor serve`.
source "$(dirname "$0")/bootstrap.sh"
exec python3 -m uv run --frozen conveyor serve "$@"
