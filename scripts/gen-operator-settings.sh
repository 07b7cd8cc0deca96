#!/usr/bin/env bash
# Regenerate docs/operator-settings.md from the service's settings model (a test keeps them equal).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PYTHONPATH="$PWD:$PWD/service${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m invitekit_service.reference docs/operator-settings.md
