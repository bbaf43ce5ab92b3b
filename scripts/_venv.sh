# Sourced by the scripts: make sure .venv exists with the project and its dev tools installed, at
# the versions pinned in scripts/constraints.txt (./scripts/refresh-pins updates them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml scripts/constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c scripts/constraints.txt -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
