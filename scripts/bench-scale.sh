#!/usr/bin/env bash
# Storage scale benchmark (bench/bench_scale.py): head GETs at 1k vs 1M slots, durable uploads
# on SQLite and PostgreSQL (1, 2, 4 workers), uploads while GC sweeps 1M expired blobs.
# Installs wrk and the PostgreSQL server binaries when missing; all traffic on 127.0.0.1,
# every measurement bounded. Usage: scripts/bench-scale.sh head|uploads|gc [options]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
scripts/setup.sh test  # idempotent; adds the dev extra to a .venv that scripts/run.sh made
scripts/setup-postgres.sh >/dev/null
echo "nproc: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
exec .venv/bin/python bench/bench_scale.py "$@"
