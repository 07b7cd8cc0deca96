#!/usr/bin/env bash
# The main job: set up .venv with only what the service needs (`scripts/setup.sh run`: the
# `service` extra; no browser, database server, npm or dev tool), then run the blob service
# on its embedded SQLite default. Extra arguments go to invitekit-service (see
# `invitekit-service --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
mkdir -p var
exec .venv/bin/invitekit-service --host 127.0.0.1 --port 8080 \
  --database "sqlite:///$(pwd)/var/invitekit.sqlite3" "$@"
