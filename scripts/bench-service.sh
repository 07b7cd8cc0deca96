#!/usr/bin/env bash
# Blob-service benchmark: head GET beside nginx (same bytes, static file) and durable upload
# throughput, all on 127.0.0.1, each measurement bounded (default 10 s). Installs nginx and
# wrk from Debian packages when missing. Extra arguments go to bench/bench_service.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null || ! { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; }; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
fi
scripts/setup.sh test  # idempotent; adds the dev extra to a .venv that scripts/run.sh made
echo "nproc: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
exec .venv/bin/python bench/bench_service.py "$@"
