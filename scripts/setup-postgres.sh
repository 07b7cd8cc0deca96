#!/usr/bin/env bash
# Make sure the PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) are on this
# machine: the test suite and the benchmarks start a private server from them (see
# tests/integration/service/pg_local.py). Installs Debian's `postgresql` package when they are missing.
# The package's own cluster (if the package starts one) is not used. Idempotent; prints
# the bin directory.
set -euo pipefail

find_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
      echo "$dir"
      return 0
    fi
  done
  if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
    return 0
  fi
  return 1
}

if ! bindir=$(find_bindir); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-postgres: PostgreSQL server binaries are missing; install Debian's" \
         "'postgresql' package (as root: apt-get install postgresql)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 postgresql >/dev/null
  bindir=$(find_bindir)
fi
echo "$bindir"
