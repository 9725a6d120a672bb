# Shared set-up for scripts/demo and scripts/test: a virtualenv in .venv, reused when present,
# (re)installed only when pyproject.toml changed. pip's download cache stays on, so a fresh clone
# reuses the large torch wheel instead of downloading it again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${WARDEN_PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV="$ROOT/.venv"
STAMP="$VENV/.warden-install-stamp"
want="$( (cat pyproject.toml; "$PY" -V) | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv in .venv ($("$PY" -V))"
  "$PY" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "==> installing warden and its dependencies (torch is a large first download; pip's cache keeps it)"
  "$VENV/bin/python" -m pip install -q --upgrade pip wheel setuptools
  "$VENV/bin/python" -m pip install -q -e ".[test,embeddings]"
  echo "$want" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
