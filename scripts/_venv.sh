# Sourced by the scripts here: make ./.venv with the project installed (idempotent, quiet).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)-${1:-base}
if [ ! -e "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ "${1:-base}" = test ]; then
    .venv/bin/python -m pip install -q -e ".[test]"
  elif [ "${1:-base}" = postgresql ]; then
    .venv/bin/python -m pip install -q -e ".[postgresql]"
  else
    .venv/bin/python -m pip install -q -e .
  fi
  touch "$stamp"
fi
