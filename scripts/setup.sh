#!/usr/bin/env bash
# Create .venv and install invitekit with everything its tests need. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'

# --- PostgreSQL server binaries for the PostgreSQL backend's tests and benchmarks -----------
# (tests/service/pg_local.py starts a private server from them; apt-get when missing)
scripts/setup-postgres.sh >/dev/null
