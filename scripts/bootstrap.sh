# Sourced by the other scripts: make sure uv is available and the locked
# environment is installed. Needs only python3 (3.11+) and the package index.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! python3 -m uv --version >/dev/null 2>&1; then
  echo "installing uv with pip..." >&2
  python3 -m pip install --quiet uv 2>/dev/null || python3 -m pip install --quiet --user uv
fi
uv() { python3 -m uv "$@"; }
uv sync --frozen --all-extras --quiet
